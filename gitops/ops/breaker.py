"""Pure circuit-breaker state machine: (breaker, run, now, policy) -> breaker.

One breaker per ecosystem (DESIGN.md "Ops branch: the rules"). It fixes what a naive
breaker got wrong in a real pipeline (every ecosystem stuck open for months, counters near 1,000):

- Only *counted* attempts move it: passes, and failures whose category is not package-specific
  (`BreakerPolicy.package_categories`, e.g. validation, unsupported). A failure without a category
  counts (it may be the infrastructure). Skipped packages never count.
- The window holds the last `BreakerPolicy.window` counted outcomes and nothing else: counters are
  bounded by construction.
- closed -> open when, after a run, the window holds at least `min_attempts` outcomes and its
  success rate is below `threshold`. open -> half_open once the recovery time has passed
  (`current()`; a record persists it). In half_open a run is the probe: all of its counted
  attempts passed (at least one) -> closed with an empty window and the back-off reset; a counted
  failure -> open again with the next back-off (recovery x 2^n, capped at max_backoff); a run with
  no counted attempt changes nothing.
- Probes rotate: every package that failed while half-open goes to the back of `rotation`, and
  `choose_probes` offers the others first, so a broken package is never probed twice in a row.
- A manual trip (`trip`) stays open until a manual `reset`; a manual pause is checked before the
  breaker by the gate, so it always wins.

Nothing here reads the clock: callers pass `now` (aware, UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from gitops.config import BREAKER_MAX_WINDOW, BreakerPolicy

Phase = Literal["closed", "open", "half_open"]
PHASES: tuple[Phase, ...] = ("closed", "open", "half_open")
PASS, FAIL = "P", "F"  # one counted outcome in `Breaker.window`
MAX_ROTATION = 50  # packages remembered at the back of the probe queue


class Breaker(NamedTuple):
    phase: Phase = "closed"
    window: str = ""  # the last counted outcomes, oldest first: "PPFP..." (len <= policy.window)
    opened_at: datetime | None = None  # when it last opened (open and half_open)
    backoff: int = 0  # re-opens since it last closed: recovery x 2^backoff
    rotation: tuple[str, ...] = ()  # packages whose probe failed, the most recent last
    manual: str = ""  # the reason of a manual trip: stays open until reset

    @property
    def is_default(self) -> bool:
        return self == Breaker()


class Run(NamedTuple):
    """What one `record` tells the breaker (built from a results file or from counts)."""

    counted: str  # counted outcomes in order ("P"/"F"); only the last BREAKER_MAX_WINDOW are kept
    passes: int  # counted passes in the whole run
    failures: int  # counted failures in the whole run
    failed_packages: tuple[str, ...] = ()  # every failed package (any category), in order


def recovery_delay(b: Breaker, p: BreakerPolicy) -> timedelta:
    """How long b stays open: recovery doubled per re-open, capped at max_backoff."""
    cap = max(p.max_backoff, p.recovery)
    if b.backoff >= 32:
        return cap
    delay: timedelta = p.recovery * (1 << b.backoff)
    return min(delay, cap)


def recovers_at(b: Breaker, p: BreakerPolicy) -> datetime | None:
    """When an open breaker turns half-open by itself (None: closed, half-open or manual)."""
    if b.phase != "open" or b.manual or b.opened_at is None:
        return None
    return b.opened_at + recovery_delay(b, p)


def current(b: Breaker, now: datetime, p: BreakerPolicy) -> Breaker:
    """b as of now: open turns half_open once its recovery time has passed."""
    at = recovers_at(b, p)
    if at is not None and now >= at:
        return b._replace(phase="half_open")
    return b


def admits(b: Breaker, now: datetime, p: BreakerPolicy) -> int:
    """How many packages may run now: 0 (open), the probe allowance (half-open), or -1 (all)."""
    b = current(b, now, p)
    if b.phase == "closed":
        return -1
    if b.phase == "half_open":
        return p.probes
    return 0


def success_rate(window: str) -> float | None:
    return window.count(PASS) / len(window) if window else None


def _rotate(rotation: tuple[str, ...], failed: Iterable[str]) -> tuple[str, ...]:
    out = list(rotation)
    for name in failed:
        if name in out:
            out.remove(name)
        out.append(name)
    return tuple(out[-MAX_ROTATION:])


def record(b: Breaker, run: Run, now: datetime, p: BreakerPolicy) -> Breaker:
    """The breaker after a run recorded at now."""
    b = current(b, now, p)
    if b.phase == "open":
        return b  # the run went ahead against the gate: it tells nothing new about recovery
    if b.phase == "half_open":
        if run.passes + run.failures == 0:
            return b._replace(rotation=_rotate(b.rotation, run.failed_packages))
        if run.failures == 0:
            return Breaker()  # the probe passed: closed, window cleared, back-off reset
        return b._replace(phase="open", opened_at=now, backoff=b.backoff + 1, window="",
                       rotation=_rotate(b.rotation, run.failed_packages))
    window = (b.window + run.counted)[-p.window:]
    rate = success_rate(window)
    if len(window) >= p.min_attempts and rate is not None and rate < p.threshold:
        return b._replace(phase="open", window=window, opened_at=now, backoff=0)
    return b._replace(window=window)


def trip(b: Breaker, reason: str, now: datetime) -> Breaker:
    """Open by hand; only reset closes it again."""
    return b._replace(phase="open", opened_at=now, manual=reason)


def reset(_b: Breaker) -> Breaker:
    """Close by hand: empty window, no back-off, no rotation."""
    return Breaker()


def choose_probes(b: Breaker, candidates: Sequence[str], p: BreakerPolicy) -> tuple[str, ...]:
    """The packages to probe: candidates that never failed a probe first (in the given order),
    then those that did, the longest ago first; at most the probe allowance."""
    fresh = [c for c in candidates if c not in b.rotation]
    tried = [c for c in b.rotation if c in candidates]
    return tuple(dict.fromkeys(fresh + tried))[: p.probes]


def counted_run(outcomes: Iterable[tuple[str, bool, str]], p: BreakerPolicy) -> Run:
    """A Run from (package, passed, category) in order; skipped packages are left out."""
    counted: list[str] = []
    passes = failures = 0
    failed: list[str] = []
    for package, passed, category in outcomes:
        if passed:
            counted.append(PASS)
            passes += 1
            continue
        failed.append(package)
        if p.counts(category):
            counted.append(FAIL)
            failures += 1
    return Run("".join(counted[-BREAKER_MAX_WINDOW:]), passes, failures, tuple(failed))


def spread(passed: int, failed: int) -> str:
    """passed and failed counts as an evenly interleaved outcome string (order is unknown)."""
    total = passed + failed
    out = []
    for i in range(min(total, BREAKER_MAX_WINDOW)):
        # the i-th of the last BREAKER_MAX_WINDOW positions, spread with Bresenham's rule
        k = total - min(total, BREAKER_MAX_WINDOW) + i
        out.append(FAIL if (k + 1) * failed // total > k * failed // total else PASS)
    return "".join(out)
