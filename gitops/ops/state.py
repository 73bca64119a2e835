"""Pure: the ops-branch state, its operations, their commit messages and deterministic TOML.

The state is what the tip of the ops branch holds in `state.toml`: pauses (global and per
ecosystem), the last batch-id sequence reserved per day, and recorded landings. An operation is a
frozen dataclass and `apply(state, op, now)` is the whole transition, so a writer that lost a race
re-applies the *operation* to the new tip rather than its file (DESIGN.md "Ops branch: the
rules"). Each commit message carries its operation in trailers (`format_message` and `parse_op`
round-trip), so the ops history replays to the tip's state: `replay(history) == tip`.

Issue 6 adds the automatic controls (schema_version 2; version 1 documents still load): one
circuit breaker per ecosystem (gitops/ops/breaker.py), hourly outcome buckets per ecosystem for the
SLOs and hourly CI minutes per platform for the budget (gitops/ops/budget.py), only as far back as
their windows need (RETENTION), so the state stays bounded; the full history is the ops log.

Nothing here reads the clock, the environment, files or git: callers pass `now`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import tomli_w

from gitops.config import BREAKER_MAX_WINDOW, BreakerPolicy
from gitops.errors import StateCorrupt, UsageError
from gitops.ops import breaker
from gitops.ops.breaker import Breaker

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no controls; it is read as such
RETENTION = timedelta(days=8)  # outcome and minute buckets kept: the 7-day windows + 1 day
STATE_FILE = "state.toml"
LEVELS = ("freeze", "stop")  # freeze: no merges; stop: nothing runs
STAGES = ("generate", "merge")
GLOBAL = "global"  # the scope name of the global pause in messages and documents

# Trailer keys of ops commits; defined only here.
OP = "Op"
ECOSYSTEM = "Ecosystem"
LEVEL = "Level"
INCIDENT = "Incident"
UNTIL = "Until"
BATCH_ID = "Batch-Id"
LANDED_COMMIT = "Landed-Commit"
ID_FLOOR = "Id-Floor"
OP_ID = "Op-Id"  # random per operation: two writers never produce the same commit object
PASSED = "Passed"
FAILED = "Failed"
SKIPPED = "Skipped"
COUNTED = "Counted"  # "<counted passes>/<counted failures> <last outcomes>" for the breaker
FAILED_PACKAGE = "Failed-Package"
MINUTES = "Minutes"  # "<platform>=<minutes>"
ACTION = "Action"  # breaker reset / trip
_TRAILER_KEYS = frozenset({OP, ECOSYSTEM, LEVEL, INCIDENT, UNTIL, BATCH_ID, LANDED_COMMIT,
                           ID_FLOOR, OP_ID, PASSED, FAILED, SKIPPED, COUNTED, FAILED_PACKAGE,
                           MINUTES, ACTION})
MAX_FAILED_NAMES = 20  # failed packages a record carries (for probe rotation)
BREAKER_ACTIONS = ("reset", "trip")
_PACKAGE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")

MAX_TEXT = 500  # reasons and incident references: one line, bounded
_HEADER = "# git-batch ops state: written by `git batch`; every change is a signed commit.\n"
_OID = re.compile(r"^[0-9a-f]{40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- data -----------------------------------------------------------------------------------------


class Pause(NamedTuple):
    level: str  # "freeze" or "stop"
    reason: str
    incident: str  # "" when none was given
    since: datetime
    until: datetime | None  # expires by itself at this time (checked when read)
    seq: int  # the operation that set it: the commit `seq` operations after the root

    def is_active(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def blocks(self, stage: str) -> bool:
        return self.level == "stop" or stage == "merge"


class State(NamedTuple):
    seq: int = 0  # operations applied since the root commit
    global_pause: Pause | None = None
    ecosystems: Mapping[str, Pause] = dict()
    ids: Mapping[str, int] = dict()  # UTC day -> last sequence reserved
    landings: Mapping[str, tuple[str, ...]] = dict()  # id -> commit ids
    breakers: Mapping[str, Breaker] = dict()  # only non-default ones
    # ecosystem -> hour (UTC) -> (passed, failed); platform -> hour -> CI minutes
    outcomes: Mapping[str, Mapping[datetime, tuple[int, int]]] = dict()
    minutes: Mapping[str, Mapping[datetime, int]] = dict()

    def breaker_of(self, ecosystem: str) -> Breaker:
        return self.breakers.get(ecosystem, Breaker())

    def pause_of(self, scope: str) -> Pause | None:
        return self.global_pause if scope == GLOBAL else self.ecosystems.get(scope)


class PauseOp(NamedTuple):
    ecosystems: tuple[str, ...]  # () pauses everything
    level: str
    reason: str
    incident: str = ""
    until: datetime | None = None


class ResumeOp(NamedTuple):
    ecosystems: tuple[str, ...]  # () lifts the global pause
    reason: str = ""


class ReserveIdOp(NamedTuple):
    ecosystem: str = ""
    floor: int = 0  # highest sequence of today already used on the base branch


class LandOp(NamedTuple):
    batch_id: str
    commits: tuple[str, ...]  # full commit ids on the base branch


class RecordOp(NamedTuple):
    """The results of one CI run of an ecosystem."""

    ecosystem: str
    passed: int
    failed: int
    skipped: int
    run: breaker.Run  # what the breaker counts
    minutes: tuple[tuple[str, int], ...] = ()  # (platform, CI minutes), sorted


class BreakerOp(NamedTuple):
    ecosystem: str
    action: str  # "reset" or "trip"
    reason: str


Operation = PauseOp | ResumeOp | ReserveIdOp | LandOp | RecordOp | BreakerOp
# The Op trailer of each operation's commit.
KINDS: dict[type[Operation], str] = {PauseOp: "pause", ResumeOp: "resume", ReserveIdOp: "id-new",
                                     LandOp: "land", RecordOp: "record", BreakerOp: "breaker"}
PolicyOf = Callable[[str], BreakerPolicy]  # ecosystem -> its breaker policy (from the config)
INIT = "init"  # the Op trailer of the root commit, which holds State()


class Decision(NamedTuple):
    can_proceed: bool
    reason: str  # one line
    blockers: tuple[tuple[str, Pause], ...] = ()  # (scope, pause) that stop this stage
    expired: tuple[tuple[str, Pause], ...] = ()  # pauses that would apply but ran out


# -- transitions ----------------------------------------------------------------------------------


def utc(now: datetime) -> datetime:
    """now in UTC, whole seconds (what a commit date and state.toml can hold)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware time (UTC)")
    return now.astimezone(UTC).replace(microsecond=0)


def day_of(now: datetime) -> str:
    return utc(now).date().isoformat()


def _default_policy(_ecosystem: str) -> BreakerPolicy:
    return BreakerPolicy()


def hour_of(now: datetime) -> datetime:
    return utc(now).replace(minute=0, second=0)


def _pruned(buckets: Mapping[str, Mapping[datetime, Any]], now: datetime
            ) -> dict[str, dict[datetime, Any]]:
    horizon = hour_of(now - RETENTION)
    out = {name: {h: v for h, v in per.items() if h >= horizon} for name, per in buckets.items()}
    return {name: per for name, per in out.items() if per}


def _with_breaker(state: State, ecosystem: str, b: Breaker) -> State:
    breakers = {k: v for k, v in state.breakers.items() if k != ecosystem}
    if not b.is_default:
        breakers[ecosystem] = b
    return state._replace(breakers=breakers)


def _apply_controls(state: State, op: RecordOp | BreakerOp, now: datetime,
                    policy_of: PolicyOf) -> State:
    policy = policy_of(op.ecosystem)
    old = state.breaker_of(op.ecosystem)
    if isinstance(op, BreakerOp):
        new = breaker.reset(old) if op.action == "reset" else breaker.trip(old, op.reason, now)
        return _with_breaker(state, op.ecosystem, new)
    hour = hour_of(now)
    outcomes = _pruned(state.outcomes, now)
    if op.passed or op.failed:
        per = outcomes.setdefault(op.ecosystem, {})
        p, f = per.get(hour, (0, 0))
        per[hour] = (p + op.passed, f + op.failed)
    minutes = _pruned(state.minutes, now)
    for platform, used in op.minutes:
        if used:
            per_platform = minutes.setdefault(platform, {})
            per_platform[hour] = per_platform.get(hour, 0) + used
    candidate = state._replace(outcomes=outcomes, minutes=minutes)
    return _with_breaker(candidate, op.ecosystem, breaker.record(old, op.run, now, policy))


def apply(state: State, op: Operation, now: datetime, policy_of: PolicyOf | None = None) -> State:
    """The state after op at now; the same object when op changes nothing (nothing to commit).

    policy_of gives the breaker policy of an ecosystem (the configuration); defaults otherwise.
    """
    now = utc(now)
    seq = state.seq + 1
    if isinstance(op, PauseOp):
        def paused(old: Pause | None) -> Pause:
            if (old is not None and old.is_active(now)
                    and (old.level, old.reason, old.incident, old.until)
                    == (op.level, op.reason, op.incident, op.until)):
                return old  # the same pause again: keep who set it and since when
            return Pause(op.level, op.reason, op.incident, now, op.until, seq)

        if op.ecosystems:
            ecos = dict(state.ecosystems)
            for name in op.ecosystems:
                ecos[name] = paused(ecos.get(name))
            candidate = state._replace(ecosystems=ecos)
        else:
            candidate = state._replace(global_pause=paused(state.global_pause))
    elif isinstance(op, ResumeOp):
        if op.ecosystems:
            candidate = state._replace(ecosystems={k: v for k, v in state.ecosystems.items()
                                                   if k not in op.ecosystems})
        else:
            candidate = state._replace(global_pause=None)
    elif isinstance(op, RecordOp | BreakerOp):
        candidate = _apply_controls(state, op, now, policy_of or _default_policy)
    elif isinstance(op, ReserveIdOp):
        today = now.date().isoformat()
        ids = dict(state.ids)
        ids[today] = max(ids.get(today, 0), op.floor) + 1
        candidate = state._replace(ids=ids)
    else:
        landings = dict(state.landings)
        landings[op.batch_id] = tuple(sorted(set(landings.get(op.batch_id, ())) | set(op.commits)))
        candidate = state._replace(landings=landings)
    if candidate == state:
        return state
    return candidate._replace(seq=seq)


def replay(history: Iterable[tuple[Operation, datetime]], policy_of: PolicyOf | None = None
           ) -> State:
    """The state that applying history in order to an empty state gives."""
    state = State()
    for op, now in history:
        state = apply(state, op, now, policy_of)
    return state


def reserved_sequence(before: State, after: State, now: datetime) -> int:
    """The sequence a ReserveIdOp applied at now handed out."""
    today = day_of(now)
    assert after.ids.get(today, 0) > before.ids.get(today, 0), "no id was reserved"
    return after.ids[today]


def decide(state: State, ecosystem: str, stage: str, now: datetime) -> Decision:
    """May ecosystem run stage now? A manual pause always wins; expired pauses do not count."""
    now = utc(now)
    blockers: list[tuple[str, Pause]] = []
    expired: list[tuple[str, Pause]] = []
    allowed: list[tuple[str, Pause]] = []
    for scope in (GLOBAL, ecosystem):
        pause = state.pause_of(scope)
        if pause is None:
            continue
        if not pause.is_active(now):
            expired.append((scope, pause))
        elif pause.blocks(stage):
            blockers.append((scope, pause))
        else:
            allowed.append((scope, pause))
    if blockers:
        reason = "; ".join(describe_pause(scope, p) for scope, p in blockers)
        return Decision(False, reason, tuple(blockers), tuple(expired))
    notes = [f"no pause blocks {ecosystem} at the {stage} stage"]
    notes += [f"{_scope_text(s)} is frozen (merges only)" for s, _p in allowed]
    notes += [f"{_scope_text(s)} pause expired at {iso(p.until)}" for s, p in expired
              if p.until is not None]
    return Decision(True, "; ".join(notes), (), tuple(expired))


def _scope_text(scope: str) -> str:
    return "everything" if scope == GLOBAL else scope


def describe_pause(scope: str, pause: Pause) -> str:
    what = "merges are frozen" if pause.level == "freeze" else "stopped"
    text = f"{_scope_text(scope)}: {what} since {iso(pause.since)}: {pause.reason}"
    if pause.incident:
        text += f" (incident {pause.incident})"
    if pause.until is not None:
        text += f", until {iso(pause.until)}"
    return text


# -- input checks (raise UsageError; the CLI shows them) ------------------------------------------


_PLATFORM = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def is_package(name: str) -> bool:
    """A package name a record may carry in a trailer: no spaces or control characters."""
    return bool(_PACKAGE.match(name))


def is_platform(name: str) -> bool:
    return bool(_PLATFORM.match(name))



def check_text(what: str, text: str, *, required: bool) -> str:
    """A reason or incident: one line of printable text, at most MAX_TEXT characters."""
    text = text.strip()
    if required and not text:
        raise UsageError(f"{what} must not be empty.",
                         hint="say why, for example --reason 'bad homebrew validation'")
    if _CONTROL.search(text):
        raise UsageError(f"{what} must be one line without control characters.",
                         hint="put details in the incident and pass its address with --incident")
    if len(text) > MAX_TEXT:
        raise UsageError(f"{what} is longer than {MAX_TEXT} characters.",
                         hint="put details in the incident and pass its address with --incident")
    return text


def check_ecosystems(names: Iterable[str], known: tuple[str, ...]) -> tuple[str, ...]:
    """names, deduplicated in order; UsageError naming the known ones for any other."""
    out: list[str] = []
    for name in names:
        if name not in known:
            listing = ", ".join(known) if known else "none (ops.ecosystems is empty)"
            raise UsageError(
                f"unknown ecosystem '{name}'.",
                hint=f"known ecosystems: {listing} (ops.ecosystems in .git-batch.toml)",
            )
        if name not in out:
            out.append(name)
    return tuple(out)


_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_until(text: str, now: datetime) -> datetime:
    """--until: an ISO 8601 time with a zone (2026-11-27T14:00Z) or a duration (90m, 4h, 2d)."""
    now = utc(now)
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        when = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"--until '{text}' is neither a time nor a duration.",
                hint="pass a UTC time such as 2026-11-27T14:00Z, or a duration such as 4h or 2d",
            ) from None
        if parsed.tzinfo is None:
            raise UsageError(f"--until '{text}' has no time zone.",
                             hint="add Z for UTC (2026-11-27T14:00Z) or an offset (+02:00)")
        when = utc(parsed)
    if when <= now:
        raise UsageError(f"--until {iso(when)} is not in the future (now {iso(now)}).",
                         hint="pass a later time, or leave --until out for a pause until resume")
    return when


# -- state.toml -----------------------------------------------------------------------------------


def iso(t: datetime) -> str:
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pause_doc(p: Pause) -> dict[str, Any]:
    doc: dict[str, Any] = {"level": p.level, "reason": p.reason}
    if p.incident:
        doc["incident"] = p.incident
    doc["since"] = iso(p.since)
    if p.until is not None:
        doc["until"] = iso(p.until)
    doc["seq"] = p.seq
    return doc


def _breaker_doc(b: Breaker) -> dict[str, Any]:
    doc: dict[str, Any] = {"phase": b.phase, "window": b.window, "backoff": b.backoff}
    if b.opened_at is not None:
        doc["opened_at"] = iso(b.opened_at)
    if b.rotation:
        doc["rotation"] = list(b.rotation)
    if b.manual:
        doc["manual"] = b.manual
    return doc


def dumps(state: State) -> bytes:
    """Deterministic TOML: the same state always gives the same bytes (sorted, UTC, seconds)."""
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "seq": state.seq}
    pauses: dict[str, Any] = {}
    if state.global_pause is not None:
        pauses[GLOBAL] = _pause_doc(state.global_pause)
    if state.ecosystems:
        pauses["ecosystems"] = {k: _pause_doc(state.ecosystems[k])
                                for k in sorted(state.ecosystems)}
    if pauses:
        doc["pause"] = pauses
    if state.ids:
        doc["ids"] = {k: state.ids[k] for k in sorted(state.ids)}
    if state.landings:
        doc["landings"] = {k: list(state.landings[k]) for k in sorted(state.landings)}
    if state.breakers:
        doc["breakers"] = {k: _breaker_doc(state.breakers[k]) for k in sorted(state.breakers)}
    if state.outcomes:
        doc["outcomes"] = {k: {iso(h): list(v[h]) for h in sorted(v)}
                           for k, v in sorted(state.outcomes.items())}
    if state.minutes:
        doc["minutes"] = {k: {iso(h): v[h] for h in sorted(v)}
                          for k, v in sorted(state.minutes.items())}

    return (_HEADER + tomli_w.dumps(doc)).encode()


class _Bad(Exception):
    pass


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"'{where}' must be a table")
    return value


def _keys(table: dict[str, Any], where: str, allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise _Bad(f"unknown key '{name}'")
    missing = sorted(required - set(table))
    if missing:
        raise _Bad(f"'{where}' lacks '{missing[0]}'" if where else f"'{missing[0]}' is missing")


def _str(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or _CONTROL.search(value):
        raise _Bad(f"'{where}.{key}' must be one line of text")
    return value


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Bad(f"'{where}' must be a non-negative integer")
    return value


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise _Bad(f"'{where}' must be a UTC time such as 2026-03-01T12:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _Bad(f"'{where}' must be a UTC time such as 2026-03-01T12:00:00Z")
    return utc(parsed)


def _pause(value: object, where: str) -> Pause:
    t = _table(value, where)
    _keys(t, where, {"level", "reason", "incident", "since", "until", "seq"},
          {"level", "reason", "since", "seq"})
    level = _str(t, "level", where)
    if level not in LEVELS:
        raise _Bad(f"'{where}.level' must be one of {', '.join(LEVELS)}")
    until = _time(t["until"], f"{where}.until") if "until" in t else None
    return Pause(level, _str(t, "reason", where), _str(t, "incident", where),
                 _time(t["since"], f"{where}.since"), until, _int(t["seq"], f"{where}.seq"))


def _breaker(value: object, where: str) -> Breaker:
    t = _table(value, where)
    _keys(t, where, {"phase", "window", "backoff", "opened_at", "rotation", "manual"},
          {"phase", "window", "backoff"})
    phase = _str(t, "phase", where)
    if phase not in breaker.PHASES:
        raise _Bad(f"'{where}.phase' must be one of {', '.join(breaker.PHASES)}")
    window = _str(t, "window", where)
    if len(window) > BREAKER_MAX_WINDOW or set(window) - {breaker.PASS, breaker.FAIL}:
        raise _Bad(f"'{where}.window' must be at most {BREAKER_MAX_WINDOW} of P and F")
    rotation = t.get("rotation", [])
    if (not isinstance(rotation, list) or len(rotation) > breaker.MAX_ROTATION
            or not all(isinstance(r, str) and _PACKAGE.match(r) for r in rotation)):
        raise _Bad(f"'{where}.rotation' must be a list of package names")
    opened = _time(t["opened_at"], f"{where}.opened_at") if "opened_at" in t else None
    if phase != "closed" and opened is None:
        raise _Bad(f"'{where}' is {phase} but lacks 'opened_at'")
    return Breaker(phase, window, opened, _int(t["backoff"], f"{where}.backoff"),
                   tuple(rotation), _str(t, "manual", where))


def _hourly(value: object, where: str, pair: bool) -> dict[datetime, Any]:
    out: dict[datetime, Any] = {}
    for hour, v in _table(value, where).items():
        h = _time(hour, f"{where} key")
        if h.minute or h.second:
            raise _Bad(f"'{where}' key '{hour}' is not the start of an hour")
        if pair:
            if not isinstance(v, list) or len(v) != 2:
                raise _Bad(f"'{where}.{hour}' must be [passed, failed]")
            out[h] = (_int(v[0], f"{where}.{hour}"), _int(v[1], f"{where}.{hour}"))
        else:
            out[h] = _int(v, f"{where}.{hour}")
    return out


def loads(data: bytes, where: str) -> State:
    """Parse state.toml; StateCorrupt naming where (the commit) and the first problem."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
        return _from_doc(doc)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, _Bad) as exc:
        raise StateCorrupt(
            f"{where}: {STATE_FILE} is not a valid ops state: {exc}.",
            hint="restore the last good state (see the runbook); never edit the ops branch by hand",
        ) from None


def _from_doc(doc: dict[str, Any]) -> State:
    version = doc.get("schema_version")
    controls = {"breakers", "outcomes", "minutes"} if version == SCHEMA_VERSION else set()
    _keys(doc, "", {"schema_version", "seq", "pause", "ids", "landings", *controls},
          {"schema_version", "seq"})
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise _Bad(f"schema_version {version!r} is not {SCHEMA_VERSION}"
                   + (" (written by a newer git-batch: upgrade)" if newer else ""))
    seq = _int(doc["seq"], "seq")
    pauses = _table(doc.get("pause", {}), "pause")
    _keys(pauses, "pause", {GLOBAL, "ecosystems"}, set())
    glob = _pause(pauses[GLOBAL], f"pause.{GLOBAL}") if GLOBAL in pauses else None
    ecos = {name: _pause(v, f"pause.ecosystems.{name}")
            for name, v in _table(pauses.get("ecosystems", {}), "pause.ecosystems").items()}
    ids: dict[str, int] = {}
    for day, value in _table(doc.get("ids", {}), "ids").items():
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise _Bad(f"'ids' key '{day}' is not a day such as 2026-03-01")
        ids[day] = _int(value, f"ids.{day}")
    landings: dict[str, tuple[str, ...]] = {}
    for batch_id, commits in _table(doc.get("landings", {}), "landings").items():
        if (not isinstance(commits, list)
                or not all(isinstance(c, str) and _OID.match(c) for c in commits)):
            raise _Bad(f"'landings.{batch_id}' must be a list of full commit ids")
        landings[batch_id] = tuple(sorted(set(commits)))
    for p in (glob, *ecos.values()):
        if p is not None and p.seq > seq:
            raise _Bad(f"a pause has seq {p.seq}, after the state's seq {seq}")
    breakers = {name: _breaker(v, f"breakers.{name}")
                for name, v in _table(doc.get("breakers", {}), "breakers").items()}
    outcomes = {name: _hourly(v, f"outcomes.{name}", True)
                for name, v in _table(doc.get("outcomes", {}), "outcomes").items()}
    minutes = {name: _hourly(v, f"minutes.{name}", False)
               for name, v in _table(doc.get("minutes", {}), "minutes").items()}
    return State(seq, glob, ecos, ids, landings, breakers, outcomes, minutes)


# -- commit messages ------------------------------------------------------------------------------


def _scopes(ecosystems: tuple[str, ...]) -> str:
    return ", ".join(ecosystems) if ecosystems else "all ecosystems"


def format_init(*, op_id: str = "") -> str:
    trailers = f"{OP}: {INIT}\n" + (f"{OP_ID}: {op_id}\n" if op_id else "")
    return (f"initialize the ops branch\n\nEvery commit on this branch is one signed operation; "
            f"the tip's {STATE_FILE} is the state.\n\n{trailers}")


def format_message(op: Operation, *, reserved_id: str = "", op_id: str = "") -> str:
    """Subject (what), body (why), trailers (the operation, so it can be replayed).

    op_id makes the commit unique: ssh signatures are deterministic, so two writers applying the
    same operation to the same tip in the same second would otherwise make the very same commit
    and both believe they wrote it (a lost update, found by tests/ops/test_concurrency.py).
    """
    trailers: list[tuple[str, str]] = [(OP, KINDS[type(op)])]
    body = ""
    if isinstance(op, PauseOp):
        subject = f"pause {_scopes(op.ecosystems)} ({op.level})"
        body = op.reason
        trailers += [(ECOSYSTEM, e) for e in op.ecosystems]
        trailers.append((LEVEL, op.level))
        if op.incident:
            trailers.append((INCIDENT, op.incident))
        if op.until is not None:
            trailers.append((UNTIL, iso(op.until)))
    elif isinstance(op, ResumeOp):
        subject = f"resume {_scopes(op.ecosystems)}"
        body = op.reason
        trailers += [(ECOSYSTEM, e) for e in op.ecosystems]
    elif isinstance(op, ReserveIdOp):
        subject = f"reserve batch id {reserved_id}"
        trailers.append((BATCH_ID, reserved_id))
        if op.ecosystem:
            trailers.append((ECOSYSTEM, op.ecosystem))
        if op.floor:
            trailers.append((ID_FLOOR, str(op.floor)))
    elif isinstance(op, RecordOp):
        subject = (f"record {op.ecosystem}: {op.passed} passed, {op.failed} failed, "
                   f"{op.skipped} skipped")
        run = op.run
        trailers += [(ECOSYSTEM, op.ecosystem), (PASSED, str(op.passed)),
                     (FAILED, str(op.failed)), (SKIPPED, str(op.skipped)),
                     (COUNTED, f"{run.passes}/{run.failures} {run.counted or '-'}")]
        trailers += [(FAILED_PACKAGE, name) for name in run.failed_packages]
        trailers += [(MINUTES, f"{platform}={used}") for platform, used in op.minutes]
    elif isinstance(op, BreakerOp):
        subject = f"breaker {op.action} {op.ecosystem}"
        body = op.reason
        trailers += [(ECOSYSTEM, op.ecosystem), (ACTION, op.action)]
    else:
        n = len(op.commits)
        subject = f"record where {op.batch_id} landed ({n} commit{'s' if n != 1 else ''})"
        trailers.append((BATCH_ID, op.batch_id))
        trailers += [(LANDED_COMMIT, c) for c in op.commits]
    if op_id:
        trailers.append((OP_ID, op_id))
    parts = [subject]
    if body:
        parts.append(body)
    parts.append("\n".join(f"{k}: {v}" for k, v in trailers))
    return "\n\n".join(parts) + "\n"


def parse_trailers(message: str) -> tuple[list[tuple[str, str]], str, str]:
    """(trailers, subject, body) of a message in format_message's shape; no trailers if not."""
    paragraphs = message.strip("\n").split("\n\n")
    subject = paragraphs[0]
    if len(paragraphs) < 2:
        return [], subject, ""
    pairs: list[tuple[str, str]] = []
    for line in paragraphs[-1].split("\n"):
        key, sep, value = line.partition(": ")
        if not sep or key not in _TRAILER_KEYS:
            return [], subject, "\n\n".join(paragraphs[1:])
        pairs.append((key, value))
    return pairs, subject, "\n\n".join(paragraphs[1:-1])


def _parse_record(ecosystem: str, one: Callable[[str], str], values: dict[str, list[str]]
                  ) -> RecordOp | None:
    totals, _sep, counted = one(COUNTED).partition(" ")
    passes, _slash, failures = totals.partition("/")
    counted = "" if counted == "-" else counted
    if set(counted) - {breaker.PASS, breaker.FAIL}:
        return None
    minutes = []
    for item in values.get(MINUTES, []):
        platform, _eq, used = item.partition("=")
        minutes.append((platform, int(used)))
    run = breaker.Run(counted, int(passes), int(failures), tuple(values.get(FAILED_PACKAGE, [])))
    return RecordOp(ecosystem, int(one(PASSED)), int(one(FAILED)), int(one(SKIPPED)), run,
                    tuple(minutes))


def parse_op(message: str) -> Operation | str | None:
    """The operation a commit message carries, INIT for the root, None when it carries none."""
    pairs, _subject, body = parse_trailers(message)
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)

    def one(key: str, default: str = "") -> str:
        got = values.get(key, [])
        return got[0] if len(got) == 1 else default

    kind = one(OP)
    ecos = tuple(values.get(ECOSYSTEM, []))
    try:
        if kind == INIT:
            return INIT
        if kind == KINDS[PauseOp]:
            until = _time(one(UNTIL), UNTIL) if UNTIL in values else None
            if one(LEVEL) not in LEVELS:
                return None
            return PauseOp(ecos, one(LEVEL), body, one(INCIDENT), until)
        if kind == KINDS[ResumeOp]:
            return ResumeOp(ecos, body)
        if kind == KINDS[ReserveIdOp]:
            return ReserveIdOp(one(ECOSYSTEM), int(one(ID_FLOOR, "0")))
        if kind == KINDS[LandOp] and one(BATCH_ID):
            return LandOp(one(BATCH_ID), tuple(values.get(LANDED_COMMIT, [])))
        if kind == KINDS[RecordOp] and len(ecos) == 1:
            return _parse_record(ecos[0], one, values)
        if kind == KINDS[BreakerOp] and len(ecos) == 1 and one(ACTION) in BREAKER_ACTIONS:
            return BreakerOp(ecos[0], one(ACTION), body)
    except (_Bad, ValueError):
        return None
    return None

