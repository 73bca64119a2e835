"""Every runbook runs: each console block of each page, in order, against a demo registry.

The format is documented in docs/runbooks/README.md; the machinery is tests/docs/runbook.py. One
case per page; a failure names the page, the line and the command, with a diff of the expected
and the actual output (both normalised).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs import runbook

PAGES = list(runbook.pages())


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One `git batch demo` for the session (the autouse isolation is per test, so the demo is
    made by a subprocess in runbook.clean_env); each page gets a copy."""
    yield runbook.make_demo(tmp_path_factory.mktemp("runbook-demo"))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_runbook_runs_as_shown(page: Path, demo_template: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    steps = runbook.parse(text, str(page.relative_to(runbook.ROOT)))
    commands = [s for s in steps if s.kind == "command"]
    assert commands, f"{page.name}: no executed command (a ```console block with '$ ' lines)"
    repo = runbook.copy_demo(demo_template, tmp_path)
    _steps, results, places = runbook.run_page(page, repo)
    problem = runbook.check(results, steps, places)
    assert problem is None, problem


# -- the machinery itself -------------------------------------------------------------------------


PAGE = """\
# A page

<!-- setup
echo made > situation.txt
-->

```console
$ cat situation.txt
made
$ printf 'a\\nb\\nc\\n' && \\
  false  # exit 1
a
...
c
```

```text
$ never run
```

1. Indented:

   ```console
   $ echo "$((6 * 7))"
   42
   ```
"""


def test_parse_reads_commands_output_exit_codes_and_setup() -> None:
    steps = runbook.parse(PAGE, "page.md")
    assert [(s.kind, s.line, s.exit_code, s.expected) for s in steps] == [
        ("setup", 3, 0, ()),
        ("command", 8, 0, ("made",)),
        ("command", 10, 1, ("a", "...", "c")),
        ("command", 24, 0, ("42",)),
    ]
    assert steps[0].command == "echo made > situation.txt"
    assert steps[2].command == "printf 'a\\nb\\nc\\n' && \\\n  false  # exit 1"


def test_parse_refuses_output_without_a_command_and_open_fences() -> None:
    with pytest.raises(runbook.FormatError, match=r"page\.md:2: output before"):
        runbook.parse("```console\nhello\n$ echo\n```\n", "page.md")
    with pytest.raises(runbook.FormatError, match="never closed"):
        runbook.parse("```console\n$ echo\n", "page.md")
    with pytest.raises(runbook.FormatError, match="never closed"):
        runbook.parse("<!-- setup\necho\n", "page.md")


def test_normalise_placeholders(tmp_path: Path) -> None:
    from datetime import date  # noqa: PLC0415

    places = runbook.Places(tmp_path / "registry", tmp_path, date(2026, 11, 26))
    text = (f"wrote 1a2b3c4d5e in {tmp_path}/registry/.git at 2026-11-26T18:40:43Z\n"
            f"  id 2026-11-26-003 of 2026-01-06-006   took 12 ms, 1.5 s; {tmp_path}/x\n"
            "key SHA256:" + "A" * 43 + " since 2026-11-27 10:00\n"
            'ssh-ed25519 valid-before="20261127Z" 20250101\n\n')
    assert runbook.normalise(text, places) == [
        "wrote <hash> in <repo>/.git at <time>",
        "id <date>-003 of 2026-01-06-006 took <n> ms, <n> s; <tmp>/x",
        "key SHA256:<fingerprint> since <time>",
        'ssh-ed25519 valid-before="<date>Z" <hash>',
    ]


def test_matches_with_ellipsis() -> None:
    assert runbook.matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert runbook.matches(["a", "...", "b"], ["a", "b"])
    assert runbook.matches(["..."], [])
    assert not runbook.matches(["a", "...", "d"], ["a", "b"])
    assert not runbook.matches(["a"], ["a", "b"])
    assert runbook.matches(["burn ... frees <time>", "x"], ["burn 96.0/h (1h) frees <time>", "x"])
    assert runbook.matches(["--only ... --with"], ["--only ... --with"])
    assert not runbook.matches(["burn ... frees"], ["burn 1 frees soon"])


def test_page_runs_in_one_shell_and_failures_name_page_line_and_command(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE + "\n```console\n$ X=1; echo $X\n2\n```\n")
    steps = runbook.parse(page.read_text(), "page.md")
    env = runbook.clean_env(tmp_path)
    results = runbook.run(steps, tmp_path, env)
    assert [r.exit_code for r in results] == [0, 0, 1, 0, 0]
    places = runbook.Places(tmp_path, tmp_path, __import__("datetime").date(2026, 11, 26))
    problem = runbook.check(results, steps, places)
    assert problem is not None
    assert problem.startswith("page.md:29: the output differs from the page\n$ X=1; echo $X\n")
    assert "-2\n+1" in problem
    assert runbook.check(results[:4], steps[:4], places) is None
