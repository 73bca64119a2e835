"""The docs are tested artifacts: exit-code table, runbook links, help texts."""

from __future__ import annotations

import re
from pathlib import Path

from gitops import errors

ROOT = Path(__file__).resolve().parents[2]


def test_exit_codes_doc_matches_table() -> None:
    text = (ROOT / "docs" / "exit-codes.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\w+) \| (.+) \|$", text, flags=re.MULTILINE)
    assert [(int(c), n, m) for c, n, m in rows] == errors.exit_code_table()


def test_exit_codes_are_distinct() -> None:
    codes = [c for c, _n, _m in errors.exit_code_table()]
    assert len(codes) == len(set(codes))


def test_every_runbook_link_exists_and_follows_the_template() -> None:
    for cls in errors.ERROR_CLASSES:
        if cls.runbook is None:
            continue
        page = ROOT / cls.runbook
        assert page.is_file(), f"{cls.__name__} points at missing {cls.runbook}"
        text = page.read_text()
        for heading in ("## Symptom", "## Decision tree", "## Steps", "## Diagnostics",
                        "## Escalation", "## Undo"):
            assert heading in text, f"{cls.runbook} lacks {heading}"
