"""Pure state machine of the ops branch: transitions, decisions, TOML and message round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.errors import StateCorrupt, UsageError
from gitops.ops import state
from gitops.ops.state import LandOp, Pause, PauseOp, ReserveIdOp, ResumeOp, State

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ECOS = ("homebrew", "cargo", "npm")
OID = "a" * 40


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- transitions and decisions --------------------------------------------------------------------


def test_apply_global_stop_blocks_every_stage() -> None:
    s = state.apply(State(), PauseOp((), "stop", "bad validation", "https://inc/1"), T0)
    assert s.seq == 1 and s.global_pause == Pause("stop", "bad validation", "https://inc/1", T0,
                                                  None, 1)
    for stage in state.STAGES:
        d = state.decide(s, "cargo", stage, at(1))
        assert not d.can_proceed
        assert "bad validation" in d.reason and "https://inc/1" in d.reason


def test_apply_freeze_blocks_merge_not_generate() -> None:
    s = state.apply(State(), PauseOp(("homebrew",), "freeze", "flaky"), T0)
    assert not state.decide(s, "homebrew", "merge", at(1)).can_proceed
    gen = state.decide(s, "homebrew", "generate", at(1))
    assert gen.can_proceed and "frozen" in gen.reason
    assert state.decide(s, "cargo", "merge", at(1)).can_proceed


def test_decide_global_pause_wins_over_running_ecosystem() -> None:
    s = state.apply(State(), PauseOp((), "freeze", "global freeze"), T0)
    s = state.apply(s, PauseOp(("cargo",), "stop", "cargo down"), at(1))
    d = state.decide(s, "cargo", "merge", at(2))
    assert not d.can_proceed
    assert [scope for scope, _p in d.blockers] == ["global", "cargo"]
    assert not state.decide(s, "cargo", "generate", at(2)).can_proceed  # stop wins
    assert state.decide(s, "npm", "generate", at(2)).can_proceed


def test_until_expires_by_itself_at_read_time() -> None:
    s = state.apply(State(), PauseOp(("npm",), "stop", "r", until=at(60)), T0)
    assert not state.decide(s, "npm", "generate", at(59)).can_proceed
    later = state.decide(s, "npm", "generate", at(60))
    assert later.can_proceed and "expired" in later.reason
    assert later.expired[0][0] == "npm"


def test_apply_unchanged_returns_the_same_state() -> None:
    s = state.apply(State(), PauseOp(("npm",), "stop", "r"), T0)
    assert state.apply(s, PauseOp(("npm",), "stop", "r"), at(5)) is s  # same pause again
    assert state.apply(s, ResumeOp(("cargo",)), at(5)) is s  # nothing to resume
    assert state.apply(State(), ResumeOp(()), T0) == State()
    changed = state.apply(s, PauseOp(("npm",), "stop", "other reason"), at(5))
    assert changed.seq == 2 and changed.ecosystems["npm"].since == at(5)


def test_reserve_ids_count_per_day_and_respect_the_base_floor() -> None:
    s = state.apply(State(), ReserveIdOp(), T0)
    s = state.apply(s, ReserveIdOp("cargo"), at(1))
    assert s.ids == {"2026-03-01": 2}
    s2 = state.apply(s, ReserveIdOp(floor=7), at(2))
    assert state.reserved_sequence(s, s2, at(2)) == 8
    s3 = state.apply(s2, ReserveIdOp(), at(24 * 60))
    assert s3.ids["2026-03-02"] == 1 and s3.ids["2026-03-01"] == 8


def test_land_is_a_union_and_idempotent() -> None:
    b = "b" * 40
    s = state.apply(State(), LandOp("2026-03-01-001", (b, OID)), T0)
    assert s.landings["2026-03-01-001"] == (OID, b)
    assert state.apply(s, LandOp("2026-03-01-001", (OID,)), at(1)) is s


def test_apply_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        state.apply(State(), ReserveIdOp(), datetime(2026, 3, 1))  # noqa: DTZ001


# -- input checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("90m", at(90)), ("4h", at(240)), ("2d", at(2 * 1440)), ("1w", at(7 * 1440)),
    ("2026-03-01T14:00Z", at(120)), ("2026-03-01T15:00:00+01:00", at(120)),
])
def test_parse_until_accepts_times_and_durations(text: str, expected: datetime) -> None:
    assert state.parse_until(text, T0) == expected


@pytest.mark.parametrize(("text", "needle"), [
    ("2026-02-01T00:00Z", "not in the future"), ("0m", "not in the future"),
    ("2026-03-02T10:00", "no time zone"), ("tomorrow", "neither a time nor a duration"),
    ("", "neither a time nor a duration"),
])
def test_parse_until_refuses_past_naive_and_garbage(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        state.parse_until(text, T0)


def test_check_ecosystems_names_the_known_ones() -> None:
    assert state.check_ecosystems(["npm", "npm", "cargo"], ECOS) == ("npm", "cargo")
    with pytest.raises(UsageError) as err:
        state.check_ecosystems(["rubygems"], ECOS)
    assert "rubygems" in err.value.message and "homebrew, cargo, npm" in str(err.value.hint)


@pytest.mark.parametrize("bad", ["two\nlines", "tab\there", "x" * 501])
def test_check_text_refuses_control_characters_and_long_text(bad: str) -> None:
    with pytest.raises(UsageError):
        state.check_text("--reason", bad, required=True)
    with pytest.raises(UsageError, match="must not be empty"):
        state.check_text("--reason", "  ", required=True)


# -- state.toml -----------------------------------------------------------------------------------

times = st.integers(min_value=0, max_value=10**6).map(at)
one_line = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                   max_size=30).map(str.strip).filter(bool)
no_space = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=":/.-"),
                   min_size=1, max_size=20)


@st.composite
def pauses(draw: st.DrawFn, seq: int) -> Pause:
    since = draw(times)
    until = draw(st.none() | st.integers(1, 10**5).map(lambda m: since + timedelta(minutes=m)))
    return Pause(draw(st.sampled_from(state.LEVELS)), draw(one_line),
                 draw(st.just("") | no_space), since, until, draw(st.integers(0, seq)))


@st.composite
def states(draw: st.DrawFn) -> State:
    seq = draw(st.integers(0, 1000))
    glob = draw(st.none() | pauses(seq))
    ecos = draw(st.dictionaries(st.sampled_from(ECOS), pauses(seq), max_size=3))
    ids = draw(st.dictionaries(times.map(lambda t: t.date().isoformat()), st.integers(1, 999),
                               max_size=3))
    oids = st.text("0123456789abcdef", min_size=40, max_size=40)
    landings = draw(st.dictionaries(st.from_regex(r"2026-0[1-9]-[0-2][0-9]-00[1-9]",
                                                  fullmatch=True),
                                    st.lists(oids, min_size=1, max_size=3, unique=True).map(
                                        lambda x: tuple(sorted(x))), max_size=3))
    return State(seq, glob, ecos, ids, landings)


@settings(deadline=None)
@given(states())
def test_toml_round_trip_and_determinism(s: State) -> None:
    data = state.dumps(s)
    assert state.loads(data, "test") == s
    reordered = State(s.seq, s.global_pause, dict(reversed(list(s.ecosystems.items()))),
                      dict(reversed(list(s.ids.items()))),
                      dict(reversed(list(s.landings.items()))))
    assert state.dumps(reordered) == data


@pytest.mark.parametrize(("text", "needle"), [
    ("schema_version = 1\nseq = [", "not a valid ops state"),
    ("schema_version = 3\nseq = 0\n", "newer git-batch"),
    ("seq = 0\n", "'schema_version' is missing"),
    ("schema_version = 1\nseq = 0\nextra = 1\n", "unknown key 'extra'"),
    ("schema_version = 1\nseq = 1\n[pause.global]\nlevel = 'halt'\nreason = 'r'\n"
     "since = '2026-03-01T12:00:00Z'\nseq = 1\n", "'pause.global.level' must be one of"),
    ("schema_version = 1\nseq = 1\n[pause.ecosystems.npm]\nlevel = 'stop'\nreason = 'r'\n"
     "since = 'yesterday'\nseq = 1\n", "pause.ecosystems.npm.since"),
    ("schema_version = 1\nseq = 0\n[pause.ecosystems.npm]\nlevel = 'stop'\nreason = 'r'\n"
     "since = '2026-03-01T12:00:00Z'\nseq = 3\n", "after the state's seq"),
    ("schema_version = 1\nseq = 0\n[landings]\nx = ['abc']\n", "full commit ids"),
    ("schema_version = 1\nseq = 0\n[ids]\ntoday = 1\n", "is not a day"),
])
def test_loads_names_the_place_and_the_problem(text: str, needle: str) -> None:
    with pytest.raises(StateCorrupt) as err:
        state.loads(text.encode(), "batch-ops at 0123456789")
    assert err.value.message.startswith("batch-ops at 0123456789: state.toml")
    assert needle in err.value.message


# -- commit messages and serial replay ------------------------------------------------------------

eco_sets = st.lists(st.sampled_from(ECOS), unique=True, max_size=3).map(tuple)
operations = st.one_of(
    st.builds(PauseOp, eco_sets, st.sampled_from(state.LEVELS), one_line,
              st.just("") | no_space,
              st.none() | st.integers(1, 10**4).map(lambda m: at(10**6 + m))),
    st.builds(ResumeOp, eco_sets, st.just("") | one_line),
    st.builds(ReserveIdOp, st.just("") | st.sampled_from(ECOS), st.integers(0, 50)),
    st.builds(LandOp, st.sampled_from(["2026-03-01-001", "2026-03-01-002"]),
              st.lists(st.sampled_from([OID, "b" * 40, "c" * 40]), min_size=1, unique=True)
              .map(lambda x: tuple(sorted(x)))),
)


@settings(deadline=None)
@given(operations)
def test_format_and_parse_round_trip(op: state.Operation) -> None:
    message = state.format_message(op, reserved_id="2026-03-01-004", op_id="0123abcd")
    assert state.parse_op(message) == op
    assert message.endswith("Op-Id: 0123abcd\n")
    subject = message.split("\n", 1)[0]
    assert subject and not subject.endswith(" ")


def test_parse_op_of_foreign_messages_is_none() -> None:
    assert state.parse_op("just a commit\n") is None
    assert state.parse_op("x\n\nOp: frobnicate\n") is None
    assert state.parse_op("x\n\nOp: pause\nLevel: halt\n") is None
    assert state.parse_op(state.format_init()) == state.INIT
    assert state.parse_op(state.format_init(op_id="ab12")) == state.INIT


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(operations, st.integers(0, 3000)), max_size=25))
def test_serial_replay_of_the_messages_equals_the_state(steps: list[tuple[state.Operation, int]]
                                                       ) -> None:
    """What the ops history records (message + commit time) replays to the state it reached."""
    current = State()
    history: list[tuple[state.Operation, datetime]] = []
    minute = 0
    for op, step in steps:
        minute += step
        now = at(minute)
        new = state.apply(current, op, now)
        if new is current:
            continue  # unchanged: never committed
        parsed = state.parse_op(state.format_message(op, reserved_id="x"))
        assert isinstance(parsed, PauseOp | ResumeOp | ReserveIdOp | LandOp)
        history.append((parsed, now))
        assert state.loads(state.dumps(new), "t") == new
        current = new
    assert state.replay(history) == current
    assert current.seq == len(history)
