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


TEMPLATE = ("## Symptom", "## Decision tree", "## Steps", "## Diagnostics", "## Escalation",
            "## Undo")
RUNBOOKS = ROOT / "docs" / "runbooks"
# The situations issue 8 names, each with its page.
SITUATIONS = ("emergency-stop", "rollback-batch", "inflight-broken", "breaker-open",
              "budget-exhausted", "slo-breach", "state-untrusted", "stuck-batch-pr",
              "reapply-batch", "rotate-operator-key")


def test_every_runbook_link_exists_and_follows_the_template() -> None:
    for cls in errors.ERROR_CLASSES:
        if cls.runbook is None:
            continue
        page = ROOT / cls.runbook
        assert page.is_file(), f"{cls.__name__} points at missing {cls.runbook}"
        text = page.read_text()
        for heading in TEMPLATE:
            assert heading in text, f"{cls.runbook} lacks {heading}"


def test_every_runbook_page_follows_the_template_in_order_and_is_indexed() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    pages = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
    assert {p.stem for p in pages} >= set(SITUATIONS)
    for page in pages:
        text = page.read_text()
        where = [text.find(f"\n{heading}\n") for heading in TEMPLATE]
        assert -1 not in where, f"{page.name} lacks one of {TEMPLATE}"
        assert where == sorted(where), f"{page.name}: the sections are not in template order"
        assert f"]({page.name})" in index, f"docs/runbooks/README.md does not list {page.name}"
