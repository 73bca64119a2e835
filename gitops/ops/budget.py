"""Pure CI-minutes budget over a window: (ledger, now, policy) -> Decision.

The ledger is, per platform, minutes in hourly buckets (the hour's start, UTC). The window is the
last 7 days (rolling, by the hour) or the current ISO week from Monday 00:00 UTC (calendar). A
platform at `sample_at` (80 %) or more of its limit samples (gate: sampling=true with
`sample_rate`); at `stop_at` (95 %) or more it stops until enough of the window has rolled off
(rolling) or the week ends (calendar). Burn rates are minutes per hour over the last 1 and 6
hours, as SRE burn-rate alerts use two windows; the projected exhaustion uses the higher of the
two, so it is never late. Platforms without a limit are shown but never limit anything.

Buckets older than RETENTION are dropped by `prune`, so the state stays bounded (at most
24 x 8 buckets per platform). Nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from gitops.config import BudgetPolicy

Level = Literal["ok", "sample", "stop"]
LEVELS: tuple[Level, ...] = ("ok", "sample", "stop")
WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)
RETENTION = timedelta(days=8)  # covers the rolling week, a calendar week and the burn windows


class PlatformBudget(NamedTuple):
    platform: str
    used: int  # minutes in the window
    limit: int | None
    level: Level
    burn_1h: float  # minutes per hour
    burn_6h: float
    exhausts_at: datetime | None  # at the current burn rate, when used reaches the limit
    frees_at: datetime | None  # when a stopped platform drops below stop_at again

    @property
    def fraction(self) -> float | None:
        return self.used / self.limit if self.limit else None


class Decision(NamedTuple):
    level: Level  # the worst platform
    sample_rate: float | None  # set when level is "sample"
    platforms: tuple[PlatformBudget, ...]

    @property
    def sampling(self) -> tuple[str, ...]:
        return tuple(b.platform for b in self.platforms if b.level == "sample")

    @property
    def stopped(self) -> tuple[PlatformBudget, ...]:
        return tuple(b for b in self.platforms if b.level == "stop")


def hour_of(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def window_start(now: datetime, p: BudgetPolicy) -> datetime:
    """The first bucket that counts at now."""
    if p.window == "calendar":
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=now.weekday())
    return hour_of(now - WEEK)


def prune(buckets: Mapping[datetime, int], now: datetime) -> dict[datetime, int]:
    """buckets without those older than RETENTION (and without empty ones)."""
    horizon = hour_of(now - RETENTION)
    return {h: m for h, m in buckets.items() if h >= horizon and m}


def level_of(used: int, limit: int | None, p: BudgetPolicy) -> Level:
    if not limit:
        return "ok"
    if used >= p.stop_at * limit:
        return "stop"
    if used >= p.sample_at * limit:
        return "sample"
    return "ok"


def _burn(buckets: Mapping[datetime, int], now: datetime, hours: int) -> float:
    since = hour_of(now) - HOUR * (hours - 1)
    return sum(m for h, m in buckets.items() if since <= h <= now) / hours


def _frees_at(buckets: Mapping[datetime, int], used: int, limit: int, now: datetime,
              p: BudgetPolicy) -> datetime:
    if p.window == "calendar":
        return window_start(now, p) + WEEK
    start = window_start(now, p)
    for h in sorted(b for b in buckets if b >= start):
        used -= buckets[h]
        if used < p.stop_at * limit:
            return h + WEEK + HOUR  # the bucket leaves the window an hour after its start + 7d
    return now  # pragma: no cover - used < stop_at * limit once every bucket has left


def assess_platform(platform: str, buckets: Mapping[datetime, int], now: datetime,
                    p: BudgetPolicy) -> PlatformBudget:
    start = window_start(now, p)
    used = sum(m for h, m in buckets.items() if start <= h <= now)
    limit = p.limit_of(platform)
    level = level_of(used, limit, p)
    burn_1h, burn_6h = _burn(buckets, now, 1), _burn(buckets, now, 6)
    exhausts = None
    rate = max(burn_1h, burn_6h)
    if limit and rate > 0:
        exhausts = now if used >= limit else now + HOUR * ((limit - used) / rate)
    frees = _frees_at(buckets, used, limit, now, p) if limit and level == "stop" else None
    return PlatformBudget(platform, used, limit, level, burn_1h, burn_6h, exhausts, frees)


def assess(ledger: Mapping[str, Mapping[datetime, int]], now: datetime, p: BudgetPolicy
           ) -> Decision:
    """The budget of every platform with a limit or minutes, and the worst level."""
    names = sorted(set(ledger) | {name for name, _limit in p.limits})
    platforms = tuple(assess_platform(n, ledger.get(n, {}), now, p) for n in names)
    level: Level = max((b.level for b in platforms), key=LEVELS.index, default="ok")
    return Decision(level, p.sample_rate if level == "sample" else None, platforms)
