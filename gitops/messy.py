"""Generator of a messy sample registry with its exact ground truth (tests, bench/).

gitops/demo.py writes a tidy registry: every batch lands with its trailer, or as one squash
named `(#N)`. Real registries are messier, and this module writes one that is, together with
the answers a correct `git batch` must give about it. Like the demo, the whole history is one
`git fast-import` stream fed while it is generated, and everything is deterministic for a given
(commits, seed): dates advance from START towards END (the last commit of main is on
2026-11-30; no clock reads) and every choice comes from `random.Random(seed)`.

What it writes (shares and counts scale with `commits`):
- batches: a bot commit (rarely two) with `Batch-Id: <id>` or a legacy `batch_id: <id>` line
  and an `ecosystem: <name>` body line, on a pull request `refs/pull/<N>/head`, adding and
  updating recipes, adding `data/metrics/<id>.jsonl`, sometimes touching
  `recipes/discovery/*.json` (managed but excluded) and `batch-control.json`; half of them get
  1-3 fix-up commits without the id; some carry a person's unrelated commit as well.
- landing forms: squash with a custom subject and neither id nor `(#N)` (most), squash with
  `(#N)`, merge commit, several squashes, a squash of part of the files, never.
- regenerated recipes: a later batch writes byte for byte what an abandoned pull request
  carried; once, two pull requests carry exactly the same recipes and a squash carries only
  those (truly ambiguous, see MessyInfo.ambiguous).
- stacked pull requests based on a batch branch, squashed after the batch landed;
  mass mechanical edits of 100+ recipes (`migration-bot` or a person); later edits, adoptions
  (`curated = true`), hand deletions, re-added recipes; people's recipes depending on a batch's
  libraries (by name, alias or `[metadata.satisfies]` name, in any dependency field).
- in-flight noise: many people's pull requests (most squashed), open `feature/*` branches adding
  the same recipe, `batch/<id>` and `batch/<id>-retry` open with one id, pull request refs whose
  objects are missing (written after the import with `hash-object --literally`), kept and
  deleted `batch/*` branches.

The ground truth is computed from what was written, never guessed. The model keeps main's
files and recipes in memory, pull requests while they are open, and per batch what its commits
wrote; blob ids are git's (sha1 of "blob <size>\\0" + data), so tests compare them with git.
Definitions (M = managed and not excluded, per CONFIG_TEXT):
- carried: every path the batch's commits and fix-ups changed, with its blob at the pull
  request's head (None: deleted there).
- Landing.files: M paths of carried that the landing commit changes (against its first parent)
  to the carried blob; a deleted path counts when the landing deletes it. alongside: the
  commit's other changed paths. Landing.pull: the pull request it was made from.
- unlanded: M paths of carried that no landing of this batch brought.
- added/modified/deleted: M paths of the landings by main's content before and after them.
- later_edits / mechanical_edits / hand_deleted: changes by later first-parent commits of main
  to a path the batch landed, by commits that land no batch (mechanical commits apart); a
  deletion ends the batch's claim on the path (a re-added file is the re-adder's). Deletions
  by hand are the scripted "Remove broken recipes" commits and people's ordinary removals.
- protected: landed paths the batch still holds whose recipe is `curated = true` at the tip.
- dependents_outside: recipes at main's tip, outside the batch's carried paths, that name in a
  dependency field (directly) the name, an alias or a satisfies name of a recipe the batch
  added and still owns at the tip.
- ambiguous: (path, ids of the other batches whose commits wrote the same blob at that path).
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import random
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from gitops.config import CONFIG_FILENAME, parse_config_text
from gitops.demo import (
    _ADJECTIVES,
    _BOT,
    _CORE,
    _CORE_VERSIONS,
    _ECO_NOTE,
    _GITHUB,
    _HUMANS,
    _PURPOSES,
    _THINGS,
    _TOOLCHAIN,
    _VERSION_BOT,
    _WORDS,
    ECOSYSTEMS,
    DemoOperator,
    _json,
    _Pool,
    _read_marks,
    _Recipe,
    _toml_list,
    add_operator,
    allow_operator,
    operator_key,
    recipe_path,
)
from gitops.demo import _render as _render_plain
from gitops.errors import UsageError
from gitops.git import process

MIN_COMMITS = 1000
DEFAULT_COMMITS = 3000
BASE_BRANCH = "main"
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # main's last commit is at most this late
CONTROL_FILE = "batch-control.json"
PULL_REFS_CAP = 5000  # pull request refs stop growing with commits here
MECHANICAL_FILES = 100  # every mechanical commit changes at least this many managed files

CONFIG_TEXT = """\
[batch]
ecosystem_line = "ecosystem"
id_files = [{ glob = "data/metrics/*.jsonl", field = "batch_id" }]
[paths]
managed = ["recipes/**"]
exclude = ["recipes/discovery/**"]
[repo]
base_branch = "main"
[recipes]
alias_fields = ["metadata.aliases", "metadata.satisfies.*"]
[revert]
mechanical_edit_files = 50
"""
_CONFIG = parse_config_text(CONFIG_TEXT, CONFIG_FILENAME)

FORMS = ("squash-custom", "squash-pr", "merge", "split", "partial", "abandoned")
_SHARES = (75, 10, 5, 5, 3, 2)  # percent of the ordinary batches, in FORMS order
# Small registries still get every rare form several times.
_AT_LEAST = {"squash-pr": 3, "merge": 2, "split": 2, "partial": 2, "abandoned": 1}
_FULL = ("squash-custom", "squash-pr", "merge")  # forms that land every file of the pull request

_MAIN_REF = f"refs/heads/{BASE_BRANCH}"
_MIGRATION_BOT = ("migration-bot", "migration-bot@registry.example")
_FLUSH_BYTES = 1 << 20
_DOCS = ("README.md", "docs/contributing.md", "docs/batches.md", "docs/ecosystems.md")
_LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "GPL-3.0-or-later", "MPL-2.0", "ISC")

Who = tuple[str, str]
Changes = dict[str, bytes | None]


# ---------------------------------------------------------------------------------------------
# Ground truth


@dataclass(frozen=True)
class Landing:
    """One first-parent commit of main that brought (some of) a batch's files."""

    commit: str
    files: tuple[str, ...]  # the batch's managed paths it changed to the carried blob
    alongside: tuple[str, ...]  # its other changed paths
    pull: int | None  # the pull request it was made from
    subject: str


@dataclass(frozen=True)
class Stacked:
    """A person's pull request based on a batch branch, squashed after the batch landed."""

    pull: int
    head: str  # the person's commit; its parent is the batch pull request's head
    batch_id: str
    squash: str  # on main; not a member of the batch
    files: tuple[str, ...]  # what the squash changed: the person's files only


@dataclass(frozen=True)
class Ambiguity:
    """A landing that matches several batches' pull requests equally well."""

    commit: str
    files: tuple[str, ...]
    batch_ids: tuple[str, ...]


@dataclass(frozen=True)
class MessyBatch:
    """Ground truth for one batch (see the module docstring for the definitions)."""

    batch_id: str
    ecosystem: str
    id_form: str  # "trailer" | "legacy"
    commits: tuple[str, ...]  # its own commits carrying the id, oldest first
    fixups: tuple[str, ...]
    pulls: tuple[int, ...]
    branches: tuple[str, ...]  # batch/* refs kept
    landing_form: str  # one of FORMS
    landings: tuple[Landing, ...]
    unlanded: tuple[str, ...]
    added: tuple[str, ...]
    modified: tuple[str, ...]
    deleted: tuple[str, ...]
    outside: tuple[str, ...]  # non-managed or excluded paths its commits touched
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...]
    dependents_outside: tuple[str, ...]
    protected: tuple[str, ...]  # landed paths whose recipe is curated at the tip
    hand_deleted: tuple[str, ...]
    later_edits: tuple[tuple[str, str], ...]  # (path, commit)
    mechanical_edits: tuple[tuple[str, str], ...]  # (path, commit)
    carried: tuple[tuple[str, str | None], ...]  # (path, blob at the pull request head)


@dataclass(frozen=True)
class MessyInfo:
    """What `generate` built, and every answer about it."""

    path: Path
    base: str
    commits: int  # reachable from main
    batches: tuple[MessyBatch, ...]
    pulls: dict[int, str]  # number -> head commit (a missing object's refs too)
    missing_object_refs: tuple[str, ...]
    missing_objects: tuple[tuple[str, str], ...]  # (ref, the absent object its commit names)
    duplicate_branches: tuple[tuple[str, ...], ...]
    mechanical_commits: tuple[str, ...]
    stacked: tuple[Stacked, ...]
    ambiguous: tuple[Ambiguity, ...]
    readded: tuple[tuple[str, str, str], ...]  # (path, batch it was deleted from, re-adder)
    operator: DemoOperator | None = None


def blob_id(data: bytes) -> str:
    """git's object id of a blob holding data."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def counts(info: MessyInfo) -> dict[str, int]:
    """How often each phenomenon occurs in a generated registry (for reports and tests)."""
    out = {f"form {form}": sum(b.landing_form == form for b in info.batches) for form in FORMS}
    batches = info.batches
    out.update({
        "batches": len(batches),
        "legacy ids": sum(b.id_form == "legacy" for b in batches),
        "with fix-ups": sum(bool(b.fixups) for b in batches),
        "landings": sum(len(b.landings) for b in batches),
        "landings with (#N)": sum(f"(#{ln.pull})" in ln.subject
                                  for b in batches for ln in b.landings),
        "batches ambiguous": sum(bool(b.ambiguous) for b in batches),
        "batches with later edits": sum(bool(b.later_edits) for b in batches),
        "batches with mechanical edits": sum(bool(b.mechanical_edits) for b in batches),
        "batches with 10+ dependents outside": sum(len(b.dependents_outside) >= 10
                                                   for b in batches),
        "batches with protected recipes": sum(bool(b.protected) for b in batches),
        "batches with hand deletions": sum(bool(b.hand_deleted) for b in batches),
        "kept batch branches": sum(len(b.branches) for b in batches),
        "pull request refs": len(info.pulls),
        "missing object refs": len(info.missing_object_refs),
        "duplicate branch groups": len(info.duplicate_branches),
        "mechanical commits": len(info.mechanical_commits),
        "stacked pull requests": len(info.stacked),
        "ambiguous landings": len(info.ambiguous),
        "re-added recipes": len(info.readded),
    })
    return out


# ---------------------------------------------------------------------------------------------
# Recipes: demo's model and rendering, plus satisfies tables and format migrations


@dataclass
class _MRecipe(_Recipe):
    satisfies: dict[str, list[str]] = field(default_factory=dict)  # ecosystem -> names
    level: int = 0  # how many of _MIGRATIONS its file has gone through


def _m_url(text: str, r: _MRecipe) -> str:
    return text.replace("\nhomepage = ", "\nurl = ", 1)


def _m_license(text: str, r: _MRecipe) -> str:
    spdx = _LICENSES[zlib.crc32(r.name.encode()) % len(_LICENSES)]
    line = f'\nversion = "{r.version}"\n'
    return text.replace(line, f'{line}license = "{spdx}"\n', 1)


def _m_header(text: str, r: _MRecipe) -> str:
    return "# Recipe format 2 (docs/recipes.md)\n" + text


def _m_summary(text: str, r: _MRecipe) -> str:
    return text.replace("\ndescription = ", "\nsummary = ", 1)


def _m_kind(text: str, r: _MRecipe) -> str:
    return text.replace("\naction = ", "\nkind = ")


def _m_compact(text: str, r: _MRecipe) -> str:
    return text.replace("\n\n[", "\n[")


def _m_id(text: str, r: _MRecipe) -> str:
    line = f'\nname = "{r.name}"\n'
    return text.replace(line, f'{line}id = "{r.ecosystem}/{r.name}"\n', 1)


def _m_format3(text: str, r: _MRecipe) -> str:
    return text.replace("# Recipe format 2", "# Recipe format 3", 1)


# Each migration changes every recipe file, so a mechanical commit's edits are all real.
_MIGRATIONS: tuple[tuple[Callable[[str, _MRecipe], str], str], ...] = (
    (_m_url, "recipes: rename homepage to url"),
    (_m_license, "recipes: add SPDX license fields"),
    (_m_header, "recipes: mark the recipe format"),
    (_m_summary, "recipes: rename description to summary"),
    (_m_kind, "recipes: rename the action of steps to kind"),
    (_m_compact, "style(recipes): no blank lines between tables"),
    (_m_id, "recipes: add explicit ids"),
    (_m_format3, "recipes: recipe format 3"),
)


def _render(r: _MRecipe) -> bytes:
    text = _render_plain(r).decode()
    if r.satisfies:
        block = "".join(f"{eco} = {_toml_list(names)}\n" for eco, names in
                        sorted(r.satisfies.items()))
        text = text.replace("\n\n[[steps]]", f"\n\n[metadata.satisfies]\n{block}\n[[steps]]", 1)
    for migrate, _ in _MIGRATIONS[: r.level]:
        text = migrate(text, r)
    return text.encode()


def _copy(r: _MRecipe) -> _MRecipe:
    return replace(r, deps=list(r.deps), runtime=list(r.runtime), build=list(r.build),
                   aliases=list(r.aliases),
                   satisfies={k: list(v) for k, v in r.satisfies.items()})


def _name_of(path: str) -> str:
    return path.rpartition("/")[2].removesuffix(".toml")


_MANAGED: dict[str, bool] = {}


def _managed(path: str) -> bool:
    if path not in _MANAGED:
        _MANAGED[path] = _CONFIG.is_managed(path)
    return _MANAGED[path]


# ---------------------------------------------------------------------------------------------
# Generator state


@dataclass
class _Pull:
    number: int
    ref: str
    base: int  # the mark of main it branched from
    marks: list[int] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    head: Changes = field(default_factory=dict)  # every path it changed, as at its head
    recipes: dict[str, _MRecipe | None] = field(default_factory=dict)  # recipe paths at head
    humans: list[Who] = field(default_factory=list)

    @property
    def tip(self) -> int:
        return self.marks[-1] if self.marks else self.base


@dataclass
class _LandingRec:
    mark: int
    files: list[str]
    alongside: list[str]
    pull: int | None
    subject: str


@dataclass
class _Batch:
    batch_id: str
    ecosystem: str
    id_form: str
    form: str
    pull: _Pull
    title: str = ""
    commits: list[int] = field(default_factory=list)
    fixups: list[int] = field(default_factory=list)
    carried: Changes = field(default_factory=dict)
    outside: set[str] = field(default_factory=set)
    branches: list[str] = field(default_factory=list)
    landings: list[_LandingRec] = field(default_factory=list)
    landed: dict[str, tuple[bytes | None, bytes | None]] = field(default_factory=dict)
    later_edits: list[tuple[str, int]] = field(default_factory=list)
    mech_edits: list[tuple[str, int]] = field(default_factory=list)
    hand_deleted: list[str] = field(default_factory=list)
    libs: list[str] = field(default_factory=list)  # names of the libraries it adds
    added_new: list[_MRecipe] = field(default_factory=list)  # recipes new to the registry
    only_managed: bool = False  # its landing carries its recipes and nothing else
    campaign: bool = False  # people add recipes depending on its libraries after it lands
    stacked: _Pull | None = None
    stacked_files: list[str] = field(default_factory=list)
    readds: list[tuple[str, _Batch]] = field(default_factory=list)
    wrote: dict[tuple[str, str], None] = field(default_factory=dict)  # (M path, blob), in order


@dataclass
class _Missing:
    ref: str
    number: int
    main_mark: int
    when: int
    fake: str
    broken: str  # "parent" or "tree"


class _Gen:
    """The generator's state: main as it is now, the open pull requests, and the truth so far.

    The main loop (chunks) runs one step at a time: an event that is due (a landing, a fix-up
    campaign, ...), else a planned scenario that is due, else a person's pull request or a
    direct commit. A path an open pull request changes is locked: nobody else changes it until
    the pull request lands or is given up, so every landing is main's tree plus the pull
    request's changes, without conflicts.
    """

    def __init__(self, commits: int, seed: int) -> None:
        self.target = commits
        # Sample data, not secrets: a seeded PRNG is exactly what determinism needs.
        self.rng = random.Random(seed)  # noqa: S311
        self.buf: list[bytes] = []
        self.buf_size = 0
        self.next_mark = 1
        self.last_time = int(START.timestamp())
        self.span = int((END - START).total_seconds()) - 3600
        self.max_step = max(2, self.span // (commits * 8))
        self.day_seq: dict[str, int] = {}
        self.files: dict[str, bytes] = {}  # main's tree
        self.recipes: dict[str, _MRecipe] = {}  # main's recipes by name
        self.names = _Pool()
        self.apps = _Pool()
        self.human_owned = _Pool()  # recipes on main that no batch landed
        self.libs_by_eco: dict[str, list[str]] = {eco: [] for eco in ECOSYSTEMS}
        self.libs: list[str] = []
        self.used: set[str] = set()  # recipe names, aliases and satisfies names ever used
        self.locked: dict[str, int] = {}  # path -> the open pull request that changes it
        self.landers: dict[str, list[_Batch]] = {}  # path -> batches that landed it
        self.written: dict[tuple[str, str], set[str]] = {}  # (path, blob) -> batch ids
        self.batches: list[_Batch] = []
        self.landed_batches: list[_Batch] = []
        self.readd_queue: list[tuple[str, _Batch]] = []
        self.readded: list[tuple[str, str, str]] = []
        self.mechanical: list[int] = []
        self.stacked: list[tuple[_Pull, _Batch, int]] = []
        self.ambiguous: list[tuple[int, list[str], list[_Batch]]] = []
        self.duplicates: list[tuple[str, ...]] = []
        self.missing: list[_Missing] = []
        self.pull_heads: dict[int, int] = {}  # number -> head mark
        self.main_count = 0
        self.main_mark = 0
        self.order = 0
        self.level = 0  # migrations done on main: new recipes are born with them
        self.sequence = 0
        self.next_pull = 1
        self.docs_rev = 0
        self.human_added = 0
        self.closing = False
        self.events: list[tuple[int, int, Callable[[], object]]] = []
        self.event_seq = 0
        self.tail = max(100, commits // 50)
        self.open_until = commits - self.tail
        self.plan: list[tuple[int, int, Callable[[], object]]] = []
        self.q_pull = 0.0

    # -- the stream ----------------------------------------------------------------------------

    def _drain(self) -> bytes:
        data = b"".join(self.buf)
        self.buf.clear()
        self.buf_size = 0
        return data

    def _when(self) -> int:
        """The next commit's time: never before the last one, and keeping pace with main so
        that main's last commit falls on END's day whatever the size."""
        slot = int(START.timestamp()) + self.span * self.main_count // (self.target - 1)
        self.last_time = max(self.last_time + self.rng.randint(1, self.max_step), slot)
        return self.last_time

    def _emit(self, ref: str, who: Who, message: str, changes: Changes, *,
              committer: Who | None = None, parent: int | None = None, merge: int | None = None,
              when: int | None = None) -> int:
        when = when if when is not None else self._when()
        mark = self.next_mark
        self.next_mark += 1
        msg = message.encode()
        by = committer or who
        parts = [
            f"commit {ref}\nmark :{mark}\n"
            f"author {who[0]} <{who[1]}> {when} +0000\n"
            f"committer {by[0]} <{by[1]}> {when} +0000\n"
            f"data {len(msg)}\n".encode(), msg, b"\n",
        ]
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

    def _main(self, who: Who, message: str, changes: Changes, *, kind: str,
              committer: Who | None = None, merge: int | None = None, reachable: int = 0,
              ) -> tuple[int, Changes, Changes]:
        """One first-parent commit of main; kind is "landing", "mechanical" or "other".
        Returns its mark, what it really changed, and main's content before it."""
        pre = {p: self.files.get(p) for p in changes}
        real = {p: d for p, d in changes.items() if pre[p] != d}
        mark = self._emit(_MAIN_REF, who, message, real, committer=committer,
                          parent=self.main_mark if merge is not None else None, merge=merge)
        for path, new in real.items():
            if _managed(path):
                for b in self.landers.get(path, ()):
                    if kind == "mechanical":
                        b.mech_edits.append((path, mark))
                    elif kind != "landing":
                        b.later_edits.append((path, mark))
                        if new is None:
                            b.hand_deleted.append(path)
                if new is None:
                    self.landers.pop(path, None)  # a file created again is someone else's
            if new is None:
                self.files.pop(path, None)
            else:
                self.files[path] = new
        self.main_count += 1 + reachable
        self.main_mark = mark
        return mark, real, pre

    def _schedule(self, delay: int, fn: Callable[[], object]) -> None:
        self.event_seq += 1
        heapq.heappush(self.events, (self.main_count + delay, self.event_seq, fn))

    # -- recipes -------------------------------------------------------------------------------

    def _human(self) -> Who:
        return self.rng.choice(_HUMANS)

    def _version(self) -> str:
        rng = self.rng
        return f"{rng.randint(0, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"

    def _checksum(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def _description(self, ecosystem: str) -> str:
        rng = self.rng
        return (f"{rng.choice(_ADJECTIVES)} {rng.choice(_THINGS)} {rng.choice(_PURPOSES)}"
                f"{_ECO_NOTE[ecosystem]}")

    def _redescribe(self, r: _MRecipe) -> None:
        """A new description for r, never the one it has (so the edit is a real change)."""
        old = r.description
        while r.description == old:
            r.description = self._description(r.ecosystem)

    def _fresh_name(self, ecosystem: str) -> str:
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
                name = f"{name}{rng.randint(2, 9999)}"
            if name not in self.used:
                return name

    def _spare(self, name: str) -> str | None:
        """name if it is still free (then taken), else None."""
        if name in self.used:
            return None
        self.used.add(name)
        return name

    def _new_recipe(self, ecosystem: str, kind: str, name: str | None = None, *,
                    core: str = "", extra: Sequence[str] = ()) -> _MRecipe:
        """A recipe nobody has yet; main's records learn of it when it lands (_take)."""
        rng = self.rng
        if name is None:
            name = self._fresh_name(ecosystem)
        self.used.add(name)
        self.order += 1
        deps = list(extra)
        toolchain = _TOOLCHAIN.get(ecosystem)
        runtime = [toolchain] if toolchain and ecosystem != "cargo" else []
        build: list[str]
        if core:
            build = [] if name in ("pkg-config", "cmake", "perl") else ["pkg-config"]
        else:
            for _ in range(rng.randint(0, 2)):
                pool = self.libs_by_eco[ecosystem if rng.random() < 0.5 else "homebrew"]
                lib = pool[rng.randrange(len(pool))] if pool else "zlib"
                if lib not in deps and lib != name:
                    deps.append(lib)
            build = [toolchain] if toolchain else rng.choice(
                (["pkg-config"], ["cmake"], ["autoconf", "pkg-config"]))
        r = _MRecipe(
            name=name, ecosystem=ecosystem, kind=kind, order=self.order,
            version=_CORE_VERSIONS[name] if core else self._version(),
            description=core or self._description(ecosystem), checksum=self._checksum(),
            deps=deps, runtime=runtime, build=build, level=self.level,
        )
        if not core:
            if rng.random() < (0.3 if kind == "lib" else 0.1):
                alias = self._spare(f"{name}-{rng.choice(('cli', 'dev', 'bin'))}")
                if alias:
                    r.aliases.append(alias)
            if rng.random() < (0.3 if kind == "lib" else 0.08):
                major = r.version.partition(".")[0]
                wanted = {"homebrew": f"{name}@{major}", "pypi": f"python-{name}",
                          "npm": f"@{name}/core", "cargo": f"{name}-sys"}
                for eco in rng.sample(ECOSYSTEMS, rng.randint(1, 2)):
                    other = self._spare(wanted[eco])
                    if other:
                        r.satisfies[eco] = [other]
        return r

    def _set_recipe(self, r: _MRecipe) -> None:
        """r is on main now (new, or replacing the recipe of that name)."""
        if r.name not in self.recipes:
            self.names.add(r.name)
            if r.kind == "app":
                self.apps.add(r.name)
            else:
                self.libs.append(r.name)
                self.libs_by_eco[r.ecosystem].append(r.name)
            if r.path not in self.landers:
                self.human_owned.add(r.name)
        self.recipes[r.name] = r
        if r.path in self.landers:
            self.human_owned.discard(r.name)

    def _drop_recipe(self, name: str) -> None:
        r = self.recipes.pop(name)
        assert r.kind == "app", name  # libraries may have dependents: they are never deleted
        self.names.remove(name)
        self.apps.remove(name)
        self.human_owned.discard(name)

    def _bump(self, r: _MRecipe) -> None:
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

    def _pick(self, pool: _Pool, fits: Callable[[_MRecipe], bool]) -> _MRecipe | None:
        """A random recipe of pool that is not locked and fits, or None."""
        for _ in range(40 if len(pool) else 0):
            r = self.recipes[pool.pick(self.rng)]
            if r.path not in self.locked and fits(r):
                return r
        return None

    def _older_lib(self, r: _MRecipe) -> str | None:
        for _ in range(5):
            lib = self.libs[self.rng.randrange(len(self.libs))]
            if self.recipes[lib].order < r.order and lib not in r.needs():
                return lib
        return None

    # -- pull requests -------------------------------------------------------------------------

    def _new_pull(self, base: int | None = None) -> _Pull:
        number = self.next_pull
        # Issues share the numbering: pull requests skip a few numbers now and then.
        self.next_pull += 1 + (self.rng.randint(1, 3) if self.rng.random() < 0.1 else 0)
        return _Pull(number, f"refs/pull/{number}/head",
                     self.main_mark if base is None else base)

    def _pull_commit(self, pull: _Pull, who: Who, message: str, changes: Changes, *,
                     when: int | None = None) -> int:
        mark = self._emit(pull.ref, who, message, changes, when=when,
                          parent=pull.base if not pull.marks else None)
        pull.marks.append(mark)
        pull.subjects.append(message.partition("\n")[0])
        pull.head.update(changes)
        self.pull_heads[pull.number] = mark
        if who not in (_BOT, *pull.humans) and who in _HUMANS:
            pull.humans.append(who)
        return mark

    def _lock(self, pull: _Pull, paths: Sequence[str]) -> None:
        for p in paths:
            self.locked[p] = pull.number

    def _unlock(self, pull: _Pull, paths: Sequence[str]) -> None:
        for p in paths:
            if self.locked.get(p) == pull.number:
                del self.locked[p]

    def _take(self, pull: _Pull, paths: Sequence[str]) -> None:
        """Main's records learn the recipes that a landing of pull brought; unlock paths."""
        for p in paths:
            if p in pull.recipes and self.files.get(p) == pull.head[p]:
                r = pull.recipes[p]
                if r is None:
                    if _name_of(p) in self.recipes:
                        self._drop_recipe(_name_of(p))
                else:
                    self._set_recipe(r)
        self._unlock(pull, paths)

    def _squash_message(self, pull: _Pull, subject: str) -> str:
        body = "".join(f"* {s}\n" for s in pull.subjects)
        coauthors = "".join(f"Co-authored-by: {n} <{e}>\n" for n, e in pull.humans)
        return f"{subject}\n\n{body}" + (f"\n{coauthors}" if coauthors else "")

    # -- people --------------------------------------------------------------------------------

    def _docs_change(self) -> Changes:
        self.docs_rev += 1
        path = self.rng.choice(_DOCS)
        title = "Example registry" if path == "README.md" else path[5:-3].capitalize()
        text = (f"# {title}\n\nRecipes live under `recipes/<first letter>/<name>.toml`; the batch "
                "bot (`registry-bot`) writes most of them.\n\n"
                f"Revision {self.docs_rev}, reviewed {self._today()}.\n")
        return {path: text.encode()}

    def _today(self) -> str:
        return f"{datetime.fromtimestamp(self.last_time, UTC):%Y-%m-%d}"

    def _human_step(self) -> None:
        """One direct commit to main by a person or the version bot."""
        roll = self.rng.random()
        if roll < 0.25 and self.human_added < self.main_count // 25 + 5:
            self._human_add()
            return
        if 0.25 <= roll < 0.29:
            self._main(self._human(), "docs: refresh the documentation\n", self._docs_change(),
                       kind="other")
            return
        if 0.29 <= roll < 0.30:
            r = self._pick(self.apps, lambda r: not r.curated)
            if r is not None:
                self._drop_recipe(r.name)
                self._main(self._human(), f"recipes: remove {r.name}\n\nUpstream archived the "
                           "project.\n", {r.path: None}, kind="other")
                return
        if 0.30 <= roll < 0.47:
            r = self._pick(self.names, lambda r: True)
            if r is not None:
                old = r.version
                self._bump(r)
                self._main(_VERSION_BOT, f"chore(recipes): bump {r.name} from {old} to "
                           f"{r.version}\n", {r.path: _render(r)}, kind="other")
                return
        r = self._pick(self.names, lambda r: True)
        if r is None:
            self._main(self._human(), "docs: refresh the documentation\n", self._docs_change(),
                       kind="other")
            return
        message = self._edit(r)
        self._main(self._human(), message, {r.path: _render(r)}, kind="other")

    def _edit(self, r: _MRecipe) -> str:
        """A person's change to r (in place); the commit subject."""
        roll = self.rng.random()
        if roll < 0.5:
            self._bump(r)
            return f"recipes: bump {r.name} to {r.version}\n"
        if roll < 0.75:
            self._redescribe(r)
            return f"recipes: clarify the description of {r.name}\n"
        lib = self._older_lib(r) if roll < 0.9 else None
        if lib is None:
            self._bump(r)
            return f"recipes: bump {r.name} to {r.version}\n"
        r.deps.append(lib)
        return f"recipes: {r.name} needs {lib}\n\nFound while building it on a clean machine.\n"

    def _human_recipe(self, needs: tuple[str, str] | None = None) -> _MRecipe:
        rng = self.rng
        eco = rng.choice(("homebrew", "homebrew", "homebrew", "cargo", "npm", "pypi"))
        r = self._new_recipe(eco, "lib" if rng.random() < 0.15 and needs is None else "app")
        if needs is not None:
            where, name = needs
            getattr(r, where).append(name)
        return r

    def _human_add(self, needs: tuple[str, str] | None = None) -> None:
        r = self._human_recipe(needs)
        self.human_added += 1
        body = ""
        if needs is not None:
            body = f"\nBuilds on {needs[1]}, which the bot added recently.\n"
        self._set_recipe(r)
        self._main(self._human(), f"recipes: add {r.name} {r.version}\n{body}",
                   {r.path: _render(r)}, kind="other")

    def _human_pull(self, *, needs: tuple[str, str] | None = None, never: bool | None = None
                    ) -> _Pull:
        """A person's pull request off main; most are squashed onto main a little later."""
        rng = self.rng
        pull = self._new_pull()
        who = self._human()
        for i in range(1 if needs or rng.random() < 0.8 else 2):
            roll = rng.random()
            changes: Changes
            if needs is not None or (i == 0 and roll < 0.15):
                r = self._human_recipe(needs)
                self.human_added += 1
                message = f"recipes: add {r.name} {r.version}\n"
            elif roll < 0.9:
                found = self._pick(self.names, lambda r: r.path not in pull.head)
                if found is None:
                    changes = self._docs_change()
                    self._pull_commit(pull, who, "docs: clarify the layout\n", changes)
                    continue
                r = _copy(found)
                message = self._edit(r)
            else:
                changes = self._docs_change()
                self._pull_commit(pull, who, "docs: clarify the layout\n", changes)
                continue
            pull.recipes[r.path] = r
            self._lock(pull, [r.path])
            self._pull_commit(pull, who, message, {r.path: _render(r)})
        if never is None:
            never = rng.random() < 0.02
        if never:  # open for good: it goes stale, main moves on
            self._unlock(pull, list(pull.head))
        else:
            self._schedule(rng.randint(1, 12), lambda: self._land_human(pull))
        return pull

    def _land_human(self, pull: _Pull, *, subject: str | None = None) -> int:
        rng = self.rng
        subject = subject or pull.subjects[0]
        if rng.random() < 0.75:
            subject = f"{subject} (#{pull.number})"
        elif rng.random() < 0.5:  # the person retitled it when merging
            plain = subject.removeprefix("recipes: ").removeprefix("docs: ")
            subject = f"{plain[0].upper()}{plain[1:]}"
        author = pull.humans[0] if pull.humans else self._human()
        mark, _, _ = self._main(author, self._squash_message(pull, subject), dict(pull.head),
                                kind="other", committer=_GITHUB)
        self._take(pull, list(pull.head))
        return mark

    # -- batches -------------------------------------------------------------------------------

    def _new_id(self, when: int) -> str:
        day = f"{datetime.fromtimestamp(when, UTC):%Y-%m-%d}"
        n = self.day_seq.get(day, 0) + 1
        self.day_seq[day] = n
        return f"{day}-{n:03d}"

    def _batch_size(self) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.8:
            return rng.randint(10, 50)
        if roll < 0.9:
            return rng.randint(5, 9)
        if roll < 0.98:
            return rng.randint(51, 120)
        return rng.randint(121, 300)

    def _batch_message(self, b: _Batch, subject: str, added: int, updated: int,
                       removed: int) -> str:
        id_line = (f"Batch-Id: {b.batch_id}" if b.id_form == "trailer"
                   else f"batch_id: {b.batch_id}")
        return (f"{subject}\n\nGenerated by the {b.ecosystem} batch run.\n"
                f"ecosystem: {b.ecosystem}\n"
                f"Recipes: {added} added, {updated} updated, {removed} removed.\n\n{id_line}\n")

    def _title(self, eco: str, n: int) -> str:
        return self.rng.choice((
            f"feat(recipes): add batch recipes ({n} recipes)",
            f"feat(recipes): add batch recipes ({n} recipes)",
            f"Add {eco} recipes",
            f"feat(recipes): {eco} batch",
            f"chore(recipes): update {eco} recipes",
            f"Batch recipes for {eco}",
        ))

    def _open_batch(self, form: str, *, eco: str | None = None, size: int | None = None,
                    regenerate: Sequence[_MRecipe] = (), libs: int = 0, extras: bool = True,
                    fixups: bool = True, campaign: bool = False, stack: bool = False,
                    keep_branch: bool | None = None, land: bool = True) -> _Batch:
        """A batch's pull request: its commits now, its landing (or abandonment) scheduled."""
        rng = self.rng
        eco = eco or rng.choice(ECOSYSTEMS)
        when = self._when()
        pull = self._new_pull()
        b = _Batch(self._new_id(when), eco, "legacy" if rng.random() < 0.2 else "trailer",
                   form, pull, campaign=campaign)
        self.batches.append(b)
        size = self._batch_size() if size is None else size

        adds: list[_MRecipe] = list(regenerate)
        if form in _FULL and extras:
            while self.readd_queue and len(b.readds) < 2:
                name, origin = self.readd_queue.pop(0)
                if name in self.recipes or recipe_path(name) in self.locked:
                    continue
                adds.append(self._new_recipe(eco, "app", name))
                b.readds.append((name, origin))
        mods: list[_MRecipe] = []
        dels: list[str] = []
        if extras:
            n_mod = round(size * rng.uniform(0.05, 0.25)) if rng.random() < 0.5 else 0
            for _ in range(n_mod):
                r = self._pick(self.names, lambda r: not r.curated and (
                    r.ecosystem == eco or rng.random() < 0.2))
                if r is not None:
                    copy = _copy(r)
                    self._bump(copy)
                    mods.append(copy)
                    self._lock(pull, [copy.path])
            if rng.random() < 0.05:
                r = self._pick(self.apps, lambda r: not r.curated)
                if r is not None:
                    dels.append(r.name)
                    self._lock(pull, [r.path])
        own_libs: list[str] = []
        for i in range(max(0, size - len(adds) - len(mods) - len(dels))):
            kind = "lib" if i < libs or rng.random() < 0.15 else "app"
            # Only forms that land every file may depend on their own recipes: a dependency
            # must never point at a recipe that did not reach main.
            extra = ([rng.choice(own_libs)] if own_libs and form in _FULL
                     and rng.random() < 0.3 else [])
            r = self._new_recipe(eco, kind, extra=extra)
            adds.append(r)
            b.added_new.append(r)
            if kind == "lib":
                own_libs.append(r.name)
        b.libs = [r.name for r in adds if r.kind == "lib"]
        for r in (*adds, *mods):
            pull.recipes[r.path] = r
        for name in dels:
            pull.recipes[recipe_path(name)] = None
        self._lock(pull, [r.path for r in adds])
        b.title = self._title(eco, len(adds) + len(mods))

        # The bot's commits: one, or two when it ran twice before the review.
        items: list[tuple[str, _MRecipe | None]] = [(r.path, r) for r in (*adds, *mods)]
        items += [(recipe_path(n), None) for n in dels]
        modded = {r.name for r in mods}
        cut = len(items) if len(items) < 6 or rng.random() < 0.85 else rng.randint(
            2, len(items) - 2)
        metrics: list[bytes] = []
        for n, group in enumerate((items[:cut], items[cut:])):
            if not group:
                continue
            changes: Changes = {p: (_render(r) if r is not None else None) for p, r in group}
            for p, r in group:
                outcome = "removed" if r is None else (
                    "updated" if r.name in modded else "added")
                metrics.append(json.dumps({"batch_id": b.batch_id, "package": _name_of(p),
                                           "ecosystem": eco, "outcome": outcome},
                                          sort_keys=True).encode() + b"\n")
            changes[f"data/metrics/{b.batch_id}.jsonl"] = b"".join(metrics)
            if extras and n == 0 and rng.random() < 0.4:
                self.sequence += 1
                changes[f"recipes/discovery/{eco}.json"] = _json({
                    "ecosystem": eco, "last_batch": b.batch_id, "sequence": self.sequence,
                    "candidates": sorted(_name_of(p) for p, _ in group)[:20],
                })
            if extras and rng.random() < 0.5:
                self.sequence += 1
                changes[CONTROL_FILE] = _json({
                    "schema_version": 1, "sequence": self.sequence, "last_batch": b.batch_id,
                    "ecosystem": eco, "recipes_written": len(group),
                })
            subject = (b.title if n == 0
                       else f"feat(recipes): add more batch recipes ({len(group)} recipes)")
            updated = sum(r is not None and r.name in modded for _, r in group)
            removed = sum(r is None for _, r in group)
            message = self._batch_message(b, subject, len(group) - updated - removed, updated,
                                          removed)
            mark = self._pull_commit(pull, _BOT, message, changes,
                                     when=when if n == 0 else None)
            b.commits.append(mark)
            self._wrote(b, changes)

        if fixups and rng.random() < 0.5:
            again = {r.name for r in regenerate}
            self._fixups(b, [r for r in (*adds, *mods) if r.name not in again])
        if extras and form != "abandoned" and rng.random() < 0.2:
            self._alongside(b)
        if keep_branch is None:
            keep_branch = rng.random() < (0.3 if form == "abandoned" else 0.12)
        if keep_branch:
            branch = f"refs/heads/batch/{b.batch_id}"
            self._reset(branch, pull.tip)
            b.branches.append(branch)
        if stack:
            self._stack(b)
        if land:
            delay = rng.randint(2, 6) if form == "abandoned" else rng.randint(3, 40)
            self._schedule(delay, lambda: self._land(b))
        return b

    def _wrote(self, b: _Batch, changes: Changes) -> None:
        for path, data in changes.items():
            b.carried[path] = data
            if not _managed(path):
                b.outside.add(path)
            elif data is not None:
                self._written(b, path, data)

    def _written(self, b: _Batch, path: str, data: bytes) -> None:
        key = (path, blob_id(data))
        self.written.setdefault(key, set()).add(b.batch_id)
        b.wrote[key] = None

    def _fixups(self, b: _Batch, recipes: Sequence[_MRecipe]) -> None:
        """1-3 commits on the pull request, without the id, changing some of its recipes."""
        rng = self.rng
        if not recipes:
            return
        for _ in range(rng.randint(1, 3)):
            chosen = rng.sample(list(recipes), min(len(recipes), rng.randint(1, 3)))
            if rng.random() < 0.5:
                who = _BOT
                for r in chosen:
                    r.checksum = self._checksum()
                message = "fix(recipes): correct checksums\n\nThe mirror served stale archives.\n"
            else:
                who = self._human()
                for r in chosen:
                    self._redescribe(r)
                message = f"fix: correct the description of {chosen[0].name}\n"
            changes: Changes = {r.path: _render(r) for r in chosen}
            b.fixups.append(self._pull_commit(b.pull, who, message, changes))
            self._wrote(b, changes)

    def _alongside(self, b: _Batch) -> None:
        """A person's unrelated commit on the batch's pull request (it lands with the batch)."""
        who = self._human()
        found = self._pick(self.human_owned, lambda r: True) if self.rng.random() < 0.4 else None
        if found is None:
            self._pull_commit(b.pull, who, "docs: mention the new recipes\n", self._docs_change())
            return
        r = _copy(found)
        message = self._edit(r)
        b.pull.recipes[r.path] = r
        self._lock(b.pull, [r.path])
        self._pull_commit(b.pull, who, message, {r.path: _render(r)})

    def _stack(self, b: _Batch) -> None:
        """A person's pull request based on the batch branch: its ref contains the batch
        commit; it is squashed after the batch landed, so its squash carries only its change."""
        pull = self._new_pull(base=b.pull.tip)
        who = self._human()
        if b.libs and self.rng.random() < 0.6:
            lib = self.rng.choice(b.libs)
            r = self._human_recipe(("deps", lib))
            self.human_added += 1
            message = f"recipes: add {r.name} {r.version}\n\nUses {lib} from the open batch.\n"
        else:
            source = b.pull.recipes[self.rng.choice(
                [p for p, r in b.pull.recipes.items() if r is not None and p in b.carried])]
            assert source is not None
            r = _copy(source)
            self._bump(r)
            message = f"recipes: bump {r.name} to {r.version} on top of the batch\n"
        pull.recipes[r.path] = r
        self._lock(pull, [r.path])  # takes over from the batch if it is the batch's recipe
        self._pull_commit(pull, who, message, {r.path: _render(r)})
        b.stacked = pull

    def _land(self, b: _Batch) -> None:
        rng = self.rng
        pull = b.pull
        form = b.form
        if form == "abandoned":
            self._unlock(pull, list(pull.head))
            return
        paths = list(pull.head)
        if b.only_managed:
            paths = [p for p in paths if _managed(p)]
        if form == "merge":
            self._merge_batch(b)
        elif form in ("squash-custom", "squash-pr"):
            self._squash_batch(b, paths, named=form == "squash-pr")
        elif form == "partial":
            batch_paths = [p for p in paths if p in b.carried and _managed(p)]
            keep = set(rng.sample(batch_paths, rng.randint(1, len(batch_paths) - 1)))
            keep |= {p for p in paths if p not in batch_paths and rng.random() < 0.5}
            self._squash_batch(b, [p for p in paths if p in keep], named=rng.random() < 0.3)
            self._unlock(pull, paths)
        else:  # split: two or three squashes, a few commits apart
            batch_paths = [p for p in paths if p in b.carried and _managed(p)]
            rng.shuffle(batch_paths)
            k = 3 if len(batch_paths) >= 6 and rng.random() < 0.4 else 2
            groups: list[list[str]] = [batch_paths[i::k] for i in range(k)]
            for p in paths:
                if p not in batch_paths:
                    groups[rng.randrange(k)].append(p)

            def part(i: int) -> None:
                subject = f"{b.title} (part {i + 1} of {k})"
                self._squash_batch(b, groups[i], named=rng.random() < 0.5, subject=subject)
                if i + 1 < k:
                    self._schedule(rng.randint(1, 8), lambda: part(i + 1))
                else:
                    self._landed(b)

            part(0)
            return
        self._landed(b)

    def _landed(self, b: _Batch) -> None:
        """After a batch's last landing: what people do next."""
        self.landed_batches.append(b)
        rng = self.rng
        if b.stacked is not None:
            stacked = b.stacked
            self._schedule(rng.randint(1, 10), lambda: self._land_stacked(b, stacked))
        if b.campaign and not self.closing:
            libs = [n for n in b.libs if n in self.recipes]
            for _ in range(rng.randint(10, 14) if libs else 0):
                lib = self.recipes[rng.choice(libs)]
                names = [lib.name, lib.name, *lib.aliases,
                         *(n for v in lib.satisfies.values() for n in v)]
                needs = (rng.choice(("deps", "runtime", "build")), rng.choice(names))
                add = self._human_add if rng.random() < 0.7 else self._pull_needing
                self._schedule(rng.randint(1, 60), functools.partial(add, needs))

    def _pull_needing(self, needs: tuple[str, str]) -> None:
        self._human_pull(needs=needs, never=False)

    def _squash_batch(self, b: _Batch, paths: Sequence[str], *, named: bool,
                      subject: str | None = None) -> None:
        pull = b.pull
        subject = subject or b.title
        if named:
            subject = f"{subject} (#{pull.number})"
        mark, real, pre = self._main(_BOT, self._squash_message(pull, subject),
                                     {p: pull.head[p] for p in paths}, kind="landing",
                                     committer=_GITHUB)
        self._record_landing(b, mark, real, pre, subject)
        self._take(pull, paths)

    def _merge_batch(self, b: _Batch) -> None:
        pull = b.pull
        subject = f"Merge pull request #{pull.number} from registry/batch/{b.batch_id}"
        mark, real, pre = self._main(self._human(), f"{subject}\n\n{b.title}\n", dict(pull.head),
                                     kind="landing", committer=_GITHUB, merge=pull.tip,
                                     reachable=len(pull.marks))
        self._record_landing(b, mark, real, pre, subject)
        self._take(pull, list(pull.head))

    def _record_landing(self, b: _Batch, mark: int, real: Changes, pre: Changes,
                        subject: str) -> None:
        files = sorted(p for p, data in real.items()
                       if _managed(p) and p in b.carried and b.carried[p] == data)
        alongside = sorted(set(real) - set(files))
        for p in files:
            b.landed[p] = (pre[p], real[p])
            if real[p] is not None:
                self.landers.setdefault(p, []).append(b)
        b.landings.append(_LandingRec(mark, files, alongside, b.pull.number, subject))
        for name, origin in b.readds:
            if recipe_path(name) in files:
                self.readded.append((recipe_path(name), origin.batch_id, b.batch_id))

    def _land_stacked(self, b: _Batch, pull: _Pull) -> None:
        subject = pull.subjects[0]
        if self.rng.random() < 0.6:
            subject = f"{subject} (#{pull.number})"
        # The forge squashes the pull request's diff against main, where the batch has landed
        # by now: only the person's change is left.
        changes = dict(pull.head)
        author = pull.humans[0] if pull.humans else self._human()
        mark, real, _ = self._main(author, self._squash_message(pull, subject), changes,
                                   kind="other", committer=_GITHUB)
        self._take(pull, list(changes))
        b.stacked_files = sorted(real)
        self.stacked.append((pull, b, mark))

    # -- scenarios -----------------------------------------------------------------------------

    def _mechanical(self) -> None:
        """A migration of every recipe on main (those of open pull requests wait)."""
        if self.level >= len(_MIGRATIONS):
            return
        level = self.level + 1
        targets = [r for r in self.recipes.values()
                   if r.path not in self.locked and r.level < level]
        if len(targets) < MECHANICAL_FILES:
            self._schedule(50, self._mechanical)  # too few recipes yet: try again later
            return
        self.level = level
        changes: Changes = {}
        for r in targets:
            r.level = level
            changes[r.path] = _render(r)
        who = _MIGRATION_BOT if self.rng.random() < 0.6 else self._human()
        subject = _MIGRATIONS[level - 1][1]
        message = (f"{subject}\n\nA mechanical change of {len(changes)} recipes, made by a "
                   "script; no recipe changes meaning.\n")
        mark, _, _ = self._main(who, message, changes, kind="mechanical")
        self.mechanical.append(mark)

    def _recent_landed(self) -> list[_Batch]:
        recent = self.landed_batches[-40:]
        return self.rng.sample(recent, len(recent))

    def _present(self, b: _Batch) -> list[_MRecipe]:
        """The recipes b landed that are still on main (edited or not) and not locked."""
        out = []
        for p in sorted(b.landed):
            r = self.recipes.get(_name_of(p))
            if r is not None and b in self.landers.get(p, ()) and p not in self.locked:
                out.append(r)
        return out

    def _hand_revert(self, readd: bool) -> None:
        """A person deletes some of a batch's recipes by hand."""
        rng = self.rng
        for b in self._recent_landed():
            apps = [r for r in self._present(b) if r.kind == "app" and not r.curated]
            if len(apps) < 2:
                continue
            gone = rng.sample(apps, rng.randint(1, min(4, len(apps) - 1)))
            for r in gone:
                self._drop_recipe(r.name)
            names = ", ".join(r.name for r in gone)
            prose = (f"They have not built since the {b.batch_id} run.\n"
                     if rng.random() < 0.5 else "They fail to build on every platform.\n")
            self._main(self._human(), f"Remove broken recipes\n\nRemoves {names}. {prose}",
                       {r.path: None for r in gone}, kind="other")
            if readd:
                self.readd_queue.append((gone[0].name, b))
            return

    def _adopt(self) -> None:
        rng = self.rng
        for b in self._recent_landed():
            fresh = [r for r in self._present(b) if not r.curated]
            if not fresh:
                continue
            chosen = rng.sample(fresh, rng.randint(1, min(4, len(fresh))))
            for r in chosen:
                r.curated = True
            names = ", ".join(r.name for r in chosen)
            self._main(self._human(), f"recipes: adopt {names}\n\nMaintained by hand from now "
                       "on; curated = true keeps the bot away.\n",
                       {r.path: _render(r) for r in chosen}, kind="other")
            return

    def _regenerated(self, exact: bool) -> None:
        """An abandoned batch X; a later batch Y writes some of X's recipes byte for byte.
        exact: X and Y carry the same two recipes and nothing else managed, and Y's landing
        carries only those: no way to tell X from Y."""
        rng = self.rng
        x = self._open_batch("abandoned", size=2 if exact else rng.randint(6, 14),
                             extras=not exact, fixups=False, keep_branch=exact or None)

        def later() -> None:
            fresh = [r for r in x.added_new if r.name not in self.recipes]
            assert not any(r.path in self.locked for r in fresh), x.batch_id
            if exact:
                y = self._open_batch("squash-custom", eco=x.ecosystem, size=len(fresh),
                                     regenerate=fresh, extras=False, fixups=False, land=False)
                y.only_managed = True
                self._schedule(rng.randint(3, 10), lambda: self._land_ambiguous(x, y))
            else:
                again = rng.sample(fresh, min(len(fresh), rng.randint(1, 2)))
                self._open_batch("squash-custom", eco=x.ecosystem, regenerate=again,
                                 fixups=False)

        self._schedule(rng.randint(20, 40), later)

    def _land_ambiguous(self, x: _Batch, y: _Batch) -> None:
        self._land(y)
        landing = y.landings[-1]
        self.ambiguous.append((landing.mark, landing.files, [x, y]))

    def _feature_group(self) -> None:
        """Several people's open branches adding the same new recipe."""
        rng = self.rng
        eco = rng.choice(ECOSYSTEMS)
        name = self._fresh_name(eco)
        first = self._new_recipe(eco, "app", name)
        refs = []
        for i, ref in enumerate((f"feature/add-{name}", f"feature/{name}",
                                 f"feature/{name}-recipe")):
            r = _copy(first)
            if i:
                r.version = self._version()
                r.checksum = self._checksum()
                r.description = self._description(eco)
            full = f"refs/heads/{ref}"
            self._emit(full, rng.choice(_HUMANS), f"recipes: add {name} {r.version}\n",
                       {r.path: _render(r)}, parent=self.main_mark)
            refs.append(full)
        self.duplicates.append(tuple(refs))

    def _retry(self) -> None:
        """An open batch whose run was retried on a second branch with the same id."""
        b = self._open_batch("abandoned", fixups=False, keep_branch=True, extras=False,
                             size=self.rng.randint(5, 12))
        retry = f"refs/heads/batch/{b.batch_id}-retry"
        changes: Changes = {}
        for p, r in b.pull.recipes.items():
            if r is None:
                continue
            again = _copy(r)
            self._bump(again)
            changes[p] = _render(again)
        changes[f"data/metrics/{b.batch_id}.jsonl"] = b"".join(
            json.dumps({"batch_id": b.batch_id, "package": _name_of(p), "ecosystem": b.ecosystem,
                        "outcome": "added"}, sort_keys=True).encode() + b"\n" for p in changes)
        message = self._batch_message(b, f"{b.title} (retry)", len(changes) - 1, 0, 0)
        b.commits.append(self._emit(retry, _BOT, message, changes, parent=self.main_mark))
        for path, data in changes.items():  # the retry's blobs are carried by its commits too
            if not _managed(path):
                b.outside.add(path)
            elif data is not None:
                self._written(b, path, data)
        b.branches.append(retry)
        self.duplicates.append(tuple(b.branches))

    def _reserve_missing(self, broken: str) -> None:
        """An old pull request whose commit's parent (or tree) is not in the repository."""
        number = self.next_pull
        self.next_pull += 1
        self.missing.append(_Missing(f"refs/pull/{number}/head", number, self.main_mark,
                                     self._when(), f"{self.rng.getrandbits(160):040x}", broken))

    # -- driving -------------------------------------------------------------------------------

    def _initial(self) -> None:
        changes: Changes = {
            CONFIG_FILENAME: CONFIG_TEXT.encode(),
            CONTROL_FILE: _json({"schema_version": 1, "sequence": 0, "last_batch": None,
                                 "ecosystem": None, "recipes_written": 0}),
        }
        for path in _DOCS:
            changes.update({path: b"# Example registry\n\nSample data written by gitops.messy.\n"})
        for eco in ECOSYSTEMS:
            changes[f"recipes/discovery/{eco}.json"] = _json(
                {"ecosystem": eco, "last_batch": None, "sequence": 0, "candidates": []})
        for name, kind, deps, description in _CORE:
            r = self._new_recipe("homebrew", kind, name, core=description, extra=deps)
            self._set_recipe(r)
            changes[r.path] = _render(r)
        self._main(_HUMANS[0], "Initial registry layout\n", changes, kind="other")

    def _make_plan(self) -> None:
        rng = self.rng
        n, until = self.target, self.open_until
        plan: list[tuple[int, Callable[[], object]]] = []

        def at(fraction: float, fn: Callable[[], object]) -> None:
            plan.append((int(until * fraction), fn))

        def spread(count: int, lo: float, hi: float) -> list[float]:
            return [lo + (hi - lo) * (i + rng.random()) / count for i in range(count)]

        batches = 50 + n // 250
        forms = [form for form, k in _AT_LEAST.items() for _ in range(k)]
        forms += rng.choices(FORMS, _SHARES, k=max(0, batches - len(forms)))
        rng.shuffle(forms)
        stacks = 3 + n // 40000
        campaigns = 4 + n // 25000
        for i, (form, where) in enumerate(zip(forms, spread(batches, 0.01, 0.93), strict=True)):
            middle = 0.1 < where < 0.85
            stack = middle and form in ("squash-custom", "squash-pr") and stacks > 0 and i % 3 == 0
            campaign = (middle and form in _FULL and not stack and campaigns > 0
                        and i % 3 == 1)
            stacks -= stack
            campaigns -= campaign
            at(where, functools.partial(self._batch_slot, form, stack, campaign))
        for where in spread(min(len(_MIGRATIONS), 3 + n // 50000), 0.3, 0.9):
            at(where, self._mechanical)
        # The first hand reverts come early enough for a later batch to re-add a recipe.
        readds = 2 + n // 50000
        for where in spread(readds, 0.15, 0.6):
            at(where, functools.partial(self._hand_revert, True))
        for where in spread(1 + n // 25000, 0.6, 0.85):
            at(where, functools.partial(self._hand_revert, False))
        for where in spread(3 + n // 15000, 0.15, 0.95):
            at(where, self._adopt)
        for where in spread(2 + n // 60000, 0.15, 0.8):
            at(where, functools.partial(self._regenerated, False))
        for where in spread(1 + n // 150000, 0.45, 0.6):
            at(where, functools.partial(self._regenerated, True))
        for where in (0.4, 0.97):
            at(where, self._feature_group)
        for where in spread(1 + n // 100000, 0.96, 0.99):
            at(where, self._retry)
        for i, where in enumerate(spread(2 + n // 100000, 0.05, 0.3)):
            at(where, functools.partial(self._reserve_missing, ("parent", "tree")[i % 2]))
        # People's pull requests make up the rest of the pull request refs (about n/5): the
        # batches have one each, and the scenarios above about ten more per 10,000 commits.
        pulls = min(n // 5, PULL_REFS_CAP) - batches - 10 - n // 10000
        self.q_pull = max(0, pulls) / until
        self.plan = [(when, seq, fn) for seq, (when, fn) in enumerate(plan)]
        heapq.heapify(self.plan)

    def _batch_slot(self, form: str, stack: bool, campaign: bool) -> None:
        self._open_batch(form, stack=stack, campaign=campaign,
                         libs=self.rng.randint(2, 4) if campaign else 0)

    def chunks(self) -> Iterator[bytes]:
        """The fast-import stream, in pieces of about a megabyte."""
        rng = self.rng
        self._initial()
        self._make_plan()
        while self.main_count < self.open_until:
            if self.events and self.events[0][0] <= self.main_count:
                heapq.heappop(self.events)[2]()
            elif self.plan and self.plan[0][0] <= self.main_count:
                heapq.heappop(self.plan)[2]()
            elif rng.random() < self.q_pull:
                self._human_pull()
            else:
                self._human_step()
            if self.buf_size >= _FLUSH_BYTES:
                yield self._drain()
        # Land what is still open (nothing new starts), then people's commits up to the size.
        self.closing = True
        while self.plan:
            heapq.heappop(self.plan)[2]()
        while self.events:
            heapq.heappop(self.events)[2]()
            if self.buf_size >= _FLUSH_BYTES:
                yield self._drain()
        assert self.main_count <= self.target, (self.main_count, self.target)
        while self.main_count < self.target:
            self._human_step()
            if self.buf_size >= _FLUSH_BYTES:
                yield self._drain()
        assert self.last_time <= END.timestamp(), self.last_time
        self.buf.append(b"done\n")
        yield self._drain()

    # -- the ground truth ----------------------------------------------------------------------

    def info(self, path: Path, oids: dict[int, str], missing: dict[int, str]) -> MessyInfo:
        provides: dict[str, str] = {}
        for r in self.recipes.values():
            for name in (r.name, *r.aliases, *(n for v in r.satisfies.values() for n in v)):
                provides[name] = r.path
        dependents: dict[str, set[str]] = {}
        for r in self.recipes.values():
            for name in r.needs():
                if name in provides:
                    dependents.setdefault(provides[name], set()).add(r.path)
        pulls = {number: oids[mark] for number, mark in self.pull_heads.items()}
        pulls.update(missing)
        stacked = tuple(Stacked(pull.number, oids[pull.tip], b.batch_id, oids[mark],
                                tuple(b.stacked_files)) for pull, b, mark in self.stacked)
        return MessyInfo(
            path=path, base=BASE_BRANCH, commits=self.main_count,
            batches=tuple(self._truth(b, oids, dependents) for b in self.batches),
            pulls=dict(sorted(pulls.items())),
            missing_object_refs=tuple(m.ref for m in self.missing),
            missing_objects=tuple((m.ref, m.fake) for m in self.missing),
            duplicate_branches=tuple(self.duplicates),
            mechanical_commits=tuple(oids[m] for m in self.mechanical),
            stacked=stacked,
            ambiguous=tuple(Ambiguity(oids[mark], tuple(files), tuple(b.batch_id for b in bs))
                            for mark, files, bs in self.ambiguous),
            readded=tuple(self.readded),
        )

    def _truth(self, b: _Batch, oids: dict[int, str], dependents: dict[str, set[str]]
               ) -> MessyBatch:
        managed = sorted(p for p in b.carried if _managed(p))
        landed = {p for ln in b.landings for p in ln.files}
        added = sorted(p for p, (pre, post) in b.landed.items() if pre is None and post)
        others: dict[str, set[str]] = {}
        for key in b.wrote:
            others.setdefault(key[0], set()).update(self.written[key] - {b.batch_id})
        ambiguous = [(p, tuple(sorted(ids))) for p, ids in sorted(others.items()) if ids]
        owned = [p for p in added if p in self.files and b in self.landers.get(p, ())]
        outside_deps = sorted({d for p in owned for d in dependents.get(p, ())} - set(b.carried))
        protected = sorted(p for p in landed if p in self.files and b in self.landers.get(p, ())
                           and self.recipes[_name_of(p)].curated)
        return MessyBatch(
            batch_id=b.batch_id, ecosystem=b.ecosystem, id_form=b.id_form,
            commits=tuple(oids[m] for m in b.commits), fixups=tuple(oids[m] for m in b.fixups),
            pulls=(b.pull.number,), branches=tuple(b.branches), landing_form=b.form,
            landings=tuple(Landing(oids[ln.mark], tuple(ln.files), tuple(ln.alongside),
                                   ln.pull, ln.subject) for ln in b.landings),
            unlanded=tuple(p for p in managed if p not in landed),
            added=tuple(added),
            modified=tuple(sorted(p for p, (pre, post) in b.landed.items() if pre and post)),
            deleted=tuple(sorted(p for p, (pre, post) in b.landed.items() if pre and not post)),
            outside=tuple(sorted(b.outside)),
            ambiguous=tuple(ambiguous),
            dependents_outside=tuple(outside_deps),
            protected=tuple(protected),
            hand_deleted=tuple(dict.fromkeys(b.hand_deleted)),
            later_edits=tuple((p, oids[m]) for p, m in b.later_edits),
            mechanical_edits=tuple((p, oids[m]) for p, m in b.mech_edits),
            carried=tuple((p, None if d is None else blob_id(d))
                          for p, d in sorted(b.carried.items())),
        )


# ---------------------------------------------------------------------------------------------
# Writing it


def _write_missing(path: Path, missing: Sequence[_Missing], oids: dict[int, str]
                   ) -> dict[int, str]:
    """The commits of pull request refs whose parent or tree is absent: number -> commit.

    fast-import refuses to name objects it does not have, so these are written afterwards with
    `hash-object --literally` (which checks nothing), and their refs with one update-ref."""
    if not missing:
        return {}
    bases = [oids[m.main_mark] for m in missing]
    trees = process.run("rev-parse", *(f"{c}^{{tree}}" for c in bases), repo=path).text.split()
    heads: dict[int, str] = {}
    for m, base, tree in zip(missing, bases, trees, strict=True):
        who = f"{_HUMANS[1][0]} <{_HUMANS[1][1]}> {m.when} +0000"
        header = (f"tree {tree}\nparent {m.fake}\n" if m.broken == "parent"
                  else f"tree {m.fake}\nparent {base}\n")
        body = (f"{header}author {who}\ncommitter {who}\n\nrecipes: refresh old recipes\n\n"
                "Pushed from a clone whose history was rewritten later; the forge kept the "
                "ref.\n")
        heads[m.number] = process.run("hash-object", "-t", "commit", "--literally", "-w",
                                      "--stdin", repo=path, stdin=body.encode()).text.strip()
    moves = b"".join(f"create {m.ref}\0{heads[m.number]}\0".encode() for m in missing)
    process.run("update-ref", "--stdin", "-z", repo=path, stdin=moves)
    return heads


def _check_target(path: Path, commits: int) -> None:
    if commits < MIN_COMMITS:
        raise UsageError(f"A messy registry needs at least {MIN_COMMITS} commits, not {commits}.",
                         hint=f"pass {MIN_COMMITS} commits or more (the default is "
                         f"{DEFAULT_COMMITS})")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"Cannot create the messy registry at {path}: it is a file or a "
                         "directory that is not empty.", hint="choose a new or empty directory")


def generate(path: Path, *, commits: int = DEFAULT_COMMITS, seed: int = 7, bare: bool = False,
             operator: bool = False) -> MessyInfo:
    """Build a messy registry in path (new or empty) and return its ground truth.

    commits counts the commits reachable from main. With operator, the last commit of main lists
    a fresh signing key and the ops branch is set up as in `git batch demo`; everything before
    that commit is the same as without it.
    """
    _check_target(path, commits)
    keygen = shutil.which("ssh-keygen") if operator else None
    if operator and keygen is None:
        raise UsageError("The operator needs ssh-keygen (OpenSSH) to make a signing key.",
                         hint="install the OpenSSH client tools, or generate without operator")
    path.mkdir(parents=True, exist_ok=True)
    process.run("init", "--quiet", f"--initial-branch={BASE_BRANCH}",
                *(["--bare"] if bare else []), repo=path)
    gen = _Gen(commits, seed)
    with tempfile.TemporaryDirectory(prefix="git-batch-messy-") as tmp:
        marks = Path(tmp) / "marks"
        process.feed("fast-import", "--quiet", "--done", f"--export-marks={marks}", repo=path,
                      chunks=gen.chunks())
        oids = _read_marks(marks)
    missing = _write_missing(path, gen.missing, oids)
    key = operator_key(path, Path(keygen)) if keygen else None
    signers = allow_operator(path, key, datetime.fromtimestamp(gen.last_time, UTC)) if key else ""
    if not bare:
        # The repository is new, so checking out main here cannot clobber anybody's work.
        process.run("reset", "--hard", "--quiet", repo=path)
    info = gen.info(path, oids, missing)
    if key is None:
        return info
    return replace(info, commits=info.commits + 1, operator=add_operator(path, key, signers))


def describe(info: MessyInfo) -> str:
    """A human summary of a messy registry: what it holds, and batches worth a look."""
    found = counts(info)
    lines = [f"Created a messy registry in {info.path}: branch {info.base}, "
             f"{info.commits} commits, {len(info.batches)} batches, "
             f"{len(info.pulls)} pull request refs.", "", "What it holds:"]
    lines += [f"  {what:<40} {n:>6}" for what, n in found.items() if n]

    def first(pick: Callable[[MessyBatch], bool]) -> str | None:
        return next((b.batch_id for b in reversed(info.batches) if pick(b)), None)

    tries = [
        ("a custom-subject squash of a fixed-up pull request",
         first(lambda b: b.landing_form == "squash-custom" and bool(b.fixups)), "show"),
        ("a batch that landed in several squashes", first(lambda b: b.landing_form == "split"),
         "show"),
        ("a batch whose files a migration edited later",
         first(lambda b: bool(b.mechanical_edits) and not b.protected), "revert"),
        ("a batch other people's recipes depend on",
         first(lambda b: len(b.dependents_outside) >= 10), "revert"),
        ("a batch that shares a landing with another", first(lambda b: bool(b.ambiguous)),
         "show"),
    ]
    lines += ["", "Try next:", f"  cd {info.path}", "  git batch list"]
    for what, batch_id, verb in tries:
        if batch_id is not None:
            command = (f"git batch show {batch_id}" if verb == "show"
                       else f"git batch revert {batch_id} --dry-run")
            lines.append(f"  {command:<50} # {what}")
    latest = first(lambda b: bool(b.landings))
    if latest is not None:
        lines.append(f"  git batch inflight {latest:<31} # duplicates, a missing object")
    return "\n".join(lines) + "\n"
