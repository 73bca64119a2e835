"""gitops.ops.budget: windows, levels, burn rates, exhaustion and freeing; monotonic decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.config import BudgetPolicy as Policy
from gitops.ops import budget

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)  # a Wednesday
H = timedelta(hours=1)
P = Policy(limits=(("linux", 5000), ("macos", 1000)))


def hours_ago(n: int) -> datetime:
    return budget.hour_of(NOW) - H * n


def test_budget_levels_ok_sample_stop() -> None:
    assert budget.assess({"macos": {hours_ago(1): 799}}, NOW, P).level == "ok"
    d = budget.assess({"macos": {hours_ago(1): 800}}, NOW, P)
    assert d.level == "sample" and d.sample_rate == 0.25 and d.sampling == ("macos",)
    d = budget.assess({"macos": {hours_ago(1): 950}}, NOW, P)
    assert d.level == "stop" and [b.platform for b in d.stopped] == ["macos"]


def test_budget_rolling_window_forgets_after_a_week() -> None:
    ledger = {"macos": {hours_ago(7 * 24 + 1): 990, hours_ago(2): 10}}
    d = budget.assess(ledger, NOW, P)
    assert d.level == "ok" and d.platforms[1].used == 10


def test_budget_frees_when_the_oldest_minutes_roll_off() -> None:
    ledger = {"macos": {hours_ago(100): 500, hours_ago(10): 460}}
    [_linux, mac] = budget.assess(ledger, NOW, P).platforms
    assert mac.level == "stop"
    assert mac.frees_at == hours_ago(100) + budget.WEEK + H
    later = mac.frees_at
    assert later is not None
    assert budget.assess(ledger, later, P).level == "ok"


def test_budget_calendar_window_starts_monday_and_frees_next_monday() -> None:
    cal = Policy(limits=(("macos", 1000),), window="calendar")
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    assert budget.window_start(NOW, cal) == monday
    ledger = {"macos": {monday - H: 900, monday + H: 960}}
    [mac] = budget.assess(ledger, NOW, cal).platforms
    assert mac.used == 960 and mac.level == "stop" and mac.frees_at == monday + budget.WEEK


def test_budget_burn_rates_and_projected_exhaustion() -> None:
    ledger = {"macos": {hours_ago(0): 60, hours_ago(3): 60, hours_ago(30): 400}}
    [_linux, mac] = budget.assess(ledger, NOW, P).platforms
    assert mac.burn_1h == 60 and mac.burn_6h == 20
    assert mac.exhausts_at == NOW + H * ((1000 - 520) / 60)


def test_budget_unlimited_platform_never_limits() -> None:
    d = budget.assess({"windows": {hours_ago(1): 10**6}}, NOW, P)
    assert d.level == "ok" and {b.platform for b in d.platforms} == {"linux", "macos", "windows"}


def test_budget_prune_keeps_only_the_retention() -> None:
    buckets = {hours_ago(n): 1 for n in range(0, 24 * 30)}
    kept = budget.prune(buckets, NOW)
    assert len(kept) <= 24 * 8 + 1 and hours_ago(0) in kept


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 2000), st.integers(1, 5000))
def test_budget_decisions_are_monotonic_in_usage(a: int, b: int, limit: int) -> None:
    p = Policy(limits=(("macos", limit),))
    low, high = sorted((a, b))
    rank = budget.LEVELS.index
    lo = budget.assess({"macos": {hours_ago(1): low}}, NOW, p).level
    hi = budget.assess({"macos": {hours_ago(1): high}}, NOW, p).level
    assert rank(lo) <= rank(hi)
