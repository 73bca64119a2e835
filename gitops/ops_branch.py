"""State store on the ops branch: read files at a commit, write a signed commit, CAS-advance refs.

An adapter: it knows refs, blobs, trees, commits and signatures, and nothing about pauses or
batches (ops.py combines them). Commits are built from blobs and trees with `hash-object` and
`mktree` and signed with `commit-tree -S`, so nothing needs a checkout and bare repositories
work (git-filter-repo's state branch does the same, without the signature and the old-value check).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from gitops import gitcli
from gitops.errors import GitFailed, GitopsError, StateConflict
from gitops.gitcli import ZERO_OID, Oid
from gitops.records import NamedTuple

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from gitops.gitcli import StrPath

SEEN_PREFIX = "refs/git-batch/ops-seen/"  # the last tip of each ops ref this clone verified


def branch_ref(branch: str) -> str:
    return f"refs/heads/{branch}"


def tracking_ref(remote: str, branch: str) -> str:
    return f"refs/remotes/{remote}/{branch}"


def seen_ref(ref: str) -> str:
    """Where this clone remembers the last verified tip of ref (kept under the common git dir)."""
    return SEEN_PREFIX + ref.removeprefix("refs/")


def read_refs(repo: StrPath, refs: Iterable[str]) -> dict[str, Oid]:
    return gitcli.read_refs(repo, refs)


def read_blobs(repo: StrPath, specs: Iterable[str]) -> list[bytes | None]:
    return gitcli.cat_blobs(repo, specs)


def write_snapshot(repo: StrPath, files: Mapping[str, bytes]) -> Oid:
    """A tree holding exactly files (name -> contents), written without any index."""
    entries = [("100644", "blob", gitcli.hash_object_write(repo, data), name)
               for name, data in sorted(files.items())]
    return gitcli.mktree(repo, entries)


class SigningFailed(GitopsError):
    """commit-tree -S failed; the caller turns it into advice about the signing setup."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def write_commit(repo: StrPath, tree: Oid, parents: Iterable[Oid], message: str, *, sign: bool,
                 epoch: int) -> Oid:
    """A commit of tree (signed when sign) dated epoch; no ref moves."""
    res = gitcli.commit_tree_signed(repo, tree, parents, message, sign=sign, epoch=epoch)
    if res.returncode != 0:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = next((line for line in err if "error" in line.lower() or "fatal" in line.lower()),
                      err[-1] if err else "(no output)")
        if sign:
            raise SigningFailed(detail)
        raise GitFailed(res.argv, res.returncode, res.stdout, res.stderr)
    return Oid(res.text.strip())


Update = tuple[str, Oid, Oid | None]  # (ref, new value, expected old value or None: absent)


def _transaction(repo: StrPath, updates: Iterable[Update], reason: str,
                 force: Iterable[tuple[str, Oid]] = ()) -> gitcli.GitResult:
    stdin = b"".join(f"update {ref}\0{new}\0{old or ZERO_OID}\0".encode()
                     for ref, new, old in updates)
    # -z form: an empty <old> means "no old value to check" (git-update-ref(1))
    stdin += b"".join(f"update {ref}\0{new}\0\0".encode() for ref, new in force)
    return gitcli.run("update-ref", "--stdin", "-z", "-m", reason, repo=repo, stdin=stdin,
                      ok=frozenset({0, 1, 128}))


def advance(repo: StrPath, ref: str, new: Oid, expected_old: Oid | None, reason: str, *,
            also: Iterable[Update] = (), force: Iterable[str] = ()) -> None:
    """Move ref to new only if it still points at expected_old (None: must not exist).

    `update-ref --stdin -z` checks every old value under the refs' locks, all or nothing
    (git-update-ref(1)). `also` are bookkeeping refs (compare-and-swap too) and `force` refs set
    to new whatever they hold, in the same transaction when they can be. A lost swap of ref
    raises StateConflict; any other failure (a stale lock file, permissions) GitFailed, decided
    from a fresh read of the ref rather than from git's message (STYLE.md P4).
    """
    extra, forced = list(also), [(name, new) for name in force]
    res = _transaction(repo, [(ref, new, expected_old), *extra], reason, forced)
    if res.returncode == 0:
        return
    now = gitcli.read_refs(repo, [ref]).get(ref)
    if now != expected_old:
        raise StateConflict(f"{ref} moved to {str(now)[:10]} while this operation was written.")
    if extra or forced:  # a bookkeeping ref moved meanwhile: move ref alone
        advance(repo, ref, new, expected_old, reason)
        return
    raise GitFailed(res.argv, res.returncode, res.stdout, res.stderr)


def remember(repo: StrPath, ref: str, new: Oid, expected_old: Oid | None) -> bool:
    """Best effort: record new as the last verified tip of ref (False if another process won)."""
    try:
        advance(repo, seen_ref(ref), new, expected_old, "git-batch: ops tip verified")
    except (StateConflict, GitFailed):
        return False
    return True


# -- signatures -----------------------------------------------------------------------------------


class AllowedSigners(NamedTuple):
    """The allowed-signers file (ssh format, ssh-keygen(1) ALLOWED SIGNERS) from the base branch."""

    source: str  # "<base ref>:<path>", for messages
    data: bytes | None  # None: the file does not exist there
    principals: frozenset[str]
    keys: frozenset[str]  # "<key type> <base64>" of every listed key
    key_principals: tuple[tuple[str, str], ...] = ()  # (first principal of a line, its key)


def parse_allowed_signers(source: str, data: bytes | None) -> AllowedSigners:
    principals: set[str] = set()
    keys: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for raw in (data or b"").decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            end = line.find('"', 1)
            field, rest = line[1:end], line[end + 1:]
        else:
            field, _, rest = line.partition(" ")
        names = [p for p in field.split(",") if p]
        principals.update(names)
        tokens = rest.split()
        for i, token in enumerate(tokens[:-1]):
            if token.startswith(("ssh-", "ecdsa-", "sk-")) and names:
                keys.add(f"{token} {tokens[i + 1]}")
                pairs.append((names[0], f"{token} {tokens[i + 1]}"))
                break
    return AllowedSigners(source, data, frozenset(principals), frozenset(keys), tuple(pairs))


class CommitCheck(NamedTuple):
    """One commit of the ops branch with git's signature verdict on it."""

    oid: Oid
    parents: tuple[Oid, ...]
    status: str  # git's %G?: G good, U good but unknown key, N none, B bad, E cannot check ...
    signer: str  # %GS: the principal git matched in the allowed-signers file ("" if none)
    fingerprint: str  # %GF
    time: int  # committer time, seconds since the epoch
    committer: str  # claimed by whoever made the commit: never shown as the operator
    message: str

    def principal(self, allowed: AllowedSigners) -> str | None:
        """The verified operator: a good ssh signature by a principal listed in allowed."""
        if (self.status == "G" and self.signer in allowed.principals
                and self.fingerprint.startswith("SHA256:")):
            return self.signer
        return None

    def problem(self, allowed: AllowedSigners) -> str:
        """Why this commit does not verify, as a sentence fragment ("" when it does)."""
        if self.principal(allowed) is not None:
            return ""
        if allowed.data is None:
            return f"cannot be checked: {allowed.source} does not exist"
        if self.status == "N":
            return "is not signed"
        if self.status in ("G", "U") and not self.fingerprint.startswith("SHA256:"):
            return ("has a signature that is not an ssh signature; only ssh signatures are "
                    f"checked against {allowed.source}")
        if self.status in ("G", "U"):
            return f"is signed by key {self.fingerprint}, which is not in {allowed.source}"
        if self.status == "B":
            return "has a bad signature (the commit was changed after signing)"
        if self.status in ("X", "Y"):
            return "is signed with an expired key"
        if self.status == "R":
            return "is signed with a revoked key"
        return f"has a signature git cannot check (%G? = {self.status!r}; is ssh-keygen installed?)"


def _signers_file(allowed: AllowedSigners) -> str:
    """A new private file holding allowed.data; the caller deletes it."""
    # What tempfile.mkstemp does (O_EXCL, mode 600, $TMPDIR), without importing tempfile and
    # with it shutil, random, bz2 and lzma on the gate's path (issue 5: <= 100 ms).
    name = os.path.join(os.environ.get("TMPDIR") or "/tmp",  # noqa: S108
                        f"git-batch-allowed-signers-{os.urandom(8).hex()}")
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
    except OSError:  # no usable $TMPDIR or /tmp: let tempfile search its other places
        import tempfile  # noqa: PLC0415

        fd, name = tempfile.mkstemp(prefix="git-batch-allowed-signers-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(allowed.data or b"")
    except BaseException:
        os.unlink(name)
        raise
    return name


class PendingCheck:
    """Signature checks running in git (start_check); result() waits and parses them."""

    def __init__(self, repo: StrPath, allowed: AllowedSigners, revs: Iterable[str], *,
                 max_count: int | None, no_walk: bool) -> None:
        # A random marker starts each record: commit messages and signer names come from
        # whoever made the commit, and must not be able to fake the record of another commit.
        self._mark = f"@{os.urandom(16).hex()}@"
        fmt = f"{self._mark}%H%x00%P%x00%G?%x00%GS%x00%GF%x00%ct%x00%cn <%ce>%x00%B"
        self._file = _signers_file(allowed)
        try:
            self._git = gitcli.start_log_verified(repo, self._file, revs, fmt,
                                                  max_count=max_count, no_walk=no_walk)
        except BaseException:
            os.unlink(self._file)
            raise

    def cancel(self) -> None:
        """Stop the check; nothing is reported."""
        try:
            self._git.kill()
        finally:
            os.unlink(self._file)

    def result(self) -> list[CommitCheck]:
        """The verdicts, newest first."""
        try:
            out = self._git.result().stdout
        finally:
            os.unlink(self._file)
        checks = []
        for record in out.decode("utf-8", "replace").split(self._mark)[1:]:
            fields = record.split("\0", 7)
            if len(fields) < 8:
                continue
            oid, parents, status, signer, fingerprint, ctime, committer, message = fields
            checks.append(CommitCheck(Oid(oid), tuple(Oid(p) for p in parents.split()), status,
                                      signer, fingerprint, int(ctime or 0), committer,
                                      message.rstrip("\n") + "\n"))
        return checks


def start_check(repo: StrPath, allowed: AllowedSigners, revs: Iterable[str], *,
                max_count: int | None = None, no_walk: bool = False) -> PendingCheck:
    """Start checking the signatures of the commits revs name, against allowed only; the caller
    may work meanwhile (git and ssh-keygen take most of the gate's time) and must call result()."""
    return PendingCheck(repo, allowed, revs, max_count=max_count, no_walk=no_walk)


def check_commits(repo: StrPath, allowed: AllowedSigners, revs: Iterable[str], *,
                  max_count: int | None = None, no_walk: bool = False) -> list[CommitCheck]:
    """Signature verdicts (newest first) of the commits revs name, against allowed only."""
    return start_check(repo, allowed, revs, max_count=max_count, no_walk=no_walk).result()


def first_parent_chain(repo: StrPath, tip: Oid, count: int) -> list[Oid]:
    """tip and its first-parent ancestors, newest first, at most count of them."""
    res = gitcli.run("log", "--first-parent", "--format=%H", f"--max-count={count}",
                     "--end-of-options", tip, "--", repo=repo)
    return [Oid(line) for line in res.text.split()]


# -- remotes --------------------------------------------------------------------------------------


def fetch(repo: StrPath, remote: str, branch: str, *, timeout: float) -> bool | None:
    """Fetch remote's branch into its remote-tracking ref: True done, False the remote has no
    such branch, None the remote cannot be reached. Other failures raise GitFailed."""
    res = gitcli.fetch_branch(repo, remote, branch_ref(branch), tracking_ref(remote, branch),
                              timeout=timeout)
    if res is not None and res.returncode == 0:
        return True
    has = gitcli.remote_has_ref(repo, remote, branch_ref(branch), timeout=timeout)
    if has is None:
        return None
    if has is False:
        return False
    assert res is not None  # the remote answered ls-remote but the fetch failed: report it
    raise GitFailed(res.argv, res.returncode, res.stdout, res.stderr)


def push(repo: StrPath, remote: str, branch: str, new: Oid, expected: Oid | None, *,
         timeout: float) -> str:
    """Push new as remote's branch if it still is expected: "ok", "rejected", "unreachable"."""
    return gitcli.push_lease(repo, remote, new, branch_ref(branch), expected, timeout=timeout)
