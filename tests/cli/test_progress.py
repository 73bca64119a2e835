"""Progress of long work: a bar on stderr when stderr is a terminal, nothing otherwise."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pytest

from gitops import demo
from tests.conftest import cli_env


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.generate(tmp_path_factory.mktemp("progress") / "r", commits=3000, seed=5).path


def run_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    """argv with stderr on a pseudo-terminal; (exit code, stdout, what the terminal showed)."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=secondary,
                            env=cli_env({"TERM": "xterm", "COLUMNS": "100"}))
    os.close(secondary)
    shown = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(main, 4096)
        except OSError:  # the terminal's other side closed: the process ended
            break
        if not data:
            break
        shown += data
    out = proc.stdout.read() if proc.stdout else b""
    code = proc.wait(timeout=60)
    os.close(main)
    return code, out, shown


def test_index_build_shows_a_bar_on_a_terminal(registry: Path) -> None:
    code, out, shown = run_on_a_terminal(["git", "batch", "index", "--rebuild"], registry)
    assert code == 0, shown
    assert b"indexing" in shown and b"%" in shown and b"commits/s" in shown
    assert b"3" in shown and b"000" in shown  # the position out of the total
    assert out.startswith(b"index ")  # the result still goes to stdout, without the bar


def test_nothing_but_the_result_when_not_a_terminal(registry: Path) -> None:
    res = subprocess.run(["git", "batch", "index", "--rebuild"], cwd=registry,
                         capture_output=True, env=cli_env(), check=False)
    assert res.returncode == 0 and res.stderr == b""
    assert res.stdout.startswith(b"index ")
