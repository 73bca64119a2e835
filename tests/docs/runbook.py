"""Run the console blocks of a runbook against a demo registry (docs/runbooks/README.md).

The format, in short: a ```console block holds `$ ` command lines (a trailing backslash continues
one on the next line) each followed by its expected output; `  # exit N` at the end of a command
line expects exit code N (default 0). A `<!-- setup` ... `-->` comment holds shell lines that make
the situation (their output is not compared). Every block of a page runs, in order, in ONE bash
session (variables and `cd` carry over, stdout and stderr interleaved as in a terminal) started
in the demo registry. Expected and actual output are compared after `normalise()`; a line `...`
in the expected output matches any run of lines, and `...` inside a line any text there.

`python -m tests.docs.runbook docs/runbooks/PAGE.md` runs a page on a fresh demo and prints every
block with its actual (normalised) output: the way to write or refresh a page.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
TIMEOUT = 300  # seconds for one page; a page takes a few seconds

_FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+)(?P<lang>[\w-]*)\s*$")
_SETUP_OPEN = re.compile(r"^(?P<indent> *)<!-- setup\s*$")
_SETUP_CLOSE = re.compile(r"^ *-->\s*$")
_EXIT = re.compile(r"\s+#\s*exit\s+(?P<code>\d+)\s*$")
_MARK = "@@runbook-step@@"


@dataclass(frozen=True)
class Step:
    """One command of a console block (or a whole setup block) and what it must print."""

    page: str
    line: int  # 1-based line of the command in the page
    kind: str  # "command" | "setup"
    command: str
    expected: tuple[str, ...]
    exit_code: int


@dataclass(frozen=True)
class Result:
    step: Step
    output: str
    exit_code: int | None  # None: the shell ended before the step finished


class FormatError(ValueError):
    pass


def parse(text: str, page: str) -> list[Step]:
    """The executed steps of a page, in order."""
    lines = text.splitlines()
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        setup = _SETUP_OPEN.match(lines[i])
        if fence:
            indent, ticks = len(fence["indent"]), fence["ticks"]
            end = i + 1
            while end < len(lines) and lines[end].strip() != ticks:
                end += 1
            if end == len(lines):
                raise FormatError(f"{page}:{i + 1}: the {ticks} fence is never closed")
            if fence["lang"] == "console":
                body = [_dedent(line, indent) for line in lines[i + 1:end]]
                steps += _console(body, page, i + 2)
            i = end + 1
        elif setup:
            indent = len(setup["indent"])
            end = i + 1
            while end < len(lines) and not _SETUP_CLOSE.match(lines[end]):
                end += 1
            if end == len(lines):
                raise FormatError(f"{page}:{i + 1}: the setup comment is never closed")
            script = "\n".join(_dedent(line, indent) for line in lines[i + 1:end])
            steps.append(Step(page, i + 1, "setup", script, (), 0))
            i = end + 1
        else:
            i += 1
    return steps


def _dedent(line: str, indent: int) -> str:
    return line[indent:] if line[:indent].strip() == "" else line.lstrip()


def _console(body: list[str], page: str, first: int) -> list[Step]:
    steps: list[Step] = []
    command: list[str] = []
    start = 0
    expected: list[str] = []

    def close() -> None:
        if command:
            text = "\n".join(command)
            found = _EXIT.search(command[-1])
            code = int(found["code"]) if found else 0
            steps.append(Step(page, start, "command", text, tuple(expected), code))

    n = 0
    while n < len(body):
        line = body[n]
        if line.startswith("$ "):
            close()
            start, command, expected = first + n, [line[2:]], []
            while command[-1].endswith("\\") and n + 1 < len(body):
                n += 1
                command.append(body[n])
        elif not command:
            raise FormatError(f"{page}:{first + n}: output before the first '$ ' command line")
        else:
            expected.append(line)
        n += 1
    if not command:
        raise FormatError(f"{page}:{first - 1}: a console block without a '$ ' command line")
    close()
    return steps


# -- running --------------------------------------------------------------------------------------


def script(steps: Sequence[Step]) -> str:
    """One bash script for a whole page, with a marker line after every step."""
    out = ["exec 2>&1 </dev/null"]
    for n, step in enumerate(steps):
        out.append(f"printf '%s\\n' '{_MARK} begin {n}'")
        if step.kind == "setup":
            # A subshell with -e: a failing setup line stops the setup, not the page's shell.
            out.append(f"(\nset -e\n{step.command}\n)")
        else:
            out.append(step.command)
        out.append(f"printf '\\n%s %d\\n' '{_MARK} end {n}' \"$?\"")
    return "\n".join(out) + "\n"


def run(steps: Sequence[Step], cwd: Path, env: Mapping[str, str]) -> list[Result]:
    """Run the steps in one bash session; a Result per step that started."""
    proc = subprocess.run(("bash", "--noprofile", "--norc", "-c", script(steps)), cwd=cwd,
                          env=dict(env), capture_output=True, timeout=TIMEOUT, check=False)
    text = proc.stdout.decode("utf-8", "replace")
    results: list[Result] = []
    for n, step in enumerate(steps):
        begin = f"{_MARK} begin {n}\n"
        if begin not in text:
            break
        body = text.split(begin, 1)[1]
        end = re.search(rf"\n{re.escape(_MARK)} end {n} (\d+)\n", body)
        if end is None:
            results.append(Result(step, body, None))
            break
        results.append(Result(step, body[:end.start()], int(end[1])))
        text = body[end.end():]
    return results


# -- comparing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """What normalise() replaces: the demo registry, the work dir, and today (UTC)."""

    repo: Path
    work: Path
    today: date


_DATETIME = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})"
                       r"((?:T| )\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b")
_COMPACT_DATE = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")  # valid-before="20261127"
_RECENT_DAYS = 40  # dates this close to today are the run's own; older ones are the demo's
_SUBS = (
    (re.compile(r"SHA256:[A-Za-z0-9+/]{43}"), "SHA256:<fingerprint>"),
    (re.compile(r"\bAAAA[A-Za-z0-9+/]{40,}={0,2}"), "<public key>"),
    (re.compile(r"(?<!\w)(?<!ssh-)[0-9a-f]{7,40}\b"), "<hash>"),  # not ssh-ed25519's
    (re.compile(r"\b\d+(?:\.\d+)? ?ms\b"), "<n> ms"),
    (re.compile(r"\b\d+\.\d+ ?s\b"), "<n> s"),
    (re.compile(r"\b\d+d \d+h\b"), "<age>"),  # inflight --stale: the demo's branches age
)


def normalise(text: str, places: Places) -> list[str]:
    """Lines with volatile parts replaced by placeholders and blanks collapsed."""
    lines = [" ".join(line.split()) for line in substitute(text, places).splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def substitute(text: str, places: Places) -> str:
    """text with its volatile parts replaced by placeholders."""
    for path, name in ((places.repo, "<repo>"), (places.work, "<tmp>")):
        for variant in {str(path), str(path.resolve())}:
            text = text.replace(variant, name)

    def when(m: re.Match[str], compact: bool = False) -> str:
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return m[0]
        if abs((day - places.today).days) > _RECENT_DAYS:
            return m[0]  # a date of the demo's history: deterministic, kept
        return "<time>" if not compact and m[4] else "<date>"

    text = _DATETIME.sub(when, text)
    text = _COMPACT_DATE.sub(lambda m: when(m, compact=True), text)
    for pattern, repl in _SUBS:
        text = pattern.sub(repl, text)
    return text


def matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Line by line; an expected line '...' matches any run of actual lines (none included), and
    '...' inside an expected line matches any text there."""
    memo: dict[tuple[int, int], bool] = {}

    def same(want: str, have: str) -> bool:
        if "..." not in want:
            return want == have
        pattern = ".*".join(re.escape(part) for part in want.split("..."))
        return re.fullmatch(pattern, have) is not None

    def go(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(expected):
                ok = j == len(actual)
            elif expected[i] == "...":
                ok = go(i + 1, j) or (j < len(actual) and go(i, j + 1))
            else:
                ok = j < len(actual) and same(expected[i], actual[j]) and go(i + 1, j + 1)
            memo[(i, j)] = ok
        return memo[(i, j)]

    return go(0, 0)


def check(results: Sequence[Result], steps: Sequence[Step], places: Places) -> str | None:
    """None when every step ran as shown; otherwise a report of the first difference."""
    for n, step in enumerate(steps):
        where = f"{step.page}:{step.line}"
        if n >= len(results):
            return f"{where}: the page's shell ended before this step:\n$ {step.command}"
        got = results[n]
        if step.kind == "setup":
            if got.exit_code != 0:
                return (f"{where}: the setup block failed (exit {got.exit_code}):\n"
                        f"{step.command}\n--- its output:\n{got.output}")
            continue
        want = normalise("\n".join(step.expected), places)
        have = normalise(got.output, places)
        if got.exit_code == step.exit_code and matches(want, have):
            continue
        diff = "\n".join(difflib.unified_diff(want, have, "expected (normalised)",
                                              "actual (normalised)", lineterm=""))
        return (f"{where}: the output differs from the page\n$ {step.command}\n"
                f"exit code: expected {step.exit_code}, got {got.exit_code}\n{diff}\n"
                f"--- actual output, as printed:\n{got.output}")
    return None


# -- the demo registry a page runs against --------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """A terminal's environment without the caller's git settings: git-batch from this
    interpreter's environment first on PATH, HOME (<work>/home) with an empty git config."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "SSH_AUTH_SOCK", "XDG_CONFIG_HOME"))}
    bin_dir = Path(sys.executable).parent
    (home / ".gitconfig").touch()
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", LC_ALL="C",
               TZ="UTC", GIT_CONFIG_NOSYSTEM="1", PAGER="cat", GIT_PAGER="cat",
               # the work dir (home's parent) may sit inside another repository: never find it
               GIT_CEILING_DIRECTORIES=str(home.parent.parent))
    return env


def make_demo(work: Path) -> Path:
    """`git batch demo <work>/registry` in a clean environment; the registry's path."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(home)
    subprocess.run(("git", "batch", "demo", str(work / "registry")), env=env, check=True,
                   capture_output=True)
    return work / "registry"


def copy_demo(template: Path, work: Path) -> Path:
    """A copy of a demo registry at <work>/registry, with its paths re-pointed at the copy (the
    remote and the signing key live in the git dir, named by absolute paths)."""
    repo = work / "registry"
    shutil.copytree(template, repo, symlinks=True)
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = clean_env(home)
    old, new = str(template), str(repo)
    for key in ("remote.origin.url", "user.signingkey"):
        value = subprocess.run(("git", "config", "--local", key), cwd=repo, env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(("git", "config", "--local", key, value.replace(old, new, 1)), cwd=repo,
                       env=env, check=True)
    return repo


def run_page(page: Path, repo: Path) -> tuple[list[Step], list[Result], Places]:
    steps = parse(page.read_text(encoding="utf-8"), str(page.relative_to(ROOT)))
    env = clean_env(repo.parent / "home")
    results = run(steps, repo, env)
    return steps, results, Places(repo, repo.parent, datetime.now(tz=UTC).date())


def pages() -> Iterator[Path]:
    """Every runbook page but the README."""
    for page in sorted(RUNBOOKS.glob("*.md")):
        if page.name != "README.md":
            yield page


def main(argv: Sequence[str]) -> int:
    """Print each step of the pages named with its actual normalised output and exit code."""
    for name in argv:
        page = Path(name).resolve()
        with tempfile.TemporaryDirectory(prefix="runbook-") as tmp:
            repo = make_demo(Path(tmp))
            steps, results, places = run_page(page, repo)
            print(f"## {page.name}")
            for got in results:
                step = got.step
                if step.kind == "setup":
                    print(f"<!-- setup (exit {got.exit_code}) -->")
                    continue
                print(f"$ {step.command}" + ("" if got.exit_code == 0 or _EXIT.search(
                    step.command) else f"  # exit {got.exit_code}"))
                print(substitute(got.output, places).rstrip("\n"))
            problem = check(results, steps, places)
            print(f"-> {problem.splitlines()[0] if problem else 'as shown'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
