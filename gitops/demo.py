"""Generator of realistic sample registries (used by `git batch demo`, tests, bench/).

The whole history is written by one `git fast-import` stream, fed while it is being generated, so
200,000 commits take minutes rather than hours. Everything is deterministic for a given
(commits, seed): dates advance from a fixed start (no clock reads) and every choice comes from
`random.Random(seed)`.

History, oldest first: an initial commit (README, `.git-batch.toml`, control file, a core set of
recipes), then filler (single-recipe edits by people and a version bot, recipes growing to about
commits/10, and a batch every ~400 commits in every form), then a fixed "named" section of
NAMED_COMMITS commits holding the batches a new user should look at, then the in-flight refs.

With `operator=True` (what `git batch demo` does) the demo can also be operated: a fresh ssh key
in the git dir, listed in the allowed-signers file by one more commit on main (so only that last
commit differs between runs), signing configured in the repository's own config, a bare `origin`
inside the git dir, and the ops branch created and published there.

The ground truth in `DemoInfo` is computed from what the generator wrote, never guessed:
- a path's net status over a batch compares `pre` (before the batch's first touch of it) with
  `post` (after its last touch): added, deleted, modified, or none (added then deleted inside).
- later_edited: managed paths of the batch changed by a later commit on main that is no batch's
  commit. A merge commit does not change a path it takes unchanged from one of its parents (git's
  TREESAME rule), so the merge that lands a batch is not a later edit of it.
- no two batches ever touch the same managed path, and the batch bot never touches
  `curated = true` recipes, so "not this batch" and "not a batch" mean the same thing for later
  edits.
- dependencies only point at "lib" recipes created earlier, and only "app" recipes that nothing
  depends on are deleted, so every dependency at every commit of main names a recipe that exists.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitops.config import CONFIG_FILENAME, Config, controls_default_lines
from gitops.context import load_context
from gitops.errors import UsageError
from gitops.git import process
from gitops.ops import write

MIN_COMMITS = 60
DEFAULT_COMMITS = 120
BASE_BRANCH = "main"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ECOSYSTEMS = ("homebrew", "cargo", "npm", "pypi")
CONTROL_FILE = "batch-control.json"

# Commits reachable from main that the named section adds (checked by an assertion).
NAMED_COMMITS = 28

_MAIN_REF = f"refs/heads/{BASE_BRANCH}"
_BOT = ("registry-bot", "bot@registry.example")
_VERSION_BOT = ("version-bot", "version-bot@registry.example")
_GITHUB = ("GitHub", "noreply@github.com")
_HUMANS = (
    ("Ana Lima", "ana@registry.example"),
    ("Ben Okafor", "ben@registry.example"),
    ("Chen Wei", "chen@registry.example"),
    ("Dara Novak", "dara@registry.example"),
    ("Eli Brandt", "eli@registry.example"),
)
_FLUSH_BYTES = 1 << 20
_CONFIG = Config()

Who = tuple[str, str]
Changes = dict[str, bytes | None]


@dataclass(frozen=True)
class DemoBatch:
    """Ground truth for one batch that landed on main."""

    batch_id: str
    form: str  # "trailer" | "legacy" | "pull-request" | "merge"
    ecosystem: str
    commits: tuple[str, ...]  # oldest first; for "pull-request" the squash commit only
    added: tuple[str, ...]
    modified: tuple[str, ...]
    deleted: tuple[str, ...]
    outside: tuple[str, ...]
    later_edited: tuple[str, ...]
    pull: int | None


@dataclass(frozen=True)
class DemoOperator:
    """The demo's operator: a signing key in the git dir, listed on main, and the ops branch."""

    principal: str
    key: Path  # the private key (mode 600) inside the git dir, never in the working tree
    signers_commit: str  # the commit on main that adds the allowed-signers file
    ops_tip: str  # the signed root commit of the ops branch
    remote: str  # a bare repository inside the git dir, configured as `origin`


@dataclass(frozen=True)
class DemoInfo:
    """What `generate` built: where, how big, every batch, and the in-flight refs."""

    path: Path
    base: str
    commits: int
    batches: tuple[DemoBatch, ...]
    inflight: dict[str, str]
    operator: DemoOperator | None = None


# ---------------------------------------------------------------------------------------------
# Recipes

_WORDS = (
    "acorn", "amber", "anvil", "arrow", "atlas", "aurora", "badger", "bamboo", "basalt", "beacon",
    "birch", "blaze", "bolt", "brook", "cable", "cactus", "canyon", "cedar", "cinder", "cipher",
    "clover", "cobalt", "comet", "coral", "cove", "crane", "crest", "crystal", "cypress", "dawn",
    "dune", "ember", "falcon", "fern", "fjord", "flint", "forge", "fox", "frost", "garnet",
    "geyser", "glacier", "glyph", "granite", "grove", "harbor", "hawk", "heron", "hollow", "husk",
    "iris", "ivy", "jade", "jasper", "juniper", "kelp", "kestrel", "lagoon", "lark", "lava",
    "ledger", "lemur", "lichen", "lotus", "lumen", "lynx", "magma", "maple", "marble", "meadow",
    "mesa", "mica", "mist", "moss", "nectar", "nimbus", "oak", "onyx", "opal", "orbit", "osprey",
    "otter", "pebble", "pine", "plume", "prism", "quartz", "quill", "raven", "reef", "ridge",
    "river", "robin", "sable", "saffron", "sage", "shale", "sierra", "slate", "sparrow", "spruce",
    "summit", "swift", "talon", "thicket", "thistle", "tide", "timber", "topaz", "tundra",
    "umber", "vale", "vapor", "velvet", "vertex", "willow", "wren", "yarrow", "zephyr", "zinc",
)
_ADJECTIVES = (
    "Fast", "Minimal", "Portable", "Modern", "Simple", "Tiny", "Robust", "Friendly", "Parallel",
    "Streaming", "Declarative", "Lightweight",
)
_THINGS = (
    "command-line", "terminal", "text", "log", "archive", "network", "config", "JSON", "YAML",
    "image", "process", "file",
)
_PURPOSES = (
    "viewer", "formatter", "linter", "search tool", "manager", "inspector", "converter",
    "benchmark runner", "sync tool", "monitor", "pager", "library",
)
_ECO_NOTE = {
    "homebrew": "",
    "cargo": " written in Rust",
    "npm": " for Node.js",
    "pypi": " for Python",
}
_HOMEPAGE = {
    "homebrew": "https://downloads.example.org",
    "cargo": "https://crates.example.org/crates",
    "npm": "https://npm.example.org/package",
    "pypi": "https://pypi.example.org/project",
}
_TOOLCHAIN = {"cargo": "rust", "npm": "node", "pypi": "python"}

# The core set of the initial commit: (name, kind, dependencies, description). A lib may be a
# dependency; an app is a leaf. Dependencies only name entries above them.
_CORE: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("pkg-config", "lib", (), "Manage compile and link flags for libraries"),
    ("cmake", "lib", (), "Cross-platform make"),
    ("perl", "lib", (), "Highly capable, feature-rich programming language"),
    ("autoconf", "lib", ("perl",), "Automatic configure script builder"),
    ("zlib", "lib", (), "General-purpose lossless data-compression library"),
    ("xz", "lib", (), "General-purpose data compression with high compression ratio"),
    ("bzip2", "lib", (), "Freely available high-quality data compressor"),
    ("openssl", "lib", (), "Cryptography and SSL/TLS toolkit"),
    ("libffi", "lib", (), "Portable foreign function interface library"),
    ("ncurses", "lib", (), "Text-based UI library"),
    ("readline", "lib", ("ncurses",), "Library for command-line editing"),
    ("sqlite", "lib", ("readline", "zlib"), "Command-line interface for SQLite"),
    ("pcre2", "lib", ("zlib", "bzip2"), "Perl compatible regular expressions library"),
    ("libyaml", "lib", (), "YAML parser and emitter"),
    ("gettext", "lib", (), "GNU internationalization (i18n) and localization (l10n) library"),
    ("libiconv", "lib", (), "Conversion library"),
    ("curl", "lib", ("openssl", "zlib"), "Get a file from an HTTP, HTTPS or FTP server"),
    ("python", "lib", ("openssl", "libffi", "readline", "sqlite", "xz", "bzip2", "zlib"),
     "Interpreted, interactive, object-oriented programming language"),
    ("node", "lib", ("openssl", "zlib"), "Platform built on V8 to build network applications"),
    ("rust", "lib", ("openssl", "pkg-config"), "Safe, concurrent, practical language"),
    ("go", "lib", (), "Open source programming language to build simple software"),
    ("ruby", "lib", ("openssl", "libyaml", "readline"),
     "Powerful, clean, object-oriented scripting language"),
    ("git", "app", ("curl", "pcre2", "gettext", "openssl", "zlib"), "Distributed revision control"),
    ("htop", "app", ("ncurses",), "Improved top (interactive process viewer)"),
    ("tree", "app", (), "Display directories as trees"),
    ("wget", "app", ("openssl", "libiconv"), "Internet file retriever"),
    ("watch", "app", ("ncurses",), "Executes a program periodically, showing output fullscreen"),
    ("gnu-sed", "app", ("gettext",), "GNU implementation of the famous stream editor"),
    ("nano", "app", ("ncurses", "gettext"), "Free (GNU) replacement for the Pico text editor"),
    ("tmux", "app", ("ncurses",), "Terminal multiplexer"),
)

# Versions of the core set as of the start date; every other recipe gets a generated one.
_CORE_VERSIONS = {
    "pkg-config": "0.29.2", "cmake": "3.28.1", "perl": "5.38.2", "autoconf": "2.72.0",
    "zlib": "1.3.1", "xz": "5.4.5", "bzip2": "1.0.8", "openssl": "3.2.0", "libffi": "3.4.4",
    "ncurses": "6.4.0", "readline": "8.2.7", "sqlite": "3.44.2", "pcre2": "10.42.0",
    "libyaml": "0.2.5", "gettext": "0.22.4", "libiconv": "1.17.0", "curl": "8.5.0",
    "python": "3.12.1", "node": "21.5.0", "rust": "1.75.0", "go": "1.21.5", "ruby": "3.3.0",
    "git": "2.43.0", "htop": "3.2.2", "tree": "2.1.1", "wget": "1.21.4", "watch": "4.0.4",
    "gnu-sed": "4.9.0", "nano": "7.2.0", "tmux": "3.3.0",
}

# Descriptions of the recipes the named batches add (other recipes get generated ones).
_KNOWN = {
    "oniguruma": "Regular expressions library",
    "jq": "Lightweight and flexible command-line JSON processor",
    "ripgrep": "Search tool like grep and The Silver Searcher",
    "libgit2": "C library of Git core methods that is re-entrant and linkable",
    "exa": "Modern replacement for ls",
    "eza": "Modern, maintained replacement for ls",
    "bat": "Clone of cat with syntax highlighting and Git integration",
    "fd": "Simple, fast and user-friendly alternative to find",
    "hyperfine": "Command-line benchmarking tool",
    "fzf": "Command-line fuzzy finder written in Go",
    "pyyaml": "YAML parser and emitter for Python",
    "httpie": "User-friendly cURL replacement (command-line HTTP client)",
    "black": "Python code formatter",
    "poetry": "Python package management tool",
    "tox": "Generic Python virtualenv management and test command-line tool",
    "just": "Handy way to save and run project-specific commands",
    "tokei": "Program that allows you to count code, quickly",
    "zoxide": "Shell extension to navigate your filesystem faster",
    "bottom": "Yet another cross-platform graphical process/system monitor",
    "typescript": "Language for application scale JavaScript development",
    "prettier": "Code formatter for JavaScript, CSS, JSON, GraphQL, Markdown, YAML",
    "eslint": "AST-based pattern checker for JavaScript",
    "pnpm": "Fast, disk space efficient package manager",
    "yarn": "JavaScript package manager",
    "serve": "Static file serving and directory listing",
    "delta": "Programmable diff, grep and blame output viewer",
    "mypy": "Experimental optional static type checker for Python",
    "pytest": "Simple powerful testing with Python",
    "uv": "Extremely fast Python package installer and resolver",
    "pre-commit": "Framework for managing multi-language pre-commit hooks",
    "twine": "Utilities for interacting with PyPI",
    "vite": "Next generation frontend tooling",
    "esbuild": "Extremely fast JavaScript bundler and minifier",
    "turbo": "High-performance build system for JavaScript and TypeScript codebases",
    "pytest-cov": "Coverage plugin for pytest",
}


@dataclass
class _Recipe:
    name: str
    ecosystem: str
    kind: str  # "lib" may be depended on; "app" is a leaf and may be deleted
    order: int  # creation order: a recipe only depends on older libs, so the graph is a DAG
    version: str
    description: str
    checksum: str
    deps: list[str]
    runtime: list[str]
    build: list[str]
    aliases: list[str] = field(default_factory=list)
    curated: bool = False
    rdeps: int = 0  # how many recipes on main depend on this one

    @property
    def path(self) -> str:
        return recipe_path(self.name)

    def needs(self) -> set[str]:
        return {*self.deps, *self.runtime, *self.build}


def recipe_path(name: str) -> str:
    """Where the recipe called name lives: recipes/<first letter>/<name>.toml."""
    return f"recipes/{name[0]}/{name}.toml"


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in items) + "]"


def _render(r: _Recipe) -> bytes:
    lines = [
        "[metadata]",
        f'name = "{r.name}"',
        f'version = "{r.version}"',
        f'description = "{r.description}"',
        f'homepage = "{_HOMEPAGE[r.ecosystem]}/{r.name}"',
        f"dependencies = {_toml_list(r.deps)}",
        f"runtime_dependencies = {_toml_list(r.runtime)}",
    ]
    if r.aliases:
        lines.append(f"aliases = {_toml_list(r.aliases)}")
    if r.curated:
        lines.append("curated = true")
    if r.ecosystem == "homebrew":
        archive = f"https://downloads.example.org/{r.name}/{r.name}-{r.version}.tar.gz"
        install = "install_libraries" if r.kind == "lib" else "install_binaries"
        lines += [
            "", "[[steps]]", 'action = "download"', f'url = "{archive}"',
            f'sha256 = "{r.checksum}"',
            "", "[[steps]]",
            f'action = "{"cmake_build" if "cmake" in r.build else "configure_make"}"',
            f"dependencies = {_toml_list(r.build)}",
            "", "[[steps]]", f'action = "{install}"',
        ]
    else:
        action = {"cargo": "cargo_install", "npm": "npm_install", "pypi": "pipx_install"}
        lines += [
            "", "[[steps]]", f'action = "{action[r.ecosystem]}"', f'package = "{r.name}"',
            f'version = "{r.version}"', f'checksum = "sha256:{r.checksum}"',
            f"dependencies = {_toml_list(r.build)}",
        ]
        if r.kind == "app":
            lines += ["", "[[steps]]", 'action = "install_binaries"', f'binaries = ["{r.name}"]']
    return ("\n".join(lines) + "\n").encode()


def _config_text() -> str:
    """Every setting of `.git-batch.toml` written out with its default (base branch: main)."""
    out = [
        "# git-batch settings for this registry. Every key is shown with its default value,",
        "# except repo.base_branch, which names main explicitly.",
    ]
    for section, body in _CONFIG._asdict().items():
        if section == "source":
            continue
        out += ["", f"[{section}]"]
        if section in ("breaker", "budget", "slo"):  # nested tables
            out += controls_default_lines(section)
            continue
        for key, value in body._asdict().items():
            shown = BASE_BRANCH if key == "base_branch" else value
            out.append(f"{key} = {_toml_value(shown)}")
    return "\n".join(out) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # Literal strings keep regex backslashes readable; no default contains a quote.
        return f"'{value}'" if "\\" in value else f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")  # pragma: no cover


def _readme(reviewed: str) -> bytes:
    return (
        "# Example package registry\n\n"
        "Recipes for command-line tools and libraries, one TOML file per recipe under\n"
        "`recipes/<first letter>/<name>.toml`. Most recipes are written by the batch bot\n"
        "(`registry-bot`): every bot commit carries `Batch-Id:` and `Batch-Ecosystem:` trailers,\n"
        "and older runs wrote a `batch_id:` line instead. People adopt a recipe by setting\n"
        "`curated = true`; the bot leaves curated recipes alone.\n\n"
        "- `batch-control.json`: the bot's control file, updated by every batch commit\n"
        "- `data/metrics/<batch id>.json`, `data/failures/<batch id>.jsonl`: run results\n"
        "- `.git-batch.toml`: settings for `git batch`\n\n"
        "This repository was made by `git batch demo`: it is sample data.\n\n"
        f"Last reviewed: {reviewed}.\n"
    ).encode()


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _is_managed(path: str) -> bool:
    return _CONFIG.is_managed(path)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------------------------
# Generator state


@dataclass
class _Batch:
    form: str
    ecosystem: str
    pull: int | None = None
    batch_id: str = ""
    marks: list[int] = field(default_factory=list)
    pre: dict[str, bytes | None] = field(default_factory=dict)
    post: dict[str, bytes | None] = field(default_factory=dict)
    later: set[str] = field(default_factory=set)
    own: list[str] = field(default_factory=list)  # recipes it added, in order
    runs: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    failures: list[bytes] = field(default_factory=list)


class _Pool:
    """A set of names with O(1) add, remove and random pick (deterministic for a given rng)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.pos: dict[str, int] = {}

    def add(self, name: str) -> None:
        self.pos[name] = len(self.items)
        self.items.append(name)

    def remove(self, name: str) -> None:
        i = self.pos.pop(name)
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i

    def discard(self, name: str) -> None:
        if name in self.pos:
            self.remove(name)

    def pick(self, rng: random.Random) -> str:
        return self.items[rng.randrange(len(self.items))]

    def __len__(self) -> int:
        return len(self.items)


# A recipe a batch adds: (preferred name or None, kind, extra dependencies).
_Spec = tuple[str | None, str, tuple[str, ...]]


class _Gen:
    def __init__(self, commits: int, seed: int) -> None:
        self.target = commits
        # Sample data, not secrets: a seeded PRNG is exactly what determinism needs.
        self.rng = random.Random(seed)  # noqa: S311
        self.buf: list[bytes] = []
        self.buf_size = 0
        self.next_mark = 1
        self.clock = START
        self.day_seq: dict[str, int] = {}
        self.files: dict[str, bytes] = {}  # main's tree, as far as batches are concerned
        self.recipes: dict[str, _Recipe] = {}
        self.names = _Pool()
        self.apps = _Pool()
        self.free = _Pool()  # recipes no batch has touched (people's own)
        self.libs: list[str] = []  # libs are never deleted
        self.libs_by_eco: dict[str, list[str]] = {eco: [] for eco in ECOSYSTEMS}
        self.used: set[str] = set()  # recipe names and aliases ever used
        self.owner: dict[str, _Batch] = {}
        self.batches: list[_Batch] = []
        self.main_count = 0
        self.main_mark = 0
        self.order = 0
        self.sequence = 0
        self.last_pull = 0
        self.pull_base = 0
        self.inflight: dict[str, str] = {}

    # -- low level: the stream and the bookkeeping ---------------------------------------------

    def _take(self) -> bytes:
        data = b"".join(self.buf)
        self.buf.clear()
        self.buf_size = 0
        return data

    def _tick(self, lo: int, hi: int) -> int:
        t = self.clock + timedelta(minutes=self.rng.randint(lo, hi))
        if t.hour >= 18:  # nobody works at night, not even the bot: next morning
            t = (t + timedelta(days=1)).replace(hour=9, minute=self.rng.randint(0, 30))
        self.clock = t
        return int(t.timestamp())

    def _new_id(self) -> str:
        day = f"{self.clock:%Y-%m-%d}"
        n = self.day_seq.get(day, 0) + 1
        self.day_seq[day] = n
        return f"{day}-{n:03d}"

    def _emit(
        self, ref: str, who: Who, when: int, message: str, changes: Changes, *,
        committer: Who | None = None, parent: int | None = None, merge: int | None = None,
    ) -> int:
        mark = self.next_mark
        self.next_mark += 1
        msg = message.encode()
        by = committer or who
        head = (
            f"commit {ref}\nmark :{mark}\n"
            f"author {who[0]} <{who[1]}> {when} +0000\n"
            f"committer {by[0]} <{by[1]}> {when} +0000\n"
            f"data {len(msg)}\n"
        )
        parts = [head.encode(), msg, b"\n"]
        if parent is not None:
            parts.append(f"from :{parent}\n".encode())
        if merge is not None:
            parts.append(f"merge :{merge}\n".encode())
        size = len(msg) + 200
        for path, data in changes.items():
            if data is None:
                parts.append(f"D {path}\n".encode())
            else:
                parts += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
                size += len(data) + 40
        parts.append(b"\n")
        self.buf += parts
        self.buf_size += size
        return mark

    def _reset(self, ref: str, mark: int) -> None:
        self.buf.append(f"reset {ref}\nfrom :{mark}\n\n".encode())

    def _record(self, changes: Changes, batch: _Batch | None) -> None:
        """Apply changes to main's files; note batch pre/post states and later edits."""
        for path, new in changes.items():
            old = self.files.get(path)
            if batch is not None:
                if path not in batch.pre:
                    batch.pre[path] = old
                batch.post[path] = new
                if _is_managed(path):
                    self.owner[path] = batch
                    self.free.discard(path.rpartition("/")[2].removesuffix(".toml"))
            elif path in self.owner and old != new:
                self.owner[path].later.add(path)
            if new is None:
                self.files.pop(path, None)
            else:
                self.files[path] = new

    def _on_main(
        self, who: Who, when: int, message: str, changes: Changes, *,
        batch: _Batch | None = None, committer: Who | None = None, merge: int | None = None,
        record: bool = True,
    ) -> int:
        mark = self._emit(
            _MAIN_REF, who, when, message, changes, committer=committer,
            parent=self.main_mark if merge is not None else None, merge=merge,
        )
        if record:
            self._record(changes, batch)
        self.main_count += 1
        self.main_mark = mark
        return mark

    def _human(self) -> Who:
        return self.rng.choice(_HUMANS)

    # -- recipes -------------------------------------------------------------------------------

    def _version(self) -> str:
        rng = self.rng
        return f"{rng.randint(0, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"

    def _checksum(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def _description(self, ecosystem: str) -> str:
        rng = self.rng
        return (f"{rng.choice(_ADJECTIVES)} {rng.choice(_THINGS)} {rng.choice(_PURPOSES)}"
                f"{_ECO_NOTE[ecosystem]}")

    def _fresh_name(self, preferred: str | None, ecosystem: str) -> str:
        if preferred and preferred not in self.used:
            return preferred
        rng = self.rng
        tries = 0
        while True:
            a, b = rng.choice(_WORDS), rng.choice(_WORDS)
            pattern = rng.randrange(3)
            if ecosystem == "homebrew":
                name = (f"{a}{b}", f"lib{a}", f"{a}-{b}")[pattern]
            elif ecosystem == "cargo":
                name = (f"{a}-{b}", f"cargo-{a}", f"{a}-rs")[pattern]
            elif ecosystem == "npm":
                name = (f"{a}-{b}", f"{a}js", f"node-{a}")[pattern]
            else:
                name = (f"py{a}", f"{a}-{b}", f"python-{a}")[pattern]
            tries += 1
            if tries > 8:
                name = f"{name}{rng.randint(2, 99)}"
            if name not in self.used:
                return name

    def _create(self, ecosystem: str, kind: str, name: str | None = None,
                extra: Sequence[str] = (), *, core: str = "") -> _Recipe:
        """A new recipe on main's records; core (a description) builds an entry of _CORE."""
        rng = self.rng
        name = self._fresh_name(name, ecosystem)
        self.used.add(name)
        self.order += 1
        deps = [d for d in extra if d in self.recipes]
        toolchain = _TOOLCHAIN.get(ecosystem)
        runtime = [toolchain] if toolchain and ecosystem != "cargo" else []
        build: list[str]
        if core:
            build = [] if name in ("pkg-config", "cmake", "perl") else ["pkg-config"]
        else:
            for _ in range(rng.randint(0, 2)):
                # Mostly libraries of the recipe's own ecosystem, else system ones (homebrew).
                pool = self.libs_by_eco[ecosystem if rng.random() < 0.5 else "homebrew"]
                lib = pool[rng.randrange(len(pool))] if pool else "zlib"
                if lib not in deps:
                    deps.append(lib)
            build = [toolchain] if toolchain else rng.choice(
                (["pkg-config"], ["cmake"], ["autoconf", "pkg-config"])
            )
        recipe = _Recipe(
            name=name, ecosystem=ecosystem, kind=kind, order=self.order,
            version=_CORE_VERSIONS[name] if core else self._version(),
            description=core or _KNOWN.get(name) or self._description(ecosystem),
            checksum=self._checksum(),
            deps=deps, runtime=runtime, build=build,
        )
        if not core and kind == "app" and rng.random() < 0.1 and f"{name}-cli" not in self.used:
            recipe.aliases.append(f"{name}-cli")
            self.used.add(f"{name}-cli")
        self._register(recipe)
        return recipe

    def _register(self, r: _Recipe) -> None:
        self.recipes[r.name] = r
        self.names.add(r.name)
        self.free.add(r.name)  # until a batch's commit records it (see _record)
        if r.kind == "lib":
            self.libs.append(r.name)
            self.libs_by_eco[r.ecosystem].append(r.name)
        else:
            self.apps.add(r.name)
        for dep in r.needs():
            self.recipes[dep].rdeps += 1

    def _remove(self, r: _Recipe) -> None:
        assert r.rdeps == 0 and r.kind == "app", r.name
        del self.recipes[r.name]
        self.names.remove(r.name)
        self.free.discard(r.name)
        self.apps.remove(r.name)
        for dep in r.needs():
            self.recipes[dep].rdeps -= 1

    def _bump(self, r: _Recipe) -> None:
        major, minor, patch = (int(x) for x in r.version.split("."))
        roll = self.rng.random()
        if roll < 0.7:
            patch += 1
        elif roll < 0.95:
            minor, patch = minor + 1, 0
        else:
            major, minor, patch = major + 1, 0, 0
        r.version = f"{major}.{minor}.{patch}"
        r.checksum = self._checksum()

    def _add_dependency(self, r: _Recipe) -> str | None:
        """Make r depend on one more older lib; the name, or None if none fits."""
        for _ in range(5):
            lib = self.libs[self.rng.randrange(len(self.libs))]
            if self.recipes[lib].order < r.order and lib not in r.needs():
                r.deps.append(lib)
                self.recipes[lib].rdeps += 1
                return lib
        return None

    def _pick(self, *, exclude: set[str] | frozenset[str] = frozenset(), unowned: bool = False,
              uncurated: bool = False, prefer: Sequence[str] = ()) -> _Recipe | None:
        """A random existing recipe meeting the conditions (preferred names first), or None."""
        def fits(r: _Recipe) -> bool:
            return (r.path not in exclude and not (unowned and r.path in self.owner)
                    and not (uncurated and r.curated))
        for name in prefer:
            recipe = self.recipes.get(name)
            if recipe is not None and fits(recipe):
                return recipe
        pool = self.free if unowned else self.names
        for _ in range(30 if len(pool) else 0):
            recipe = self.recipes[pool.pick(self.rng)]
            if fits(recipe):
                return recipe
        return None

    def _pick_deletable(self, *, unowned: bool, exclude: Sequence[str] = (),
                        prefer: Sequence[str] = ()) -> _Recipe | None:
        """An app nothing depends on and nobody curated (bots also skip batch-owned paths)."""
        def fits(r: _Recipe) -> bool:
            return (r.rdeps == 0 and not r.curated and r.name not in exclude
                    and not (unowned and r.path in self.owner))
        for name in prefer:
            recipe = self.recipes.get(name)
            if recipe is not None and recipe.kind == "app" and fits(recipe):
                return recipe
        pool = self.free if unowned else self.apps
        for _ in range(30 if len(pool) else 0):
            recipe = self.recipes[pool.pick(self.rng)]
            if recipe.kind == "app" and fits(recipe):
                return recipe
        return None

    # -- people and the version bot ------------------------------------------------------------

    def _human_add(self, *, name: str | None = None, kind: str | None = None,
                   extra: Sequence[str] = (), body: str = "") -> _Recipe:
        rng = self.rng
        when = self._tick(4, 15)
        eco = rng.choice(("homebrew", "homebrew", "homebrew", "cargo", "npm", "pypi"))
        r = self._create(eco, kind or ("lib" if rng.random() < 0.2 else "app"), name, extra)
        message = f"recipes: add {r.name} {r.version}\n" + (f"\n{body}" if body else "")
        self._on_main(self._human(), when, message, {r.path: _render(r)})
        return r

    def _human_edit(self, r: _Recipe | None = None, *, exclude: set[str] | frozenset[str] =
                    frozenset(), simple: bool = False, unowned: bool = False) -> int:
        """One person edits one recipe; simple edits keep its dependencies unchanged."""
        rng = self.rng
        when = self._tick(4, 15)
        r = r or self._pick(exclude=exclude, unowned=unowned)
        if r is None:
            return self._readme_commit(when)
        roll = rng.random()
        if roll < 0.45:
            self._bump(r)
            message = f"recipes: bump {r.name} to {r.version}\n"
        elif roll < 0.65 or simple:
            r.description = self._description(r.ecosystem)
            message = f"recipes: clarify the description of {r.name}\n"
        elif roll < 0.85:
            dep = self._add_dependency(r)
            if dep is None:
                self._bump(r)
                message = f"recipes: bump {r.name} to {r.version}\n"
            else:
                message = (f"recipes: {r.name} needs {dep}\n\n"
                           "Found while building it on a clean machine.\n")
        elif roll < 0.86 and not r.curated:
            r.curated = True
            message = (f"recipes: adopt {r.name}\n\nMaintained by hand from now on; "
                       "curated = true keeps the bot away.\n")
        else:
            alias = f"{r.name}-{rng.choice(('cli', 'bin', 'tool'))}"
            if alias in self.used or roll > 0.9:
                self._bump(r)
                message = f"recipes: bump {r.name} to {r.version}\n"
            else:
                self.used.add(alias)
                r.aliases.append(alias)
                message = f"recipes: add alias {alias} for {r.name}\n"
        return self._on_main(self._human(), when, message, {r.path: _render(r)})

    def _readme_commit(self, when: int | None = None) -> int:
        when = when if when is not None else self._tick(4, 15)
        message = "docs: refresh the README\n"
        return self._on_main(self._human(), when, message,
                             {"README.md": _readme(f"{self.clock:%Y-%m-%d}")})

    def _human_step(self) -> None:
        """One filler commit: mostly a single-recipe edit; the recipe set grows to ~commits/10."""
        rng = self.rng
        roll = rng.random()
        if len(self.recipes) < len(_CORE) + self.main_count // 10 and roll < 0.6:
            self._human_add()
        elif roll < 0.02:
            self._readme_commit()
        elif roll < 0.04:
            r = self._pick_deletable(unowned=False)
            if r is None:
                self._human_edit()
                return
            when = self._tick(4, 15)
            self._remove(r)
            self._on_main(self._human(), when,
                          f"recipes: remove {r.name}\n\nUpstream archived the project.\n",
                          {r.path: None})
        elif roll < 0.22:
            r = self._pick()
            assert r is not None
            when = self._tick(1, 5)
            old = r.version
            self._bump(r)
            self._on_main(_VERSION_BOT, when,
                          f"chore(recipes): bump {r.name} from {old} to {r.version}\n",
                          {r.path: _render(r)})
        else:
            self._human_edit()

    # -- batches -------------------------------------------------------------------------------

    def _batch(self, form: str, ecosystem: str, pull: int | None = None) -> _Batch:
        b = _Batch(form=form, ecosystem=ecosystem, pull=pull)
        if form != "open":
            self.batches.append(b)
        return b

    def _batch_commit(
        self, b: _Batch, *, adds: Sequence[_Spec] = (), mods: Sequence[str] = (),
        dels: Sequence[str] = (), failures: int = 0, ref: str = _MAIN_REF,
        parent: int | None = None,
    ) -> tuple[int, list[str]]:
        """One bot commit of batch b; returns its mark and the names of the recipes it added."""
        when = self._tick(1, 3)
        if not b.batch_id:
            b.batch_id = self._new_id()
        changes: Changes = {}
        created: list[str] = []
        for name, kind, extra in adds:
            r = self._create(b.ecosystem, kind, name, extra)
            changes[r.path] = _render(r)
            created.append(r.name)
        b.own += created
        for name in mods:
            r = self.recipes[name]
            self._bump(r)
            changes[r.path] = _render(r)
        for name in dels:
            r = self.recipes[name]
            self._remove(r)
            changes[r.path] = None
        b.runs += 1
        b.added += len(adds)
        b.updated += len(mods)
        b.removed += len(dels)
        self.sequence += 1
        changes[CONTROL_FILE] = _json({
            "schema_version": 1, "sequence": self.sequence, "last_batch": b.batch_id,
            "ecosystem": b.ecosystem, "recipes_written": len(adds) + len(mods),
        })
        changes[f"data/metrics/{b.batch_id}.json"] = _json({
            "batch_id": b.batch_id, "ecosystem": b.ecosystem, "commits": b.runs,
            "recipes_added": b.added, "recipes_updated": b.updated, "recipes_removed": b.removed,
            "validation": {"passed": b.added + b.updated - len(b.failures) - failures,
                           "failed": len(b.failures) + failures},
        })
        if failures:
            subjects = created + list(mods) or [b.ecosystem]
            for i in range(failures):
                line = json.dumps({
                    "recipe": subjects[i % len(subjects)],
                    "platform": self.rng.choice(("linux-x86_64", "linux-arm64", "macos-arm64")),
                    "error": self.rng.choice(("checksum mismatch", "build timeout",
                                              "missing dependency", "test failure")),
                }, sort_keys=True)
                b.failures.append(line.encode() + b"\n")
            changes[f"data/failures/{b.batch_id}.jsonl"] = b"".join(b.failures)
        message = self._batch_message(b, len(adds), len(mods), len(dels))
        if ref == _MAIN_REF:
            mark = self._on_main(_BOT, when, message, changes, batch=b)
            b.marks.append(mark)
            return mark, created
        mark = self._emit(ref.replace("{id}", b.batch_id), _BOT, when, message, changes,
                          parent=parent)
        if b.form in ("pull-request", "merge"):
            self._record(changes, b)
        if b.form == "merge":  # the branch's commits become reachable from main by the merge
            self.main_count += 1
            b.marks.append(mark)
        return mark, created

    def _batch_message(self, b: _Batch, added: int, updated: int, removed: int) -> str:
        eco = b.ecosystem
        parts = []
        if added:
            parts.append(f"add {added} {eco} {'recipe' if added == 1 else 'recipes'}")
        if updated:
            parts.append(f"update {_plural(updated, 'recipe')}")
        if removed:
            parts.append(f"remove {_plural(removed, 'deprecated recipe')}")
        kind = "feat" if added else "fix" if updated else "chore"
        summary = ", ".join(parts) or "refresh batch state"
        if b.form == "legacy":
            return (f"{summary[0].upper()}{summary[1:]}\n\nGenerated by batch run.\n\n"
                    f"batch_id: {b.batch_id}\n")
        return (f"{kind}(recipes): {summary}\n\nGenerated by batch run.\n\n"
                f"Batch-Id: {b.batch_id}\nBatch-Ecosystem: {eco}\n")

    def _net_changes(self, b: _Batch) -> Changes:
        return {p: b.post[p] for p in b.pre if b.pre[p] != b.post[p]}

    def _squash(self, b: _Batch, title: str) -> int:
        """Land a pull-request batch as one squash commit without trailers."""
        when = self._tick(2, 6)
        message = f"{title} (#{b.pull})\n\nSquashed from branch batch/{b.batch_id}.\n"
        # The files were recorded when the PR commits were made; the squash only lands them.
        mark = self._on_main(_BOT, when, message, self._net_changes(b), committer=_GITHUB,
                             record=False)
        b.marks.append(mark)
        return mark

    def _merge(self, b: _Batch, tip: int) -> int:
        """Land a merge batch with a merge commit (no trailers of its own)."""
        when = self._tick(2, 6)
        message = (f"Merge batch {b.batch_id} (#{b.pull})\n\n"
                   f"Merge branch batch/{b.batch_id} into {BASE_BRANCH}.\n")
        return self._on_main(self._human(), when, message, self._net_changes(b),
                             committer=_GITHUB, merge=tip, record=False)

    def _random_step(self, b: _Batch, *, deletes: bool) -> tuple[
            list[_Spec], list[str], list[str], int]:
        rng = self.rng
        adds: list[_Spec] = [
            (None, "lib" if rng.random() < 0.15 else "app", ()) for _ in range(rng.randint(1, 4))
        ]
        mods: list[str] = []
        if rng.random() < 0.25:
            r = self._pick(unowned=True, uncurated=True)
            if r is not None:
                mods.append(r.name)
        own = [n for n in b.own if n in self.recipes and not self.recipes[n].curated]
        if own and rng.random() < 0.2:
            name = rng.choice(own)
            if name not in mods and self.recipes[name].path in b.pre:
                mods.append(name)
        dels: list[str] = []
        if deletes and rng.random() < 0.1:
            r = self._pick_deletable(unowned=True, exclude=mods)
            if r is not None:
                dels.append(r.name)
        failures = rng.randint(1, 3) if rng.random() < 0.3 else 0
        return adds, mods, dels, failures

    def _filler_batch(self, budget: int) -> None:
        """One batch of 3-20 commits in a random form, using at most budget commits of main."""
        rng = self.rng
        form = rng.choices(("trailer", "legacy", "pull-request", "merge"), (45, 15, 20, 20))[0]
        eco = rng.choice(ECOSYSTEMS)
        size = rng.randint(3, 20)
        if form in ("trailer", "legacy"):
            b = self._batch(form, eco)
            used = 0
            for i in range(size):
                adds, mods, dels, failures = self._random_step(b, deletes=True)
                self._batch_commit(b, adds=adds, mods=mods, dels=dels, failures=failures)
                used += 1
                if i < size - 1 and used + (size - i) < budget and rng.random() < 0.15:
                    self._human_step()  # someone commits while the batch is running
                    used += 1
            return
        self.last_pull += rng.randint(1, 5)
        b = self._batch(form, eco, pull=self.last_pull)
        ref = f"refs/pull/{b.pull}/head"
        base = self.main_mark
        tip = 0
        for i in range(size):
            adds, mods, _, failures = self._random_step(b, deletes=False)
            tip, _ = self._batch_commit(b, adds=adds, mods=mods, failures=failures, ref=ref,
                                        parent=base if i == 0 else None)
        if form == "pull-request" and b.own and rng.random() < 0.5:
            self._pr_fixup(b, ref, self.recipes[rng.choice(b.own)])
        for _ in range(rng.randint(0, 3)):
            self._human_edit(exclude=set(b.pre), simple=True)
        if form == "pull-request":
            self._squash(b, f"Add {eco} recipes")
        else:
            self._merge(b, tip)

    def _pr_fixup(self, b: _Batch, ref: str, r: _Recipe) -> int:
        """A person's fix-up commit on a batch's pull request (no trailer)."""
        when = self._tick(4, 15)
        r.description = self._description(r.ecosystem)
        changes: Changes = {r.path: _render(r)}
        mark = self._emit(ref, self._human(), when,
                          f"fix: correct the description of {r.name}\n", changes)
        self._record(changes, b)
        return mark

    def _filler(self, end: int) -> Iterator[None]:
        rng = self.rng
        next_batch = rng.randint(300, 500)
        while self.main_count < end:
            left = end - self.main_count
            if self.main_count >= next_batch and left > 25:
                self._filler_batch(left - 1)
                next_batch = self.main_count + rng.randint(300, 500)
            else:
                self._human_step()
            yield

    # -- the fixed parts -----------------------------------------------------------------------

    def _initial(self) -> None:
        when = self._tick(0, 0)
        changes: Changes = {
            "README.md": _readme(f"{self.clock:%Y-%m-%d}"),
            CONFIG_FILENAME: _config_text().encode(),
            CONTROL_FILE: _json({"schema_version": 1, "sequence": 0, "last_batch": None,
                                 "ecosystem": None, "recipes_written": 0}),
        }
        for name, kind, deps, description in _CORE:
            r = self._create("homebrew", kind, name, deps, core=description)
            changes[r.path] = _render(r)
        self._on_main(_HUMANS[0], when, "Initial registry layout\n", changes)

    def _named(self) -> None:
        """The batches a new user should look at, near the end of history."""
        start = self.main_count
        self.pull_base = (self.last_pull // 100 + 1) * 100 if self.last_pull else 0

        def unowned(*prefer: str) -> list[str]:
            """A recipe no batch touched and nobody curated, for a bot to update (or none)."""
            r = self._pick(unowned=True, uncurated=True, prefer=prefer)
            return [r.name] if r else []

        def any_recipe(*prefer: str) -> _Recipe:
            """A recipe for a person to edit, preferably one no batch touched."""
            r = self._pick(unowned=True, prefer=prefer) or self._pick(prefer=prefer)
            assert r is not None
            return r

        # (1) A multi-commit trailer batch interleaved with human commits.
        b1 = self._batch("trailer", "homebrew")
        m1 = unowned("pcre2", "xz", "sqlite")
        _, c1 = self._batch_commit(b1, adds=[
            ("oniguruma", "lib", ()), ("jq", "app", ("oniguruma",)),
            ("ripgrep", "app", ("pcre2",)), ("libgit2", "lib", ("openssl", "zlib")),
        ], mods=m1)
        _, jq, ripgrep, libgit2 = c1
        # A person edits what the batch just touched, between its commits: a later edit.
        self._human_edit(self.recipes[m1[0] if m1 else jq])
        _, c2 = self._batch_commit(b1, adds=[
            ("exa", "app", ()), ("bat", "app", (libgit2,)), ("fd", "app", ()),
        ], mods=unowned("libyaml", "gettext", "libiconv"), failures=2)
        exa = c2[0]
        self._human_edit(exclude=set(b1.pre), unowned=True)
        self._batch_commit(b1, adds=[("hyperfine", "app", ()), ("fzf", "app", ())], mods=[jq])
        self._batch_commit(b1, adds=[("eza", "app", (libgit2,))], dels=[exa], failures=1)

        self._human_add(kind="app")
        self._human_edit(unowned=True)

        # (2) A legacy batch: a `batch_id:` line instead of a trailer.
        b2 = self._batch("legacy", "pypi")
        _, c3 = self._batch_commit(b2, adds=[
            ("pyyaml", "lib", ("libyaml",)), ("httpie", "app", ()), ("black", "app", ()),
        ])
        httpie = c3[1]
        self._batch_commit(b2, adds=[("poetry", "app", ()), ("tox", "app", ())],
                           mods=unowned("python", "sqlite", "readline"))

        # (3) A batch squash-merged from a pull request: no trailers on main.
        b3 = self._batch("pull-request", "cargo", pull=self.pull_base + 17)
        ref3 = f"refs/pull/{b3.pull}/head"
        _, c4 = self._batch_commit(b3, adds=[
            ("just", "app", ()), ("tokei", "app", ()), ("zoxide", "app", ()),
        ], ref=ref3, parent=self.main_mark)
        self._batch_commit(b3, adds=[("bottom", "app", ())],
                           mods=unowned("rust", "go", "cmake"), ref=ref3, failures=1)
        self._pr_fixup(b3, ref3, self.recipes[c4[2]])
        self._human_edit(exclude=set(b3.pre), simple=True, unowned=True)
        self._squash(b3, "Add cargo recipes")

        # (4) A batch merged with a merge commit; its own commits keep their trailers.
        b4 = self._batch("merge", "npm", pull=self.pull_base + 21)
        ref4 = f"refs/pull/{b4.pull}/head"
        _, c5 = self._batch_commit(b4, adds=[
            ("typescript", "lib", ()), ("prettier", "app", ()),
        ], ref=ref4, parent=self.main_mark)
        typescript, prettier = c5
        self._batch_commit(b4, adds=[("eslint", "app", (typescript,)), ("pnpm", "app", ())],
                           ref=ref4)
        tip4, _ = self._batch_commit(b4, adds=[("yarn", "app", ()), ("serve", "app", ())],
                                     mods=[prettier], ref=ref4)
        self._human_edit(exclude=set(b4.pre), simple=True, unowned=True)
        self._merge(b4, tip4)

        # People work on top: later edits, a dependency on a batch recipe, misleading prose.
        r = self.recipes[ripgrep]
        when = self._tick(4, 15)
        self._bump(r)
        self._on_main(self._human(), when, f"recipes: bump {r.name} to {r.version}\n",
                      {r.path: _render(r)})
        self._human_add(name="delta", kind="app", extra=(libgit2, "git"),
                        body=f"Builds against the {libgit2} recipe the bot added.\n")
        r = self.recipes[typescript]
        when = self._tick(4, 15)
        r.curated = True
        self._on_main(self._human(), when, f"recipes: adopt {r.name}\n\nMaintained by hand "
                      "from now on; curated = true keeps the bot away.\n", {r.path: _render(r)})
        r = any_recipe("openssl", "zlib", "curl")
        when = self._tick(4, 15)
        self._bump(r)
        self._on_main(self._human(), when, (
            f"recipes: pin {r.name} to {r.version}\n\n"
            "The build broke after the bot run discussed in the incident channel.\n"
            f"batch_id: {b2.batch_id} (see discussion)\n"), {r.path: _render(r)})
        r = any_recipe("curl", "ncurses", "readline")
        day = b1.batch_id[:10]
        when = self._tick(4, 15)
        r.description = self._description(r.ecosystem)
        self._on_main(self._human(), when, (
            f"recipes: fix the description of {r.name}\n\n"
            f"Noticed while auditing the {day} bot runs.\n"), {r.path: _render(r)})
        docs_tip = self._readme_commit()

        # (5) A batch that deletes recipes.
        b5 = self._batch("trailer", "homebrew")
        gone: list[str] = []
        for _ in range(2):
            d = self._pick_deletable(unowned=True, exclude=gone,
                                     prefer=("watch", "nano", "gnu-sed", "tree"))
            if d is not None:
                gone.append(d.name)
        keep = [n for n in unowned("htop", "tmux", "wget") if n not in gone]
        self._batch_commit(b5, dels=gone, mods=keep)
        last = self._pick_deletable(unowned=True, exclude=gone, prefer=("tree", "gnu-sed"))
        self._batch_commit(b5, dels=[last.name] if last else [])
        self._human_edit(self.recipes[httpie])  # a later edit of the legacy batch

        # (6) The most recent batch; in-flight branches below build on its recipes.
        b6 = self._batch("trailer", "pypi")
        _, c6 = self._batch_commit(b6, adds=[
            ("mypy", "app", ()), ("pytest", "lib", ()), ("uv", "app", ()),
        ])
        mypy, pytest_name = c6[0], c6[1]
        self._batch_commit(b6, adds=[("pre-commit", "app", ()), ("twine", "app", ())],
                           failures=1)
        assert self.main_count - start == NAMED_COMMITS, self.main_count - start

        self._inflight(b6, mypy, pytest_name, docs_tip)

    def _inflight(self, latest: _Batch, edited: str, depended: str, merged_tip: int) -> None:
        """Refs not merged into main (and one that is); nothing here changes main's records."""
        tip = self.main_mark
        open_batch = self._batch("open", "npm")
        ref = "refs/heads/batch/{id}"  # the id is known once the first commit is dated
        self._batch_commit(open_batch, adds=[("vite", "app", ()), ("esbuild", "app", ())],
                           ref=ref, parent=tip)
        mark2, _ = self._batch_commit(open_batch, adds=[("turbo", "app", ())], ref=ref)
        ref = ref.replace("{id}", open_batch.batch_id)
        pull = f"refs/pull/{self.pull_base + 30}/head"
        self._reset(pull, mark2)
        self.inflight[ref] = (f"open batch branch of npm batch {open_batch.batch_id} "
                              "(trailers, not merged)")
        self.inflight[pull] = f"open pull request #{self.pull_base + 30} for {ref}"

        r = self.recipes[edited]
        self._bump(r)
        fix = f"refs/heads/fix/{r.name}-build"
        self._emit(fix, self._human(), self._tick(4, 15),
                   f"recipes: fix the {r.name} build\n", {r.path: _render(r)}, parent=tip)
        self.inflight[fix] = (f"edits {r.name}, added by batch {latest.batch_id}: conflicts "
                              "with reverting it")

        new = self._create("pypi", "app", f"{depended}-cov", (depended,))
        add = f"refs/heads/add/{new.name}"
        self._emit(add, self._human(), self._tick(4, 15), f"recipes: add {new.name}\n",
                   {new.path: _render(new)}, parent=tip)
        self.inflight[add] = (f"adds {new.name}, which depends on {depended} from batch "
                              f"{latest.batch_id}: breaks if that batch is reverted")

        docs = "refs/heads/docs/readme-refresh"
        self._reset(docs, merged_tip)
        self.inflight[docs] = "already merged: its tip is reachable from main"

    # -- driving -------------------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """The fast-import stream, in pieces of about a megabyte."""
        self._initial()
        for _ in self._filler(self.target - NAMED_COMMITS):
            if self.buf_size >= _FLUSH_BYTES:
                yield self._take()
        self._named()
        self.buf.append(b"done\n")
        yield self._take()
        assert self.main_count == self.target, (self.main_count, self.target)

    def info(self, path: Path, oids: dict[int, str]) -> DemoInfo:
        return DemoInfo(
            path=path, base=BASE_BRANCH, commits=self.main_count,
            batches=tuple(_truth(b, oids) for b in self.batches), inflight=dict(self.inflight),
        )


def _truth(b: _Batch, oids: dict[int, str]) -> DemoBatch:
    added: list[str] = []
    modified: list[str] = []
    deleted: list[str] = []
    outside: list[str] = []
    managed: set[str] = set()
    for path, pre in b.pre.items():
        post = b.post[path]
        if not _is_managed(path):
            if b.form != "pull-request" or pre != post:  # a squash shows net changes only
                outside.append(path)
            continue
        managed.add(path)
        if pre is None and post is not None:
            added.append(path)
        elif pre is not None and post is None:
            deleted.append(path)
        elif pre is not None and post is not None and pre != post:
            modified.append(path)
    return DemoBatch(
        batch_id=b.batch_id, form=b.form, ecosystem=b.ecosystem,
        commits=tuple(oids[m] for m in b.marks),
        added=tuple(sorted(added)), modified=tuple(sorted(modified)),
        deleted=tuple(sorted(deleted)), outside=tuple(sorted(outside)),
        later_edited=tuple(sorted(b.later & managed)), pull=b.pull,
    )


def _read_marks(path: Path) -> dict[int, str]:
    oids: dict[int, str] = {}
    with path.open(encoding="ascii") as fh:
        for line in fh:
            mark, oid = line.split()
            oids[int(mark[1:])] = oid
    return oids


def _check_target(path: Path, commits: int) -> None:
    if commits < MIN_COMMITS:
        raise UsageError(
            f"A demo registry needs at least {MIN_COMMITS} commits, not {commits}.",
            hint=f"pass --commits {MIN_COMMITS} or more (the default is {DEFAULT_COMMITS})",
        )
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"Cannot create the demo registry at {path}: it is a file.",
            hint="choose a new or empty directory",
        )
    if path.is_dir() and any(path.iterdir()):
        raise UsageError(
            f"Cannot create the demo registry at {path}: the directory is not empty.",
            hint="choose a new or empty directory; the demo never writes into existing work",
        )


def generate(path: Path, *, commits: int = DEFAULT_COMMITS, seed: int = 7,
             bare: bool = False, operator: bool = False) -> DemoInfo:
    """Build a sample registry in path (new or empty) and return its ground truth.

    With operator, also set up a working ops branch (see add_operator): the history up to
    main^ is the same as without it, the last commit of main lists a fresh signing key.
    """
    _check_target(path, commits)
    keygen = shutil.which("ssh-keygen") if operator else None
    if operator and keygen is None:
        raise UsageError(
            "The demo's operator needs ssh-keygen (OpenSSH) to make a signing key.",
            hint="install the OpenSSH client tools, then run the demo again",
        )
    path.mkdir(parents=True, exist_ok=True)
    process.run("init", "--quiet", f"--initial-branch={BASE_BRANCH}",
               *(["--bare"] if bare else []), repo=path)
    gen = _Gen(commits, seed)
    with tempfile.TemporaryDirectory(prefix="git-batch-demo-") as tmp:
        marks = Path(tmp) / "marks"
        process.feed("fast-import", "--quiet", "--done", f"--export-marks={marks}",
                             repo=path, chunks=gen.chunks())
        oids = _read_marks(marks)
    key = operator_key(path, Path(keygen)) if keygen else None
    signers = allow_operator(path, key, gen.clock) if key else ""
    if not bare:
        # The repository is new, so checking out main here cannot clobber anybody's work.
        process.run("reset", "--hard", "--quiet", repo=path)
    info = gen.info(path, oids)
    if key is None:
        return info
    return replace(info, commits=info.commits + 1, operator=add_operator(path, key, signers))


# The operator of `git batch demo`: a key of its own, never the user's.
OPERATOR = ("Demo Operator", "operator@demo.invalid")
OPERATOR_DIR = "git-batch-demo"  # under the git dir: the key and the bare `origin`
REMOTE = "origin"
_ADMIN = ("Registry Admin", "admin@registry.example")


def _git_dir(path: Path) -> Path:
    return Path(process.run("rev-parse", "--absolute-git-dir", repo=path).text.strip())


def operator_key(path: Path, keygen: Path) -> Path:
    """A fresh ed25519 key in <git dir>/git-batch-demo/: sample data, not in the working tree."""
    home = _git_dir(path) / OPERATOR_DIR
    home.mkdir(mode=0o700)
    key = home / "operator_key"
    # ssh-keygen writes the private key with mode 600; -q and an empty passphrase: no output,
    # no prompt.
    code = process.run_program(keygen, ("-q", "-t", "ed25519", "-N", "", "-C", OPERATOR[1],
                                       "-f", str(key)), cwd=home, stdin=b"")
    if code != 0 or not key.with_suffix(".pub").is_file():
        raise UsageError(f"ssh-keygen could not make the demo's key in {home} (exit {code}).",
                         hint="check that ssh-keygen works: ssh-keygen -t ed25519 -f /tmp/k")
    return key


def allow_operator(path: Path, key: Path, after: datetime) -> str:
    """One commit on main by a registry admin listing the operator's key; its id."""
    public = key.with_suffix(".pub").read_text(encoding="ascii").split()
    listed = f"{OPERATOR[1]} {public[0]} {public[1]}\n".encode()
    message = (
        b"Allow the demo operator to sign ops commits\n\n"
        b"git batch verifies every commit of the ops branch against this file on main, so\n"
        b"changing who may operate takes a reviewed commit here.\n"
    )
    when = int((after + timedelta(minutes=30)).timestamp())
    parent = process.run("rev-parse", "--verify", "--end-of-options", f"{_MAIN_REF}^{{commit}}",
                        repo=path).text.strip()
    who = f"{_ADMIN[0]} <{_ADMIN[1]}> {when} +0000"
    stream = b"".join((
        f"commit {_MAIN_REF}\nmark :1\nauthor {who}\ncommitter {who}\n".encode(),
        f"data {len(message)}\n".encode(), message,
        f"from {parent}\nM 100644 inline {_CONFIG.ops.allowed_signers}\n".encode(),
        f"data {len(listed)}\n".encode(), listed, b"\n", b"done\n",
    ))
    process.run("fast-import", "--quiet", "--done", repo=path, stdin=stream)
    return process.run("rev-parse", "--verify", _MAIN_REF, repo=path).text.strip()


def add_operator(path: Path, key: Path, signers: str) -> DemoOperator:
    """Sign as the operator in this repository, publish main to a bare `origin` inside the git
    dir, and create the ops branch there (`git batch ops init --push origin`)."""
    for name, value in (("user.name", OPERATOR[0]), ("user.email", OPERATOR[1]),
                        ("gpg.format", "ssh"), ("user.signingkey", str(key))):
        process.run("config", "--local", name, value, repo=path)
    origin = key.parent / "origin.git"
    process.run("init", "--quiet", "--bare", f"--initial-branch={BASE_BRANCH}", str(origin),
               repo=path)
    process.run("remote", "add", REMOTE, str(origin), repo=path)
    process.run("push", "--quiet", REMOTE, f"{_MAIN_REF}:{_MAIN_REF}", repo=path)
    ctx = load_context(str(path), None, BASE_BRANCH, os.environ)
    result = write.init(ctx, push=REMOTE)
    return DemoOperator(OPERATOR[1], key, signers, result.tip, str(origin))


def describe(info: DemoInfo, *, limit: int = 10) -> str:
    """A human summary of a generated registry, with commands to try next."""
    batches = info.batches
    lines = [
        f"Created a demo registry in {info.path}: branch {info.base}, "
        f"{_plural(info.commits, 'commit')}, {_plural(len(batches), 'batch')[:-1]}"
        f"{'es' if len(batches) != 1 else ''}.",
        "",
    ]
    shown = batches[-limit:]
    title = "Batches" if len(shown) == len(batches) else (
        f"Batches (the {len(shown)} most recent of {len(batches)})")
    lines.append(f"{title}:")
    for b in shown:
        pull = f"  #{b.pull}" if b.pull is not None else ""
        count = _plural(len(b.commits), "commit")
        lines.append(
            f"  {b.batch_id}  {b.form:<12}  {b.ecosystem:<8}  {count:>10}"
            f"  +{len(b.added)} ~{len(b.modified)} -{len(b.deleted)}"
            f"  outside {len(b.outside)}  later edits {len(b.later_edited)}{pull}"
        )
    if info.inflight:
        lines += ["", "In-flight refs:"]
        width = max(len(ref) for ref in info.inflight)
        lines += [f"  {ref:<{width}}  {what}" for ref, what in info.inflight.items()]
    op = info.operator
    if op is not None:
        lines += [
            "", "Operator (sample data, configured in this repository only):",
            f"  {op.principal} signs ops commits with the key {op.key}",
            f"  listed in {_CONFIG.ops.allowed_signers} on {info.base} by {op.signers_commit[:10]}",
            f"  ops branch {_CONFIG.ops.branch} at {op.ops_tip[:10]}, published to {REMOTE} "
            f"(a bare repository: {op.remote})",
        ]
    if batches:
        latest = batches[-1].batch_id
        edited = [b for b in batches if b.form == "trailer" and b.later_edited]
        show = (edited[-1] if edited else batches[0]).batch_id
        lines += [
            "", "Try next:",
            f"  cd {info.path}",
            "  git batch list",
            f"  git batch show {show}",
            f"  git batch revert {latest} --dry-run",
            f"  git batch inflight {latest}",
        ]
        if op is not None:
            lines += [
                "  git batch status --text",
                f"  git batch pause --ecosystem {batches[-1].ecosystem} --reason \"a trial\" "
                f"--push {REMOTE}",
            ]
    return "\n".join(lines) + "\n"
