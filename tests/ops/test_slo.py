"""gitops.ops.slo: SLIs over 24 h and 7 d, per-ecosystem targets, severities; config validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitops.config import SloPolicy, parse_config_text
from gitops.errors import ConfigError
from gitops.ops import slo

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
H = timedelta(hours=1)
HOUR = NOW.replace(minute=0)
P = SloPolicy(targets=(("homebrew", 0.85),))


def test_slo_ok_warning_critical() -> None:
    assert slo.evaluate("cargo", {HOUR: (99, 1)}, NOW, P).severity == "ok"
    assert slo.evaluate("cargo", {HOUR: (97, 3)}, NOW, P).severity == "warning"
    assert slo.evaluate("cargo", {HOUR: (49, 51)}, NOW, P).severity == "critical"


def test_slo_per_ecosystem_target() -> None:
    r = slo.evaluate("homebrew", {HOUR: (90, 10)}, NOW, P)
    assert r.target == 0.85 and r.severity == "ok"


def test_slo_windows_24h_and_7d() -> None:
    buckets = {HOUR: (10, 0), HOUR - 48 * H: (0, 10), HOUR - 8 * 24 * H: (0, 1000)}
    r = slo.evaluate("cargo", buckets, NOW, P)
    day, week = r.windows
    assert (day.passed, day.failed, day.severity) == (10, 0, "ok")
    assert (week.passed, week.failed, week.sli, week.severity) == (10, 10, 0.5, "warning")
    assert r.severity == "warning"


def test_slo_no_data_is_ok() -> None:
    r = slo.evaluate("npm", {}, NOW, P)
    assert r.severity == "ok" and r.windows[0].sli is None


def test_slo_config_sections_and_validation() -> None:
    cfg = parse_config_text("[slo]\ntarget = 0.99\n[slo.ecosystems]\nhomebrew = 0.85\n"
                            "[breaker]\nthreshold = 0.4\n[breaker.ecosystems.cargo]\nwindow = 20\n"
                            "[budget]\nwindow = 'calendar'\n[budget.limits]\nmacos = 1000\n",
                            "t.toml")
    assert cfg.slo.policy.target_of("homebrew") == 0.85
    assert cfg.slo.policy.target_of("npm") == 0.99
    assert cfg.breaker.policy_of("cargo").window == 20
    assert cfg.breaker.policy_of("cargo").threshold == 0.4
    assert cfg.budget.policy.limit_of("macos") == 1000
    hash(cfg)  # the config stays hashable (history_fingerprint caches on it)


@pytest.mark.parametrize(("text", "needle"), [
    ("[slo]\ntarget = 1.5\n", "key 'slo.target'"),
    ("[slo]\nfoo = 1\n", "unknown key 'slo.foo'"),
    ("[breaker]\nwindow = 500\n", "key 'breaker.window'"),
    ("[breaker]\nmin_attempts = 20\n", "key 'breaker.min_attempts'"),
    ("[breaker.ecosystems.cargo]\nprobes = 0\n", "key 'breaker.ecosystems.cargo.probes'"),
    ("[budget.limits]\nmacos = -1\n", "key 'budget.limits.macos'"),
    ("[budget]\nsample_at = 0.99\n", "key 'budget.sample_at'"),
])
def test_controls_config_errors_name_file_and_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text(text, "t.toml")
    assert err.value.message.startswith("t.toml: ") and needle in err.value.message
