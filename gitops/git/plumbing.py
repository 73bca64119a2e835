"""git plumbing the core needs, one function per question: refs, ancestry, CAS ref moves,
pushes and fetches, object writes, merge-tree, diff-tree, configuration, hook inputs.

Each function starts git through `process`, never builds a command line from unchecked user
text, and decides from exit codes and -z output rather than from git's prose (STYLE.md P4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

from gitops.errors import GitFailed
from gitops.git.process import ANY_EXIT, ZERO_OID, GitResult, Oid, StrPath, git_env, run

# One record per commit: \x1e starts it, NUL separates fields, the message is the last field.
# With -z, git ends the format with a NUL and starts the change list with a newline.
LOG_FORMAT = "--format=%x1e%H%x00%P%x00%an%x00%ae%x00%at%x00%ct%x00%B%x00"
# --raw rather than --name-status: the same tree diff for git, and it also names both sides'
# blob ids and modes, which the index keeps so that a revert reads no trees. --no-abbrev: full
# ids whatever core.abbrev says. history.log.parse_log reads both forms.
LOG_DIFF = ("--raw", "--no-abbrev", "-z", "--no-renames", "--diff-merges=first-parent")


def resolve_commit(repo: StrPath, rev: str) -> Oid | None:
    """The commit id rev names, or None; rev is data, never an option."""
    res = run(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
        repo=repo, ok=frozenset({0, 1, 128}),
    )
    out = res.text.strip()
    if res.returncode != 0 or len(out) != 40:
        return None
    return Oid(out)


def full_ref_name(repo: StrPath, rev: str) -> str | None:
    """The full ref name rev stands for as git resolves it ('main' -> 'refs/heads/main'), or
    None when it names no ref (a commit id, an expression, nothing)."""
    res = run("rev-parse", "--verify", "--quiet", "--symbolic-full-name", "--end-of-options", rev,
              repo=repo, ok=frozenset({0, 1, 128}))
    out = res.text.strip()
    return out if res.returncode == 0 and out else None


def is_ancestor(repo: StrPath, ancestor: Oid, descendant: Oid) -> bool:
    res = run("merge-base", "--is-ancestor", ancestor, descendant, repo=repo, ok=frozenset({0, 1}))
    return res.returncode == 0


def object_exists(repo: StrPath, oid: Oid) -> bool:
    res = run("cat-file", "-e", f"{oid}^{{commit}}", repo=repo, ok=frozenset({0, 1, 128}))
    return res.returncode == 0


# -- writing -------------------------------------------------------------------


def has_identity(repo: StrPath) -> bool:
    """Whether git can name a committer (user.name and user.email or their env variables)."""
    res = run("var", "GIT_COMMITTER_IDENT", repo=repo, ok=frozenset({0, 128}))
    return res.returncode == 0


def ref_value(repo: StrPath, ref: str) -> Oid | None:
    """The object id a full ref points at, or None when it does not exist (show-ref exit 1)."""
    res = run("show-ref", "--verify", "--hash", "--end-of-options", ref, repo=repo,
              ok=frozenset({0, 1, 128}))
    out = res.text.strip()
    return Oid(out) if res.returncode == 0 and len(out) == 40 else None


def commit_tree(repo: StrPath, tree: str, parents: Iterable[str], message: str, *,
                sign: bool) -> Oid:
    """A commit of tree with parents and message (`git commit-tree`), signed with the user's
    signing setup when sign; no ref moves."""
    args = ["commit-tree", "-S" if sign else "--no-gpg-sign"]
    for parent in parents:
        args += ["-p", parent]
    args += ["-F", "-", "--end-of-options", tree]
    return Oid(run(*args, repo=repo, stdin=message.encode()).text.strip())


def update_ref_cas(repo: StrPath, ref: str, new: str, expected_old: str | None, reason: str
                   ) -> bool:
    """Move ref to new only if it still points at expected_old (None: must not exist).

    One `update-ref --stdin -z` transaction (git update-ref(1)); False when the swap was lost.
    """
    res = run("update-ref", "--stdin", "-z", "-m", reason, repo=repo,
              stdin=_cas_line(ref, new, expected_old), ok=frozenset({0, 1, 128}))
    return res.returncode == 0


def _cas_line(ref: str, new: str, expected_old: str | None) -> bytes:
    """`update-ref --stdin -z`'s update command; the zero id: the ref must not exist yet."""
    return f"update {ref}\0{new}\0{expected_old or ZERO_OID}\0".encode()


def push_ref(repo: StrPath, remote: str, ref: str) -> None:
    """Push one ref to the same name on remote, never forced."""
    run("push", "--porcelain", "--end-of-options", remote, f"{ref}:{ref}", repo=repo)



# -- objects, signatures, remotes -------------------


def hash_object_write(repo: StrPath, data: bytes) -> Oid:
    """Store data as a blob (`git hash-object -w --stdin`) and return its id."""
    return Oid(run("hash-object", "-w", "--stdin", repo=repo, stdin=data).text.strip())


def mktree(repo: StrPath, entries: Iterable[tuple[str, str, str, str]]) -> Oid:
    """A tree of (mode, type, oid, name) entries (`git mktree -z`); no index, no work tree."""
    stdin = b"".join(f"{mode} {kind} {oid}\t{name}\0".encode() for mode, kind, oid, name in entries)
    return Oid(run("mktree", "-z", repo=repo, stdin=stdin).text.strip())


def commit_tree_signed(repo: StrPath, tree: Oid, parents: Iterable[Oid], message: str, *,
                       sign: bool, epoch: int) -> GitResult:
    """`git commit-tree -S` (or `--no-gpg-sign`) dated epoch (UTC) for author and committer.

    Signing uses the user's own setup (user.signingkey, gpg.format). The result is returned
    whatever the exit code, so the caller can explain a signing failure; stdout holds the id.
    """
    args = ["commit-tree", "-S" if sign else "--no-gpg-sign"]
    for parent in parents:
        args += ["-p", parent]
    args += ["-F", "-", "--end-of-options", tree]
    date = f"@{epoch} +0000"
    env = git_env(extra={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    return run(*args, repo=repo, stdin=message.encode(), env=env, ok=frozenset(range(256)))


def config_get(repo: StrPath, key: str, *, type_: str | None = None) -> str | None:
    """The value of one git configuration key as git resolves it (type_: git's --type, e.g.
    "bool" gives "true"/"false" for every spelling), or None when unset."""
    typed = [f"--type={type_}"] if type_ else []
    res = run("config", *typed, "--get", "--end-of-options", key, repo=repo, ok=frozenset({0, 1}))
    return res.text.rstrip("\n") if res.returncode == 0 else None


def read_refs(repo: StrPath, refs: Iterable[str]) -> dict[str, Oid]:
    """Values of the given full refs that exist, in one `for-each-ref` (absent ones are missing).

    for-each-ref patterns also match refs below a name (refs/heads/x/y for refs/heads/x), so the
    result is filtered to the exact names.
    """
    wanted = list(dict.fromkeys(refs))
    if not wanted:
        return {}
    res = run("for-each-ref", "--format=%(objectname) %(refname)", "--end-of-options", *wanted,
              repo=repo)
    out: dict[str, Oid] = {}
    for line in res.text.splitlines():
        oid, _, name = line.partition(" ")
        if name in wanted:
            out[name] = Oid(oid)
    return out


def cat_blobs(repo: StrPath, specs: Iterable[str]) -> list[bytes | None]:
    """Contents of `<rev>:<path>` blobs in one `cat-file --batch`; None for a missing one (or
    not a blob: a tree at that path)."""
    items = list(specs)
    if not items:
        return []
    if any("\n" in s for s in items):
        raise ValueError("object names must not contain newlines")
    data = run("cat-file", "--batch", repo=repo,
               stdin="".join(f"{s}\n" for s in items).encode()).stdout
    out: list[bytes | None] = []
    pos = 0
    for _ in items:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            out.append(data[pos:pos + size])
            pos += size + 1
        elif len(header) == 3:  # not a blob: skip its contents
            pos += int(header[2]) + 1
            out.append(None)
        else:  # "<spec> missing" or "<spec> ambiguous"
            out.append(None)
    return out


def fetch_branch(repo: StrPath, remote: str, branch_ref: str, tracking_ref: str, *,
                 timeout: float) -> GitResult | None:
    """Fetch one branch of remote into tracking_ref (forced, so a rewrite shows; the caller
    checks ancestry). None when the remote did not answer within timeout."""
    return _run_timed("fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                        "--no-auto-maintenance", "--no-recurse-submodules", "--end-of-options",
                        remote, f"+{branch_ref}:{tracking_ref}", repo=repo, timeout=timeout)


def remote_has_ref(repo: StrPath, remote: str, ref: str, *, timeout: float) -> bool | None:
    """Whether remote has ref (`ls-remote --exit-code`: 2 means no such ref); None: unreachable."""
    res = _run_timed("ls-remote", "--exit-code", "--end-of-options", remote, ref, repo=repo,
                       timeout=timeout)
    if res is None or res.returncode not in (0, 2):
        return None
    return res.returncode == 0


def push_lease(repo: StrPath, remote: str, new: Oid, ref: str, expected: Oid | None, *,
               timeout: float) -> str:
    """Push new to remote's ref only if the remote still has expected (None: no such ref).

    `--force-with-lease=<ref>:<expect>` makes the remote check the old value under its ref lock
    (git-push(1)); new always descends from expected, so nothing is ever overwritten. Returns
    "ok", "rejected" (lost the race: fetch and retry), "unreachable", or raises GitFailed when a
    hook of the remote declined it (a protected branch).
    """
    lease = f"--force-with-lease={ref}:{expected or ''}"
    res = _run_timed("push", "--porcelain", "--quiet", lease, "--end-of-options", remote,
                       f"{new}:{ref}", repo=repo, timeout=timeout)
    if res is None:
        return "unreachable"
    for line in res.text.splitlines():
        # --porcelain: "<flag>\t<from>:<to>\t<summary>"; flag '!' = rejected (git-push(1) OUTPUT)
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(f":{ref}"):
            if parts[0] != "!":
                return "ok" if res.returncode == 0 else "rejected"
            # "[rejected] (stale info|fetch first|non-fast-forward)": the lease lost locally;
            # "[remote rejected] (failed to update ref|failed to lock)": receive-pack lost the
            # compare-and-swap under its ref lock. Both are races. A hook (pre-receive, a
            # protected branch) says "... declined": retrying cannot help.
            if "declined" in parts[2]:
                raise GitFailed(res.argv, res.returncode, res.stdout, res.stderr)
            return "rejected"
    if res.returncode == 0:  # pragma: no cover - git always prints the ref line with --porcelain
        return "ok"
    return "unreachable"


# -- unmerged refs, merge bases, simulated merges ----------------------

_HEX = frozenset("0123456789abcdef")


def _full_ids(oids: Iterable[str]) -> list[str]:
    """oids as a list, each checked to be a full object id (they go to git's stdin or argv)."""
    out = list(oids)
    for oid in out:
        if len(oid) != 40 or not _HEX.issuperset(oid):
            raise ValueError(f"not a full object id: {oid!r}")
    return out


class RefTip(NamedTuple):
    """One ref from `for-each-ref`: its full name, the commit it names, its symref target."""

    name: str
    oid: Oid  # the commit (annotated tags peeled)
    symref: str  # "" unless the ref is symbolic (refs/remotes/origin/HEAD)


def list_refs(repo: StrPath, prefixes: Iterable[str]) -> list[RefTip]:
    """Refs below prefixes that name commits (annotated tags peeled), one `for-each-ref`.

    for-each-ref matches a pattern literally "up to a slash", so prefixes are ref directories
    ('refs/heads/'); callers filter the names further.
    """
    wanted = list(dict.fromkeys(prefixes))
    if not wanted:
        return []
    args = ["for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(objecttype)%00%(*objectname)%00"
            "%(*objecttype)%00%(symref)"]
    res = run(*args, "--end-of-options", *wanted, repo=repo)
    out = []
    for line in res.stdout.split(b"\n"):
        fields = line.decode("utf-8", "surrogateescape").split("\0")
        if len(fields) != 6:
            continue
        name, oid, kind, peeled, peeled_kind, symref = fields
        if kind == "commit":
            out.append(RefTip(name, Oid(oid), symref))
        elif kind == "tag" and peeled_kind == "commit":
            out.append(RefTip(name, Oid(peeled), symref))
    return out


def independent(repo: StrPath, oids: Iterable[str]) -> list[Oid]:
    """The commits of oids that no other one of them reaches (`merge-base --independent`)."""
    ids = _full_ids(oids)
    if len(ids) < 2:
        return [Oid(o) for o in ids]
    res = run("merge-base", "--independent", *ids, repo=repo)
    return [Oid(o) for o in res.text.split()]


class MergeMessage(NamedTuple):
    """One informational record of `merge-tree -z`: the paths, the stable type, the text."""

    paths: tuple[str, ...]
    kind: str  # "Auto-merging", "CONFLICT (contents)", "CONFLICT (modify/delete)", ...
    text: str


class MergeResult(NamedTuple):
    """What `merge-tree --write-tree` says about one merge."""

    clean: bool
    tree: Oid
    stages: tuple[tuple[str, int], ...]  # (path, stage 1-3) of every conflicted index entry
    messages: tuple[MergeMessage, ...]  # only for conflicted merges


def merge_trees(repo: StrPath, pairs: Iterable[tuple[str, str]]) -> list[MergeResult]:
    """Simulated merges of each (ours, theirs) commit pair, in order, in ONE
    `git merge-tree --write-tree --stdin -z` process (git >= 2.38); no index, no work tree.

    merge-tree writes the result trees (and their blobs) to the object store; nothing else
    changes. git 2.39 takes no `--merge-base` in --stdin mode, so git finds the merge bases
    itself, as `git merge` would.
    """
    items = [(a, b) for a, b in pairs]
    if not items:
        return []
    flat = _full_ids(x for pair in items for x in pair)
    stdin = "".join(f"{flat[i]} {flat[i + 1]}\n" for i in range(0, len(flat), 2)).encode()
    res = run("merge-tree", "--write-tree", "--stdin", "-z", repo=repo, stdin=stdin)
    try:
        return parse_merge_tree(res.stdout, len(items))
    except (ValueError, IndexError):
        raise GitFailed(res.argv, res.returncode, res.stdout,
                        b"unexpected merge-tree output: " + res.stdout[:200]) from None


def parse_merge_tree(data: bytes, count: int) -> list[MergeResult]:
    """Parse `merge-tree --write-tree --stdin -z` output (git-merge-tree(1), OUTPUT): per merge
    `<status>NUL<tree>NUL`, then for a conflicted merge (status 0) `<mode> <oid> <stage>TAB<path>
    NUL` entries, a NUL opening the messages, records `<n>NUL<path>NUL...<type>NUL<text>NUL`,
    and a closing NUL. A status below 0 means git could not run that merge."""
    tokens = data.split(b"\0")
    pos = 0
    out: list[MergeResult] = []

    def text(raw: bytes) -> str:
        return raw.decode("utf-8", "surrogateescape")

    for _ in range(count):
        status, tree = tokens[pos], text(tokens[pos + 1])
        pos += 2
        if status not in (b"0", b"1") or len(tree) != 40:
            raise ValueError(f"merge status {status!r}")
        stages: list[tuple[str, int]] = []
        messages: list[MergeMessage] = []
        if status == b"0":
            while tokens[pos]:
                meta, _, path = text(tokens[pos]).partition("\t")
                stages.append((path, int(meta.split(" ")[2])))
                pos += 1
            pos += 1  # the NUL that opens the messages section
            while tokens[pos]:
                n = int(tokens[pos])
                paths = tuple(text(t) for t in tokens[pos + 1:pos + 1 + n])
                messages.append(MergeMessage(paths, text(tokens[pos + 1 + n]),
                                             text(tokens[pos + 2 + n])))
                pos += n + 3
        if tokens[pos]:
            raise ValueError("missing the NUL that ends a merge")
        pos += 1
        out.append(MergeResult(status == b"1", Oid(tree), tuple(stages), tuple(messages)))
    return out


def diff_trees(repo: StrPath, pairs: Iterable[tuple[str, str]]
               ) -> dict[tuple[str, str], dict[str, str]]:
    """(old tree, new tree) -> {path: status A/D/M/T} for every pair, in ONE `git diff-tree
    --stdin -r -z --no-renames`: git skips subtrees with equal ids, which libgit2's tree diff
    does not, and which matters for a registry's directories of thousands of entries)."""
    wanted = list(dict.fromkeys((a, b) for a, b in pairs))
    out: dict[tuple[str, str], dict[str, str]] = {pair: {} for pair in wanted}
    if not wanted:
        return out
    flat = _full_ids(x for pair in wanted for x in pair)
    stdin = "".join(f"{flat[i]} {flat[i + 1]}\n" for i in range(0, len(flat), 2)).encode()
    res = run("diff-tree", "--stdin", "-r", "-z", "--no-renames", "--name-status", repo=repo,
              stdin=stdin)
    # Each pair prints "<old> <new>\n", then "<status>NUL<path>NUL" per changed file; with -z
    # the header line shares a token with the next status (or the next header).
    current: dict[str, str] | None = None
    tokens = res.stdout.split(b"\0")
    i = 0
    while i < len(tokens):
        *headers, status = tokens[i].decode("utf-8", "surrogateescape").split("\n")
        for header in headers:
            old, _, new = header.partition(" ")
            current = out.setdefault((old, new), {})
        if status:
            if current is None or i + 1 >= len(tokens):
                raise GitFailed(res.argv, res.returncode, res.stdout,
                                b"unexpected diff-tree output")
            current[tokens[i + 1].decode("utf-8", "surrogateescape")] = status[:1]
            i += 2
        else:
            i += 1
    return out


T = TypeVar("T")
R = TypeVar("R")


def readable_parts(items: Sequence[T], run_all: Callable[[list[T]], R]
                   ) -> tuple[list[tuple[list[T], R]], dict[T, str]]:
    """run_all(items); when git fails, run_all on halves, recursively, until the items git
    cannot read (a commit, tree or blob missing from a mirror) stand alone. Returns the parts
    that ran with their results, and each item that failed alone with git's message. When
    several items all fail, git is failing, not a mirror: the first error is raised."""
    done, failed = _split(list(items), run_all)
    if not done and len(items) > 1:
        run_all([items[0]])  # fails again: raise git's own error
    return done, failed


def _split(items: list[T], run_all: Callable[[list[T]], R]
           ) -> tuple[list[tuple[list[T], R]], dict[T, str]]:
    try:
        return [(items, run_all(items))], {}
    except GitFailed as exc:
        if len(items) == 1:
            lines = exc.stderr.decode("utf-8", "replace").strip().splitlines()
            return [], {items[0]: lines[-1] if lines else f"git exited with {exc.returncode}"}
        half = len(items) // 2
        done, failed = _split(items[:half], run_all)
        more, failed_more = _split(items[half:], run_all)
        return done + more, {**failed, **failed_more}


def config_values(repo: StrPath, keys: Iterable[str]) -> dict[str, str]:
    """The values of several configuration keys (lowercase names) in one `git config -z`; a key
    set more than once gives its last value, as `git config --get` does; unset keys are absent."""
    wanted = [k.lower() for k in keys]
    pattern = "^(" + "|".join(k.replace(".", "\\.") for k in wanted) + ")$"
    res = run("config", "-z", "--get-regexp", "--end-of-options", pattern, repo=repo,
              ok=frozenset({0, 1}))
    out: dict[str, str] = {}
    for item in res.text.split("\0"):
        key, _, value = item.partition("\n")
        if key.lower() in wanted:
            out[key.lower()] = value
    return out



# -- what hooks are given --


def log_hook_commits(repo: StrPath, revs: Iterable[str], fmt: str, diff: Iterable[str]) -> bytes:
    """`git log --reverse` over revs (Oids, '^Oid', '--not', '--all', '--remotes') with changes.

    Inside a hook the repository variables stay: pre-receive sees the pushed objects only
    through GIT_OBJECT_DIRECTORY / GIT_ALTERNATE_OBJECT_DIRECTORIES (the quarantine, git 2.11).
    """
    return run("log", "--reverse", fmt, *diff, *revs, "--", repo=repo,
               env=git_env(keep_repo_vars=True)).stdout


def staged_paths(repo: StrPath) -> list[str]:
    """Paths the commit being made changes; keeps GIT_INDEX_FILE (`commit -a` uses a temp index)."""
    out = run("diff", "--cached", "--name-only", "-z", "--no-renames", repo=repo,
              env=git_env(keep_repo_vars=True)).stdout
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def author_email(repo: StrPath) -> str:
    """The email of the author the commit being made will carry (`git var GIT_AUTHOR_IDENT`)."""
    ident = run("var", "GIT_AUTHOR_IDENT", repo=repo, env=git_env(keep_repo_vars=True)).text
    return ident.partition("<")[2].partition(">")[0]


def current_branch(repo: StrPath) -> str | None:
    """refs/heads/<name> HEAD points at, or None when detached."""
    res = run("symbolic-ref", "--quiet", "HEAD", repo=repo, ok=frozenset({0, 1, 128}))
    return res.text.strip() or None if res.returncode == 0 else None


def hooks_dir(repo: StrPath) -> Path:
    """The directory git runs hooks from (`--git-path hooks` follows core.hooksPath)."""

    out = run("rev-parse", "--git-path", "hooks", repo=repo).text.strip()
    return (Path(repo) / out).resolve()


def _run_timed(*args: str, repo: StrPath, timeout: float) -> GitResult | None:
    """run() with any exit code accepted, but None when git is still busy after timeout."""
    try:
        return run(*args, repo=repo, ok=ANY_EXIT, timeout=timeout)
    except TimeoutError:
        return None


def log_verified(repo: StrPath, allowed_signers: str, revs: Iterable[str], fmt: str, *,
                 max_count: int | None = None, no_walk: bool = False) -> bytes:
    """`git log` of revs with fmt, verifying signatures against allowed_signers only.

    `-c gpg.ssh.allowedSignersFile` on the command line wins over every configuration file, so
    neither the user's nor the repository's settings decide who is trusted (git-config(1),
    "command line > local > global"). `--no-show-signature` keeps log.showSignature out.
    """
    args = ["-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "log", "--no-show-signature",
            "--no-color", f"--format={fmt}"]
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    if no_walk:
        args.append("--no-walk=unsorted")
    args += ["--end-of-options", *revs, "--"]
    return run(*args, repo=repo).stdout
