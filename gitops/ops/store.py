"""State store on the ops branch: read files at a commit, write a signed commit, CAS-advance refs.

An adapter: it knows refs, blobs, trees, commits and signatures, and nothing about pauses or
batches (ops.write combines them). Commits are built from blobs and trees with `hash-object` and
`mktree` and signed with `commit-tree -S`, so nothing needs a checkout and bare repositories
work (git-filter-repo's state branch does the same, without the signature and the old-value check).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from gitops.errors import GitFailed, GitopsError, StateConflict
from gitops.git import plumbing, process
from gitops.git.process import ZERO_OID, Oid, StrPath

SEEN_PREFIX = "refs/git-batch/ops-seen/"  # the last tip of each ops ref this clone verified


def branch_ref(branch: str) -> str:
    return f"refs/heads/{branch}"


def tracking_ref(remote: str, branch: str) -> str:
    return f"refs/remotes/{remote}/{branch}"


def seen_ref(ref: str) -> str:
    """Where this clone remembers the last verified tip of ref (kept under the common git dir)."""
    return SEEN_PREFIX + ref.removeprefix("refs/")


def read_refs(repo: StrPath, refs: Iterable[str]) -> dict[str, Oid]:
    return plumbing.read_refs(repo, refs)


def read_blobs(repo: StrPath, specs: Iterable[str]) -> list[bytes | None]:
    return plumbing.cat_blobs(repo, specs)


def write_snapshot(repo: StrPath, files: Mapping[str, bytes]) -> Oid:
    """A tree holding exactly files (name -> contents), written without any index."""
    entries = [("100644", "blob", plumbing.hash_object_write(repo, data), name)
               for name, data in sorted(files.items())]
    return plumbing.mktree(repo, entries)


class SigningFailed(GitopsError):
    """commit-tree -S failed; the caller turns it into advice about the signing setup."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def write_commit(repo: StrPath, tree: Oid, parents: Iterable[Oid], message: str, *, sign: bool,
                 epoch: int) -> Oid:
    """A commit of tree (signed when sign) dated epoch; no ref moves."""
    res = plumbing.commit_tree_signed(repo, tree, parents, message, sign=sign, epoch=epoch)
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
                 force: Iterable[tuple[str, Oid]] = ()) -> process.GitResult:
    stdin = b"".join(f"update {ref}\0{new}\0{old or ZERO_OID}\0".encode()
                     for ref, new, old in updates)
    # -z form: an empty <old> means "no old value to check" (git-update-ref(1))
    stdin += b"".join(f"update {ref}\0{new}\0\0".encode() for ref, new in force)
    return process.run("update-ref", "--stdin", "-z", "-m", reason, repo=repo, stdin=stdin,
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
    now = plumbing.read_refs(repo, [ref]).get(ref)
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


def check_commits(repo: StrPath, allowed: AllowedSigners, revs: Iterable[str], *,
                  max_count: int | None = None, no_walk: bool = False) -> list[CommitCheck]:
    """Signature verdicts (newest first) of the commits revs name, against allowed only."""
    # A random marker starts each record: commit messages and signer names come from whoever
    # made the commit, and must not be able to fake the record of another commit.
    mark = f"@{os.urandom(16).hex()}@"
    fmt = f"{mark}%H%x00%P%x00%G?%x00%GS%x00%GF%x00%ct%x00%cn <%ce>%x00%B"
    # git reads the allowed signers from a file: a private temporary one, removed at once
    with tempfile.NamedTemporaryFile(prefix="git-batch-allowed-signers-") as fh:
        fh.write(allowed.data or b"")
        fh.flush()
        out = plumbing.log_verified(repo, fh.name, revs, fmt, max_count=max_count,
                                    no_walk=no_walk)
    checks = []
    for record in out.decode("utf-8", "replace").split(mark)[1:]:
        fields = record.split("\0", 7)
        if len(fields) < 8:
            continue
        oid, parents, status, signer, fingerprint, ctime, committer, message = fields
        checks.append(CommitCheck(Oid(oid), tuple(Oid(p) for p in parents.split()), status,
                                  signer, fingerprint, int(ctime or 0), committer,
                                  message.rstrip("\n") + "\n"))
    return checks


def first_parent_chain(repo: StrPath, tip: Oid, count: int) -> list[Oid]:
    """tip and its first-parent ancestors, newest first, at most count of them."""
    res = process.run("log", "--first-parent", "--format=%H", f"--max-count={count}",
                     "--end-of-options", tip, "--", repo=repo)
    return [Oid(line) for line in res.text.split()]


# -- remotes --------------------------------------------------------------------------------------


def fetch(repo: StrPath, remote: str, branch: str, *, timeout: float) -> bool | None:
    """Fetch remote's branch into its remote-tracking ref: True done, False the remote has no
    such branch, None the remote cannot be reached. Other failures raise GitFailed."""
    res = plumbing.fetch_branch(repo, remote, branch_ref(branch), tracking_ref(remote, branch),
                              timeout=timeout)
    if res is not None and res.returncode == 0:
        return True
    has = plumbing.remote_has_ref(repo, remote, branch_ref(branch), timeout=timeout)
    if has is None:
        return None
    if has is False:
        return False
    assert res is not None  # the remote answered ls-remote but the fetch failed: report it
    raise GitFailed(res.argv, res.returncode, res.stdout, res.stderr)


def push(repo: StrPath, remote: str, branch: str, new: Oid, expected: Oid | None, *,
         timeout: float) -> str:
    """Push new as remote's branch if it still is expected: "ok", "rejected", "unreachable"."""
    return plumbing.push_lease(repo, remote, new, branch_ref(branch), expected, timeout=timeout)
