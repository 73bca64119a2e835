"""Incident drill: a whole incident run on a throw-away clone, every step timed.

`run()` makes a mirror clone of the repository in a temporary directory (every ref, objects
hardlinked, so it takes a fraction of a second whatever the history's size), or generates the
demo registry there when there is no repository, and drives the real commands in the clone, each
as its own `git batch` process: record failing runs until the circuit breaker opens, pause the
ecosystem, revert a batch, run the in-flight radar, merge the revert (simulated), resume, reset
the breaker, and reapply. Every step has the exit codes it may end with; the verdict is PASS when
every step did.

Nothing reaches the real repository or its remotes:
- the clone's remotes are removed; an empty bare repository in the temporary directory takes the
  name of the ops remote, so `--push` and `--fetch` are exercised against it;
- the clone gets a signing key of its own, listed in the allowed-signers file by a commit made on
  the clone's base branch only, and an ops branch of its own (the copied one is dropped, so
  production pauses and breakers do not decide the drill);
- every process runs with a git configuration of the drill's (GIT_CONFIG_GLOBAL, no system file)
  and without inherited GIT_* variables, so neither the operator's identity nor settings such as
  GIT_BATCH_PUSH take part. Only the clone itself reads the repository with the operator's
  environment, as every `git batch` command does (ownership checks, safe.directory).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gitops
from gitops import demo, errors
from gitops.config import CONFIG_FILENAME, ENV_OVERRIDES
from gitops.context import Context, load_context
from gitops.git import plumbing, process, repository
from gitops.git.process import GitResult, Oid
from gitops.history import index

PRINCIPAL = "drill@git-batch.invalid"
NAME = "git-batch drill"
REASON = "git batch drill on a throw-away clone"
# Failures per recorded run: with the default breaker (5 attempts, 50 % over 10) the second run
# opens it, so the drill shows a closed gate first. All failures, so any threshold above 0 opens.
FAILED_PER_RUN = 3
MAX_RUNS = 12  # failing runs recorded before the drill gives up waiting for the breaker
DEMO_COMMITS = demo.DEFAULT_COMMITS

OK = (errors.OK,)
BREAKER_OPEN = errors.BreakerOpen.exit_code
PAUSED = errors.Paused.exit_code
INFLIGHT_BREAKS = errors.InflightBreaks.exit_code
_ANY = frozenset(range(256))
_OK0 = frozenset({0})


class Options(NamedTuple):
    ecosystem: str | None = None  # default: the batch's, else the first of ops.ecosystems
    batch_id: str | None = None  # default: the most recent batch that is not reverted
    keep: bool = False  # keep the temporary directory
    workdir: Path | None = None  # where the temporary directory is made
    config: str | None = None  # the repository's --config / GIT_BATCH_CONFIG, if any


class Step(NamedTuple):
    name: str
    command: str  # as an operator would type it (the drill adds --repo CLONE)
    exit_code: int
    expected: tuple[int, ...]
    ok: bool
    duration_ms: int
    summary: str  # one line


class Source(NamedTuple):
    kind: str  # "repository" or "demo"
    path: str
    base_ref: str
    base: Oid


class Report(NamedTuple):
    verdict: str  # "PASS" or "FAIL"
    steps: tuple[Step, ...]
    source: Source | None
    clone: str | None  # the kept temporary directory (--keep), else None
    batch_id: str | None
    ecosystem: str | None
    duration_ms: int
    failure: str | None  # the failed step, in one line

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


class _Stop(Exception):
    """A step failed: the steps after it depend on it, so the drill ends here."""


class _Fail(Exception):
    """Raised by a summarizer: the command exited as expected but its result is wrong."""


def run(ctx: Context | None, options: Options, environ: Mapping[str, str],
        on_step: Callable[[Step], None] | None = None) -> Report:
    """Run the drill on a throw-away clone of ctx's repository (None: of a new demo registry)."""
    if ctx is not None and options.ecosystem is not None:
        _check_ecosystem(options.ecosystem, ctx.config.ops.ecosystems)
    if options.workdir is not None and not options.workdir.is_dir():
        raise errors.UsageError(f"--workdir {options.workdir}: no such directory.",
                                hint="pass an existing directory, or leave --workdir out")
    tmp = Path(tempfile.mkdtemp(prefix="git-batch-drill-", dir=options.workdir)).resolve()
    try:
        report = _Drill(tmp, environ, on_step).run(ctx, options)
    finally:
        if not options.keep:  # also on ^C and on unexpected errors: nothing is left behind
            _remove(tmp)
    return report._replace(clone=str(tmp) if options.keep else None)


def _remove(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    if tmp.exists():  # ^C: a command of the drill may still have been writing; once more
        time.sleep(0.5)
        shutil.rmtree(tmp, ignore_errors=True)


def _check_ecosystem(name: str, known: tuple[str, ...]) -> None:
    if name not in known:
        listing = ", ".join(known) if known else "none (ops.ecosystems is empty)"
        raise errors.UsageError(f"unknown ecosystem '{name}'.",
                                hint=f"known ecosystems: {listing} (ops.ecosystems)")


def _short(ref: str) -> str:
    return ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")


class _Drill:
    def __init__(self, tmp: Path, environ: Mapping[str, str],
                 on_step: Callable[[Step], None] | None) -> None:
        self.tmp = tmp
        self.environ = environ
        self.on_step = on_step
        self.clone = tmp / "clone.git"
        self.steps: list[Step] = []
        self.env: dict[str, str] = {}

    # -- the incident ---------------------------------------------------------------------------

    def run(self, ctx: Context | None, options: Options) -> Report:
        started = time.monotonic()
        source: Source | None = None
        batch_id = ecosystem = failure = None
        try:
            kind = "repository"
            if ctx is None:
                ctx, kind = self._demo(), "demo"
                if options.ecosystem is not None:
                    _check_ecosystem(options.ecosystem, ctx.config.ops.ecosystems)
            base_ref, base = repository.resolve_base(ctx.repo, ctx.config)
            source = Source(kind, str(ctx.repo.work_tree or ctx.repo.git_dir), base_ref, base)
            self.env = self._environment(ctx, source, options)
            self._clone(ctx)
            self._setup(ctx, source)
            batch_id, ecosystem = self._choose(ctx, options)
            remote = ctx.config.ops.remote
            self._incident(batch_id, ecosystem, remote, source.base_ref)
        except _Stop as stop:
            failure = str(stop)
        verdict = "FAIL" if failure else "PASS"
        return Report(verdict, tuple(self.steps), source, None, batch_id, ecosystem,
                      _ms(started), failure)

    def _incident(self, batch_id: str, eco: str, remote: str, base_ref: str) -> None:
        self._cli("ops init", ["ops", "init", "--push", remote], OK, _first_line)
        self._trip_breaker(eco, remote)
        self._cli("pause", ["pause", "--ecosystem", eco, "--reason", REASON, "--push", remote],
                  OK, _first_line)
        self._cli("gate", ["gate", "--ecosystem", eco, "--fetch", remote], (PAUSED,), _gate)
        revert = self._cli("revert", ["revert", batch_id, "--json"], OK, _written)
        self._cli("inflight", ["inflight", batch_id, "--json"], (0, INFLIGHT_BREAKS), _radar)
        self._merge(base_ref, json.loads(revert.stdout))
        self._cli("resume", ["resume", "--ecosystem", eco, "--reason", REASON, "--push",
                             remote], OK, _first_line)
        self._cli("breaker reset", ["breaker", "reset", eco, "--reason", REASON, "--push",
                                    remote], OK, _first_line)
        self._cli("gate", ["gate", "--ecosystem", eco, "--fetch", remote], OK, _gate)
        self._cli("reapply", ["reapply", batch_id, "--json"], OK, _written)

    def _trip_breaker(self, eco: str, remote: str) -> None:
        """Record failing runs until the gate refuses with the breaker (exit 40)."""
        for n in range(1, MAX_RUNS + 1):
            self._cli("record", ["record", "--ecosystem", eco, "--passed", "0", "--failed",
                                 str(FAILED_PER_RUN), "--push", remote], OK, _first_line)
            last = n == MAX_RUNS
            res = self._cli("gate", ["gate", "--ecosystem", eco, "--fetch", remote],
                            (BREAKER_OPEN,) if last else (0, BREAKER_OPEN),
                            _gate_after(n) if last else _gate)
            if res.returncode == BREAKER_OPEN:
                return

    # -- steps ----------------------------------------------------------------------------------

    def _add(self, step: Step) -> None:
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        if not step.ok:
            raise _Stop(f"step '{step.name}' failed: {step.summary}")

    def _cli(self, name: str, args: Sequence[str], expected: tuple[int, ...],
             summarize: Callable[[GitResult], str]) -> GitResult:
        """One `git batch` process in the clone: its exit code must be one of expected."""
        started = time.monotonic()
        # `git batch` finds the shim in self.env's PATH: this interpreter, `-m gitops`.
        res = process.run("batch", "--repo", str(self.clone), *args, repo=self.clone,
                         env=self.env, ok=_ANY)
        took = _ms(started)
        ok = res.returncode in expected
        if ok:
            try:
                summary = summarize(res)
            except (_Fail, ValueError, KeyError, TypeError) as exc:
                ok, summary = False, str(exc) or f"unexpected output: {exc!r}"
        else:
            want = " or ".join(str(c) for c in expected)
            summary = f"exit {res.returncode}, expected {want}: {_error_line(res)}"
        command = "git batch " + shlex.join(args)
        self._add(Step(name, command, res.returncode, expected, ok, took, summary))
        return res

    def _local(self, name: str, command: str, work: Callable[[], str]) -> None:
        """A step the drill does itself (with git plumbing): GitopsError fails it."""
        started = time.monotonic()
        try:
            summary, code, ok = work(), 0, True
        except _Fail as exc:
            summary, code, ok = str(exc), errors.GitopsError.exit_code, False
        except errors.GitopsError as exc:
            summary, code, ok = exc.message, exc.exit_code, False
        self._add(Step(name, command, code, OK, ok, _ms(started), summary))

    def _git(self, *args: str, stdin: bytes | None = None, repo: Path | None = None,
             extra: dict[str, str] | None = None, ok: frozenset[int] = _OK0) -> GitResult:
        """git in the clone (or repo) with the drill's own environment."""
        env = {**self.env, **(extra or {})}
        return process.run(*args, repo=repo or self.clone, stdin=stdin, env=env, ok=ok)

    # -- the throw-away clone -------------------------------------------------------------------

    def _demo(self) -> Context:
        path = self.tmp / "demo.git"
        holder: list[Context] = []

        def work() -> str:
            info = demo.generate(path, commits=DEMO_COMMITS, bare=True)
            # The demo's own settings: none of the operator's GIT_BATCH_* overrides apply.
            holder.append(load_context(str(path), None, None, {}))
            return (f"no repository here: generated the demo registry ({info.commits} commits, "
                    f"{len(info.batches)} batches) in {path}")

        self._local("demo", f"git batch demo --bare {shlex.quote(str(path))}", work)
        return holder[0]

    def _environment(self, ctx: Context, source: Source, options: Options) -> dict[str, str]:
        """What every process in the clone gets: the drill's git config, no inherited GIT_*, the
        repository's settings frozen in a file, the base branch pinned, this git-batch first."""
        for sub in ("bin", "tmp", "hooks"):
            (self.tmp / sub).mkdir()
        (self.tmp / "gitconfig").write_text("", encoding="utf-8")
        config = self.tmp / "git-batch.toml"
        config.write_text(_config_text(ctx, None if source.kind == "demo" else options.config),
                          encoding="utf-8")
        shim = self.tmp / "bin" / "git-batch"
        # The same interpreter and package as this process (-P: nothing from the clone's dir).
        shim.write_text("#!/bin/sh\n# git-batch for the drill: the interpreter that wrote this\n"
                        f"exec {shlex.quote(sys.executable)} -P -m gitops \"$@\"\n",
                        encoding="utf-8")
        shim.chmod(0o755)
        env = {k: v for k, v in self.environ.items()
               if not k.startswith("GIT_") and k not in ("SSH_AUTH_SOCK", "GITHUB_OUTPUT")}
        if "GIT_EXEC_PATH" in self.environ:
            env["GIT_EXEC_PATH"] = self.environ["GIT_EXEC_PATH"]
        if source.kind == "repository":  # the configuration layer of the real repository
            env.update({k: self.environ[k] for k in ENV_OVERRIDES if self.environ.get(k)})
        package_root = str(Path(gitops.__file__).resolve().parent.parent)
        python_path = self.environ.get("PYTHONPATH")
        env.update({
            "GIT_CONFIG_GLOBAL": str(self.tmp / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_BATCH_CONFIG": str(config),
            "GIT_BATCH_BASE_BRANCH": source.base_ref,
            "PATH": os.pathsep.join([str(self.tmp / "bin"), self.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join([package_root, *([python_path] if python_path else [])]),
            "TMPDIR": str(self.tmp / "tmp"),  # the commands' temporary files go away with it
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_EDITOR": "false",
            "GIT_PAGER": "cat",
        })
        return env

    def _clone(self, ctx: Context) -> None:
        src = ctx.repo.common_dir

        def work() -> str:
            if ctx.repo.shallow:
                raise _Fail(f"{src} is a shallow clone: git batch needs the whole history "
                            "(git fetch --unshallow)")
            # The operator's environment: reading the repository is what every command does, and
            # ownership checks (safe.directory) must see their settings. --template: no hooks.
            process.run("clone", "--quiet", "--mirror", "--local",
                       f"--template={self.tmp / 'hooks'}", "--", str(src), str(self.clone),
                       repo=self.tmp)
            refs = self._git("for-each-ref", "--format=%(refname)").text.split()
            return f"mirror of {src} in {self.clone} ({len(refs)} refs, objects hardlinked)"

        self._local("clone", f"git clone --mirror --local {shlex.quote(str(src))} "
                             f"{shlex.quote(str(self.clone))}", work)

    def _setup(self, ctx: Context, source: Source) -> None:
        cfg = ctx.config
        remote, branch = cfg.ops.remote, cfg.ops.branch

        def work() -> str:
            self._isolate(remote)
            key = self._keygen()
            listed = self._allow(source, cfg.ops.allowed_signers, key)
            dropped = self._drop_ops_refs(branch)
            copied = _copy_index(index.index_path(ctx.repo.common_dir, source.base_ref),
                                 index.index_path(self.clone, source.base_ref))
            parts = [f"signing key {PRINCIPAL} listed in {_short(source.base_ref)}:"
                     f"{cfg.ops.allowed_signers} by {listed[:10]} (clone only)",
                     f"remote {remote} = an empty repository in the drill directory",
                     f"ops branch {branch} starts afresh"
                     + (f" ({dropped} copied refs dropped)" if dropped else "")]
            if copied:
                parts.append("history index copied")
            return "; ".join(parts)

        self._local("setup", "ssh-keygen -t ed25519; git config; git commit-tree; "
                             "git update-ref", work)

    def _isolate(self, remote: str) -> None:
        """No remote of the real repository survives; the drill's own empty one takes the ops
        remote's name. Identity and signing key live in the clone's config only."""
        names = self._git("config", "--local", "--name-only", "--get-regexp", r"^remote\.",
                          ok=frozenset({0, 1})).text.split()
        for section in sorted({name.rsplit(".", 1)[0] for name in names}):
            self._git("config", "--local", "--remove-section", "--end-of-options", section)
        origin = self.tmp / "origin.git"
        self._git("init", "--quiet", "--bare", f"--template={self.tmp / 'hooks'}", "--",
                  str(origin), repo=self.tmp)
        settings = {
            f"remote.{remote}.url": str(origin),
            f"remote.{remote}.fetch": f"+refs/heads/*:refs/remotes/{remote}/*",
            "user.name": NAME,
            "user.email": PRINCIPAL,
            "gpg.format": "ssh",
            "user.signingkey": str(self.tmp / "drill_key"),
            "commit.gpgsign": "false",
            "core.hooksPath": str(self.tmp / "hooks"),  # no hook of anyone's runs in the clone
            "gc.auto": "0",  # no background repacking of hardlinked packs mid-drill
            "maintenance.auto": "false",
        }
        for key, value in settings.items():
            self._git("config", "--local", "--end-of-options", key, value)

    def _keygen(self) -> str:
        """A fresh ed25519 key for this drill only; returns its public line."""
        program = shutil.which("ssh-keygen", path=self.env.get("PATH"))
        if program is None:
            raise _Fail("ssh-keygen not found: the drill signs its ops commits with a "
                        "throw-away ssh key (install OpenSSH)")
        key = self.tmp / "drill_key"
        code = process.run_program(Path(program), ["-q", "-t", "ed25519", "-N", "", "-C",
                                                  PRINCIPAL, "-f", str(key)],
                                  cwd=self.tmp, stdin=b"")
        if code != 0:
            raise _Fail(f"ssh-keygen exited with {code} while making the drill's key")
        return key.with_name(key.name + ".pub").read_text(encoding="utf-8").strip()

    def _allow(self, source: Source, path: str, public: str) -> Oid:
        """A commit on the clone's base branch adding the drill's key to the allowed-signers
        file (existing lines kept), built with plumbing and a temporary index."""
        base = source.base
        old = self._git("cat-file", "blob", f"{base}:{path}", ok=frozenset({0, 128}))
        text = old.text if old.returncode == 0 else ""
        if text and not text.endswith("\n"):
            text += "\n"
        text += f"{PRINCIPAL} {public}\n"
        blob = self._git("hash-object", "-w", "--stdin", stdin=text.encode()).text.strip()
        scratch = {"GIT_INDEX_FILE": str(self.tmp / "index")}
        self._git("read-tree", base, extra=scratch)
        self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", extra=scratch)
        tree = self._git("write-tree", extra=scratch).text.strip()
        message = (f"drill: allow the drill's signing key ({PRINCIPAL})\n\nMade by git batch "
                   "drill in a throw-away clone; it never leaves it.\n")
        commit = Oid(self._git("commit-tree", "--no-gpg-sign", "-p", base, "-F", "-",
                               "--end-of-options", tree, stdin=message.encode()).text.strip())
        if not plumbing.update_ref_cas(self.clone, source.base_ref, commit, base,
                                     "git-batch drill: allowed signers"):
            raise _Fail(f"{source.base_ref} in the clone is not at {base[:10]} any more")
        return commit

    def _drop_ops_refs(self, branch: str) -> int:
        """Delete the copied ops branch (local and remote-tracking) and this clone's memory of
        verified tips, so the drill starts from `ops init` whatever production's state is."""
        refs = self._git("for-each-ref", "--format=%(refname)", "refs/heads/", "refs/remotes/",
                         "refs/git-batch/ops-seen/").text.split()
        doomed = [r for r in refs if r == f"refs/heads/{branch}"
                  or (r.startswith("refs/remotes/") and r.endswith(f"/{branch}"))
                  or r.startswith("refs/git-batch/ops-seen/")]
        if doomed:
            stdin = b"".join(f"delete {ref}\0\0".encode() for ref in doomed)
            self._git("update-ref", "--stdin", "-z", "-m", "git-batch drill", stdin=stdin)
        return len(doomed)

    # -- the batch ------------------------------------------------------------------------------

    def _choose(self, ctx: Context, options: Options) -> tuple[str, str]:
        chosen: list[tuple[str, str]] = []
        known = ctx.config.ops.ecosystems

        def summarize(res: GitResult) -> str:
            rows: list[dict[str, Any]] = json.loads(res.stdout)["batches"]
            row = _pick(rows, options.batch_id)
            eco = options.ecosystem or next(
                (e for e in row["ecosystems"] if e in known), known[0] if known else None)
            if eco is None:
                raise _Fail("ops.ecosystems is empty: there is no ecosystem to pause")
            chosen.append((row["batch_id"], eco))
            return (f"{len(rows)} batches on the base branch; drilling {row['batch_id']} "
                    f"({row['state']}, {row['commits']} commits, last {row['last_date']}) and "
                    f"ecosystem {eco}")

        self._cli("list", ["list", "--json"], OK, summarize)
        return chosen[0]

    def _merge(self, base_ref: str, revert: dict[str, Any]) -> None:
        commit = revert.get("commit")

        def work() -> str:
            if not commit:
                return "nothing to merge: the revert changed nothing"
            # The revert's parent is the base tip it was planned on: a fast-forward.
            if not plumbing.update_ref_cas(self.clone, base_ref, commit, revert["target"],
                                         "git-batch drill: merge the revert"):
                raise _Fail(f"{base_ref} moved in the clone; the revert is not a fast-forward")
            return (f"{_short(base_ref)} fast-forwarded to {commit[:10]}: the revert's pull "
                    "request merged (in the clone)")

        shown = f"git update-ref {base_ref} {commit[:10] if commit else '-'}"
        self._local("merge revert", shown, work)


# -- helpers --------------------------------------------------------------------------------------


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _config_text(ctx: Context, explicit: str | None) -> str:
    """The configuration text the repository's own commands read (explicit file, the work
    tree's file, or a bare repository's HEAD blob), so the clone runs with the same settings."""
    if explicit:
        try:
            return Path(explicit).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.ConfigError(f"{explicit}: cannot read configuration: {exc}.") from None
    if ctx.repo.work_tree is not None:
        path = Path(ctx.repo.work_tree) / CONFIG_FILENAME
        return path.read_text(encoding="utf-8") if path.is_file() else ""
    res = process.run("cat-file", "blob", f"HEAD:{CONFIG_FILENAME}", repo=ctx.repo.path,
                     ok=frozenset({0, 128}))
    return res.text if res.returncode == 0 else ""


def _copy_index(src: Path, dst: Path) -> bool:
    """Copy the repository's history index (a cache) into the clone with sqlite's online backup
    (a consistent snapshot, read-only on the source), instead of building one from scratch.
    False when there is none or it cannot be read; the clone then builds its own."""
    if not src.is_file():
        return False
    try:
        source = sqlite3.connect(f"{src.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            target = sqlite3.connect(dst)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    except (sqlite3.Error, OSError):
        dst.unlink(missing_ok=True)
        return False
    return True


def _pick(rows: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    """--batch, else the most recent batch that is not reverted (else the most recent)."""
    if not rows:
        raise _Fail("no batch on the base branch: nothing to revert (run the drill in a "
                    "registry with batches, or outside any repository for the demo)")
    if wanted is not None:
        for row in rows:
            if row["batch_id"] == wanted:
                return row
        raise _Fail(f"batch {wanted} is not on the base branch ({len(rows)} batches; the most "
                    f"recent is {rows[-1]['batch_id']})")
    live = [r for r in rows if r["state"] != "reverted"] or rows
    return max(enumerate(live), key=lambda item: (item[1]["last_date"], item[0]))[1]


def _error_line(res: GitResult) -> str:
    lines = [line.strip() for line in res.stderr.decode("utf-8", "replace").splitlines()
             if line.strip()]
    return next((line for line in lines if "error:" in line), lines[-1] if lines else
                "(no output)")


def _first_line(res: GitResult) -> str:
    lines = [line.strip() for line in res.text.splitlines() if line.strip()]
    if not lines:
        raise _Fail("the command printed nothing")
    return lines[0].removesuffix(".")


def _pairs(res: GitResult) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in res.text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def _gate(res: GitResult) -> str:
    pairs = _pairs(res)
    verdict = "go" if res.returncode == 0 else f"refused with exit {res.returncode}"
    breaker = f" [breaker {pairs['breaker']}]" if pairs.get("breaker") else ""
    return f"{verdict}{breaker}: {pairs.get('reason', '(no reason)')}"


def _gate_after(runs: int) -> Callable[[GitResult], str]:
    def summarize(res: GitResult) -> str:
        return f"breaker opened after {runs} failing runs; " + _gate(res)
    return summarize


def _written(res: GitResult) -> str:
    doc: dict[str, Any] = json.loads(res.stdout)
    counts = Counter(str(f["outcome"]) for f in doc["files"])
    files = f"{len(doc['files'])} files" + (
        " (" + ", ".join(f"{what} {n}" for what, n in sorted(counts.items())) + ")"
        if counts else "")
    if not doc.get("commit"):
        return f"nothing to {doc['kind']}: {files}"
    return f"wrote {doc['commit'][:10]} on {doc['branch']}: {files}"


def _radar(res: GitResult) -> str:
    doc: dict[str, Any] = json.loads(res.stdout)
    counts = ", ".join(f"{n} {verdict}" for verdict, n in doc["summary"].items())
    text = f"{len(doc['branches'])} in-flight branches" + (f": {counts}" if counts else "")
    if res.returncode == INFLIGHT_BREAKS:
        text += f" ({doc['blocking']} blocking: a finding for the incident, not a drill failure)"
    return text
