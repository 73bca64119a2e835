"""gitops.ops.breaker: every transition with a fake clock, hypothesis properties, and the replay of
1,000 generated runs (issue 6: chronic package, 6-hour outage, probe rotation)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.config import BREAKER_MAX_WINDOW
from gitops.config import BreakerPolicy as Policy
from gitops.ops import breaker, state
from gitops.ops.breaker import Breaker, Run

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
P = Policy()


def run_of(counted: str, failed: tuple[str, ...] = ()) -> Run:
    return Run(counted, counted.count("P"), counted.count("F"), failed)


def test_breaker_closed_stays_closed_below_min_attempts() -> None:
    b = breaker.record(Breaker(), run_of("FFFF"), T0, P)
    assert b.phase == "closed" and b.window == "FFFF"


def test_breaker_opens_below_threshold_with_enough_attempts() -> None:
    b = breaker.record(Breaker(), run_of("PPFFFF"), T0, P)
    assert b.phase == "open" and b.opened_at == T0 and b.backoff == 0
    assert breaker.admits(b, T0, P) == 0


def test_breaker_exactly_at_threshold_stays_closed() -> None:
    b = breaker.record(Breaker(), run_of("PPPPPFFFFF"), T0, P)
    assert b.phase == "closed"


def test_breaker_window_keeps_only_the_last_attempts() -> None:
    b = breaker.record(Breaker(), run_of("F" * 4 + "P" * 10), T0, P)
    assert b.window == "P" * 10 and b.phase == "closed"


def test_breaker_open_turns_half_open_after_recovery() -> None:
    b = breaker.record(Breaker(), run_of("FFFFF"), T0, P)
    assert breaker.current(b, T0 + timedelta(minutes=59), P).phase == "open"
    half = breaker.current(b, T0 + timedelta(minutes=60), P)
    assert half.phase == "half_open"
    assert breaker.admits(b, T0 + timedelta(minutes=60), P) == 1


def test_breaker_successful_probe_closes_and_clears_the_window() -> None:
    b = breaker.record(Breaker(), run_of("FFFFF"), T0, P)
    b = breaker.record(b, run_of("P"), T0 + timedelta(hours=1), P)
    assert b == Breaker()


def test_breaker_failed_probe_reopens_with_doubling_backoff_capped() -> None:
    b = breaker.record(Breaker(), run_of("FFFFF"), T0, P)
    now = T0
    delays = []
    for _ in range(7):
        at = breaker.recovers_at(b, P)
        assert at is not None
        delays.append(at - now)
        now = at
        b = breaker.record(b, run_of("F", ("pkg",)), now, P)
        assert b.phase == "open" and b.opened_at == now
    hours = [d / timedelta(hours=1) for d in delays]
    assert hours == [1, 2, 4, 8, 16, 24, 24]


def test_breaker_probe_with_only_package_failures_stays_half_open_and_rotates() -> None:
    b = breaker.record(Breaker(), run_of("FFFFF"), T0, P)
    later = T0 + timedelta(hours=1)
    b = breaker.record(b, run_of("", ("broken",)), later, P)
    assert b.phase == "half_open" and b.rotation == ("broken",)
    assert breaker.choose_probes(b, ["broken", "ok"], P) == ("ok",)


def test_breaker_ignores_runs_while_open() -> None:
    b = breaker.record(Breaker(), run_of("FFFFF"), T0, P)
    assert breaker.record(b, run_of("PPPPP"), T0 + timedelta(minutes=5), P) == b


def test_breaker_package_categories_do_not_count() -> None:
    run = breaker.counted_run([("a", False, "validation"), ("b", False, "unsupported"),
                               ("c", False, "network"), ("d", True, ""), ("e", False, "")], P)
    assert run.counted == "FPF" and run.failures == 2 and run.passes == 1
    assert run.failed_packages == ("a", "b", "c", "e")


def test_breaker_manual_trip_stays_open_until_reset() -> None:
    b = breaker.trip(Breaker(), "runners down", T0)
    assert breaker.current(b, T0 + timedelta(days=30), P).phase == "open"
    assert breaker.recovers_at(b, P) is None
    assert breaker.reset(b) == Breaker()


def test_breaker_rotation_is_bounded_and_moves_to_the_back() -> None:
    b = Breaker(phase="half_open", opened_at=T0, rotation=("a", "b"))
    b = breaker.record(b, run_of("", ("a",)), T0, P)
    assert b.rotation == ("b", "a")
    many = tuple(f"p{i}" for i in range(200))
    b = breaker.record(b, run_of("", many), T0, P)
    assert len(b.rotation) == breaker.MAX_ROTATION and b.rotation[-1] == "p199"


def test_breaker_spread_interleaves_counts() -> None:
    assert breaker.spread(3, 1) in ("PPPF", "PPFP", "PFPP", "FPPP")
    assert breaker.spread(0, 0) == ""
    s = breaker.spread(500, 500)
    assert len(s) == BREAKER_MAX_WINDOW and s.count("F") == 50


# -- properties -----------------------------------------------------------------------------------

outcome_runs = st.lists(st.text(alphabet="PF", max_size=30), min_size=1, max_size=30)
# fixed_dictionaries, not builds(Policy, ...): builds() would also draw the defaulted fields
policies = st.fixed_dictionaries({
    "threshold": st.floats(0, 1), "window": st.integers(1, 20),
    "min_attempts": st.integers(1, 20), "probes": st.integers(1, 3),
}).map(lambda kw: Policy(**kw))


@settings(max_examples=200, deadline=None)
@given(outcome_runs, policies, st.lists(st.integers(0, 300), min_size=30, max_size=30))
def test_breaker_properties(runs: list[str], p: Policy, gaps: list[int]) -> None:
    b = Breaker()
    now = T0
    for counted, gap in zip(runs, gaps, strict=False):
        before = breaker.current(b, now, p)
        b = breaker.record(b, run_of(counted), now, p)
        # counters never exceed the window
        assert len(b.window) <= p.window
        # half-open always leads to closed or open once a counted attempt is seen
        if before.phase == "half_open" and counted:
            assert b.phase in ("closed", "open")
            assert b.phase != "half_open"
        # an open breaker admits nothing before its recovery time
        if b.phase == "open":
            at = breaker.recovers_at(b, p)
            assert at is not None and at > now
            assert breaker.admits(b, at - timedelta(seconds=1), p) == 0
        now += timedelta(minutes=gap)


# -- replay: 1,000 generated runs -----------------------------------------------------------------

PACKAGES = tuple(f"pkg{i:02d}" for i in range(20))


def _run(rng: random.Random, b: Breaker, now: datetime, *, outage: bool, chronic: str,
         hammered: list[str]) -> Run:
    """One CI run as a pipeline would do it: the gate's admission, then the packages' results."""
    allowance = breaker.admits(b, now, P)
    if allowance == 0:
        return Run("", 0, 0)
    if allowance > 0:
        packages = list(breaker.choose_probes(breaker.current(b, now, P), PACKAGES, P))
        hammered.extend(packages)
    else:
        packages = rng.sample(PACKAGES, 8)
    rows = []
    for pkg in packages:
        if outage:
            rows.append((pkg, False, "network"))
        elif pkg == chronic:
            rows.append((pkg, False, "validation"))
        else:
            rows.append((pkg, rng.random() > 0.02, "timeout"))
    return breaker.counted_run(rows, P)


def test_breaker_replay_chronic_package_outage_and_probe_rotation() -> None:
    rng = random.Random(6)  # noqa: S311 - a reproducible simulation, not a secret
    b = Breaker()
    # the chronic package fails in every run it is in; runs every 10 minutes
    chronic = "pkg00"
    outage_start, outage_end = 400, 436  # 36 runs x 10 min = 6 hours
    opened_in_outage = closed_after = None
    probes_after_outage = 0
    hammered: list[str] = []
    for i in range(1000):
        now = T0 + timedelta(minutes=10 * i)
        outage = outage_start <= i < outage_end
        before = breaker.current(b, now, P)
        b = breaker.record(b, _run(rng, b, now, outage=outage, chronic=chronic,
                                   hammered=hammered), now, P)
        if i < outage_start:
            assert b.phase == "closed", f"run {i}: the chronic package must not trip it"
        if outage and b.phase == "open" and opened_in_outage is None:
            opened_in_outage = i
        if i >= outage_end and closed_after is None:
            if before.phase == "half_open":
                probes_after_outage += 1
            if b.phase == "closed":
                closed_after = i
        # the state stays bounded all along
        assert len(b.window) <= P.window and len(b.rotation) <= breaker.MAX_ROTATION
    assert opened_in_outage is not None and opened_in_outage < outage_end
    assert closed_after is not None and 1 <= probes_after_outage <= 3
    assert b.phase == "closed"
    # probes rotated: never the same package twice in a row
    assert all(a != c for a, c in itertools.pairwise(hammered))


def test_breaker_state_round_trips_through_state_toml() -> None:
    b = Breaker("open", "PFFFF", T0, 2, ("a", "b"), "")
    s = state.State(seq=3, breakers={"homebrew": b})
    assert state.loads(state.dumps(s), "t").breakers == {"homebrew": b}
