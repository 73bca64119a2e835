"""`record`, `breaker`, `slo` and the controls in `gate` / `status`, through real repositories:
signed commits, exit codes, nothing written on bad input, and 4 concurrent writers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitops.ops import breaker, gate, state, write
from gitops.ops.state import RecordOp
from tests.conftest import Repo, git
from tests.ops.conftest import (
    NOW,
    FakeClock,
    make_ctx,
    run_cli,
    run_forked,
    snapshot,
    tip,
    writer_clones,
)

CONFIG = """[budget.limits]
macos = 100
linux = 5000

[slo.ecosystems]
homebrew = 0.85
"""


def _results(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _gate(repo: Path, *args: str) -> tuple[int, dict[str, str]]:
    res = run_cli(repo, "gate", *args)
    return res.returncode, dict(line.split("=", 1) for line in res.stdout.splitlines())


def test_record_results_file_is_one_signed_commit(registry: Repo, tmp_path: Path) -> None:
    assert run_cli(registry.path, "ops", "init").returncode == 0
    rows = [{"package": f"p{i}", "outcome": "passed", "minutes": {"linux": 3}, "extra": 1}
            for i in range(8)]
    rows += [{"package": "bad", "outcome": "failed", "category": "validation"},
             {"package": "skip", "outcome": "skipped"}]
    res = run_cli(registry.path, "record", "--ecosystem", "homebrew", "--results",
                  str(_results(tmp_path / "run.jsonl", rows)), "--minutes", "macos=34")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("recorded the run of homebrew (breaker closed) at ")
    assert "signed by alice@example.com" in res.stdout
    message = git(registry.path, "log", "-1", "--format=%B", "batch-ops")
    assert message.startswith("record homebrew: 8 passed, 1 failed, 1 skipped\n")
    op = state.parse_op(message)
    assert isinstance(op, RecordOp) and op.minutes == (("linux", 24), ("macos", 34))
    assert op.run == breaker.Run("P" * 8, 8, 0, ("bad",))
    st = state.loads(git(registry.path, "show", "batch-ops:state.toml").encode(), "t")
    assert st.breaker_of("homebrew").window == "P" * 8
    assert list(st.outcomes["homebrew"].values()) == [(8, 1)]
    code, out = _gate(registry.path, "--ecosystem", "homebrew", "--stage", "generate")
    assert code == 0 and out["breaker"] == "closed" and out["sampling"] == "false"


def test_record_malformed_line_records_nothing(registry: Repo, tmp_path: Path) -> None:
    assert run_cli(registry.path, "ops", "init").returncode == 0
    bad = tmp_path / "run.jsonl"
    bad.write_text('{"package": "a", "outcome": "passed"}\n\n{"package": "b", "outcome": "meh"}\n')
    before = snapshot(registry.path)
    res = run_cli(registry.path, "record", "--ecosystem", "cargo", "--results", str(bad))
    assert res.returncode == 43
    assert f"{bad}:3: 'outcome' must be one of passed, failed, skipped" in res.stderr
    assert snapshot(registry.path) == before
    bad.write_text("{not json\n")
    res = run_cli(registry.path, "record", "--ecosystem", "cargo", "--results", str(bad))
    assert res.returncode == 43 and f"{bad}:1: not JSON" in res.stderr
    assert snapshot(registry.path) == before


def test_breaker_opens_gate_refuses_pause_wins_reset_and_trip(registry: Repo) -> None:
    repo = registry.path
    assert run_cli(repo, "ops", "init").returncode == 0
    res = run_cli(repo, "record", "--ecosystem", "cargo", "--passed", "2", "--failed", "8")
    assert res.returncode == 0 and "(breaker open)" in res.stdout
    code, out = _gate(repo, "--ecosystem", "cargo")
    assert code == 40 and out["can_proceed"] == "false" and out["breaker"] == "open"
    assert "breaker of cargo open since" in out["reason"]
    assert run_cli(repo, "pause", "--ecosystem", "cargo", "--reason", "by hand").returncode == 0
    code, out = _gate(repo, "--ecosystem", "cargo")
    assert code == 20  # a manual pause always wins
    assert run_cli(repo, "resume", "--ecosystem", "cargo").returncode == 0
    res = run_cli(repo, "breaker", "reset", "cargo", "--reason", "runners fixed")
    assert res.returncode == 0 and res.stdout.startswith("breaker of cargo reset (closed) at ")
    assert _gate(repo, "--ecosystem", "cargo")[0] == 0
    again = run_cli(repo, "breaker", "reset", "cargo", "--reason", "again")
    assert again.returncode == 0 and "nothing written" in again.stdout
    assert run_cli(repo, "breaker", "trip", "npm", "--reason", "registry down").returncode == 0
    code, out = _gate(repo, "--ecosystem", "npm")
    assert code == 40 and "tripped by hand: registry down" in out["reason"]
    hint = run_cli(repo, "gate", "--ecosystem", "npm").stderr
    assert "hint: it was tripped by hand and stays open until 'git batch breaker reset npm" in hint
    assert run_cli(repo, "breaker", "trip", "npm", "--reason", "").returncode == 2


def test_half_open_gate_offers_rotated_probes(registry: Repo) -> None:
    clock = FakeClock()
    ctx = make_ctx(registry.path, clock)
    write.init(ctx)
    write.record(ctx, ecosystem="cargo", passed=0, failed=6)
    clock.tick(61)
    rows = '{"package": "a", "outcome": "failed", "category": "network"}\n'
    r = write.record(ctx, ecosystem="cargo", results=rows)
    assert r.state.breaker_of("cargo").phase == "open"
    assert r.state.breaker_of("cargo").rotation == ("a",)
    clock.tick(121)
    g = gate.gate(ctx, ecosystem="cargo", stage="generate", candidates=("a", "b"))
    assert g.controls is not None and g.controls.refusal == ""
    assert g.controls.probe_allowance == 1 and g.controls.probes == ("b",)


def test_budget_sampling_and_refusal_at_generate_only(registry: Repo) -> None:
    repo = registry.path
    (repo / ".git-batch.toml").write_text(CONFIG)
    assert run_cli(repo, "ops", "init").returncode == 0
    assert run_cli(repo, "record", "--ecosystem", "homebrew", "--passed", "1",
                   "--minutes", "macos=85").returncode == 0
    code, out = _gate(repo, "--ecosystem", "homebrew", "--stage", "generate")
    assert code == 0 and out["sampling"] == "true" and out["sample_rate"] == "0.25"
    assert out["sample_platforms"] == "macos"
    assert run_cli(repo, "record", "--ecosystem", "homebrew", "--minutes",
                   "macos=10").returncode == 0
    code, out = _gate(repo, "--ecosystem", "homebrew", "--stage", "generate")
    assert code == 41 and "macos used 95 of 100 CI minutes (frees at" in out["reason"]
    assert _gate(repo, "--ecosystem", "homebrew", "--stage", "merge")[0] == 0
    status = run_cli(repo, "status", "--json")
    doc = json.loads(status.stdout)
    assert doc["budget"]["platforms"]["macos"]["used"] == 95
    assert doc["budget"]["platforms"]["macos"]["level"] == "stop"
    assert doc["breakers"]["homebrew"]["phase"] == "closed"
    text = run_cli(repo, "status", "--text").stdout
    assert "budget (CI minutes):" in text and "95/100 (95%) stop" in text and "SLOs:" in text


def test_slo_exit_code_and_json(registry: Repo) -> None:
    repo = registry.path
    (repo / ".git-batch.toml").write_text(CONFIG)
    assert run_cli(repo, "ops", "init").returncode == 0
    assert run_cli(repo, "record", "--ecosystem", "homebrew", "--passed", "88",
                   "--failed", "12").returncode == 0
    res = run_cli(repo, "slo", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    [brew] = [e for e in doc["ecosystems"] if e["ecosystem"] == "homebrew"]
    assert brew["severity"] == "ok" and brew["windows"]["24h"]["sli"] == 0.88
    assert run_cli(repo, "record", "--ecosystem", "cargo", "--passed", "1",
                   "--failed", "3").returncode == 0
    res = run_cli(repo, "slo")
    assert res.returncode == 42 and "SLO critical: cargo." in res.stderr
    assert "cargo" in res.stdout and "CRITICAL" in res.stdout


def test_state_of_schema_version_1_still_loads() -> None:
    old = b"schema_version = 1\nseq = 2\n[ids]\n\"2026-03-01\" = 2\n"
    st = state.loads(old, "old")
    assert st.ids == {"2026-03-01": 2} and st.breakers == {}
    assert b"schema_version = 2" in state.dumps(st)


def test_state_stays_bounded_over_weeks() -> None:
    st = state.State()
    op = RecordOp("cargo", 10, 0, 0, breaker.Run("P" * 10, 10, 0), (("linux", 5),))
    for hour in range(24 * 30):
        st = state.apply(st, op, NOW + timedelta(hours=hour))
    assert len(st.outcomes["cargo"]) <= 24 * 8 + 1
    assert len(st.minutes["linux"]) <= 24 * 8 + 1
    assert len(state.dumps(st)) < 20_000


# -- 4 concurrent writers -------------------------------------------------------------------------

WRITERS, RECORDS = 4, 5


def _writer(n: int, repo: Path, out: Path) -> None:
    write.MAX_ATTEMPTS = 200
    ctx = make_ctx(repo, FakeClock(datetime.now(UTC).replace(microsecond=0)))
    tips = []
    for i in range(RECORDS):
        r = write.record(ctx, ecosystem="cargo", passed=n + i, failed=1,
                         minutes=(f"linux={n + 1}",), push="origin")
        tips.append(r.tip)
    out.write_text("\n".join(tips) + "\n")


def test_concurrent_record_writers_lose_nothing(registry: Repo, tmp_path: Path) -> None:
    remote, clones = writer_clones(registry, tmp_path, WRITERS)
    write.init(make_ctx(clones[0]), push="origin")
    run_forked(tmp_path, WRITERS, lambda n: _writer(n, clones[n], tmp_path / f"out{n}"))
    final = state.loads(git(remote, "show", "batch-ops:state.toml").encode(), "remote")
    passed = sum(n + i for n in range(WRITERS) for i in range(RECORDS))
    assert sum(p for p, _f in final.outcomes["cargo"].values()) == passed
    assert sum(f for _p, f in final.outcomes["cargo"].values()) == WRITERS * RECORDS
    assert sum(final.minutes["linux"].values()) == sum((n + 1) * RECORDS for n in range(WRITERS))
    assert final.seq == WRITERS * RECORDS
    # the history replays to the tip's state
    log = git(remote, "log", "--reverse", "--first-parent", "--format=%ct%x00%B%x1e", "batch-ops")
    history = []
    for raw in log.split("\x1e")[1:]:
        record = raw.lstrip("\n")
        if record:
            ct, message = record.split("\0", 1)
            op = state.parse_op(message)
            assert isinstance(op, RecordOp)
            history.append((op, datetime.fromtimestamp(int(ct), tz=UTC)))
    assert state.replay(history) == final
    acknowledged = {line for n in range(WRITERS)
                    for line in (tmp_path / f"out{n}").read_text().split()}
    assert acknowledged <= set(git(remote, "rev-list", "batch-ops").split())
    assert tip(remote, "refs/heads/batch-ops") in acknowledged
