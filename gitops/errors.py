"""GitopsError tree, exit-code table, runbook link per class; imports nothing from gitops.

Every expected failure is one of these classes. `cli.main` prints the message, the hint and the
runbook path, and exits with the class's code. `docs/exit-codes.md` is checked against
`EXIT_CODES` by a test, so the table below is the single source of truth.
"""

from __future__ import annotations


class GitopsError(Exception):
    """An expected failure: a message for the operator, a hint, an exit code."""

    exit_code = 1
    runbook: str | None = None
    summary = "an operation failed for a reason the message names"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(GitopsError):
    exit_code = 2
    summary = "bad arguments: an id, ref or option the tool cannot accept (click uses 2 as well)"


class ConfigError(GitopsError):
    exit_code = 5
    runbook = "docs/runbooks/config-error.md"
    summary = "the configuration file is unreadable or has a bad key or value"


class RepositoryError(GitopsError):
    exit_code = 6
    runbook = "docs/runbooks/repository-error.md"
    summary = "not a git repository, a missing base branch, or a shallow clone"


class UnknownBatch(GitopsError):
    exit_code = 7
    summary = "no commit reachable from the base branch carries this batch id"


class IndexUnavailable(GitopsError):
    exit_code = 8
    runbook = "docs/runbooks/index-unavailable.md"
    summary = "the history index cannot be read or written (permissions, disk)"


class GitFailed(GitopsError):
    """A git process failed in a way the caller did not expect."""

    exit_code = 9
    summary = "a git command failed unexpectedly; the message shows its command line and stderr"

    def __init__(
        self, argv: tuple[str, ...], returncode: int, stdout: bytes, stderr: bytes
    ) -> None:
        err = stderr.decode("utf-8", "replace").strip()
        last = err.splitlines()[-1] if err else "(no output)"
        super().__init__(
            f"git exited with {returncode}: {' '.join(argv[:6])}{' ...' if len(argv) > 6 else ''}: "
            f"{last}",
            hint="run again with --debug to see every git command line",
        )
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


# --- revert and reapply (issue 3) ---


class NothingToDo(GitopsError):
    exit_code = 10
    summary = ("revert/reapply found nothing to change (only with --exit-code; "
               "otherwise this is exit 0)")


class RevertConflict(GitopsError):
    exit_code = 11
    runbook = "docs/runbooks/rollback-batch.md"
    summary = "files were edited after the batch; the revert stopped and wrote nothing"


class DependencyBreak(GitopsError):
    exit_code = 12
    runbook = "docs/runbooks/rollback-batch.md"
    summary = "the revert would remove recipes that remaining recipes depend on; nothing written"


class BranchExists(GitopsError):
    exit_code = 13
    runbook = "docs/runbooks/rollback-batch.md"
    summary = "the revert branch already exists (or moved while writing); nothing written"


class RecipeUnreadable(GitopsError):
    exit_code = 14
    runbook = "docs/runbooks/rollback-batch.md"
    summary = "a recipe whose dependencies must be checked does not parse; nothing written"


class IdentityMissing(GitopsError):
    exit_code = 15
    summary = "git has no user.name / user.email to write the commit with"


# --- in-flight radar (issue 4) ---


class InflightBreaks(GitopsError):
    exit_code = 16
    runbook = "docs/runbooks/inflight-broken.md"
    summary = ("inflight: open branches conflict with the revert, depend on a recipe it removes, "
               "or carry the reverted batch")


# --- ops branch (issue 5) ---


class Paused(GitopsError):
    exit_code = 20
    runbook = "docs/runbooks/emergency-stop.md"
    summary = "gate: a manual pause (global or this ecosystem) blocks this stage; do not run"


class StateUntrusted(GitopsError):
    exit_code = 21
    runbook = "docs/runbooks/state-untrusted.md"
    summary = "the ops branch does not verify (unsigned, unknown signer, rewritten); gate refuses"


class RemoteUnreachable(GitopsError):
    exit_code = 22
    runbook = "docs/runbooks/remote-unreachable.md"
    summary = "the remote named by --fetch or --push cannot be reached; nothing was decided"


class SigningNotConfigured(GitopsError):
    exit_code = 23
    runbook = "docs/runbooks/signing-not-configured.md"
    summary = "no usable git signing key, or the key is not in the allowed-signers file"


class StateCorrupt(GitopsError):
    exit_code = 24
    runbook = "docs/runbooks/state-corrupt.md"
    summary = "state.toml at the tip of the ops branch cannot be read; the message names the commit"


class OpsBranchMissing(GitopsError):
    exit_code = 25
    runbook = "docs/runbooks/ops-branch-missing.md"
    summary = "there is no ops branch (run 'git batch ops init'), or the remote has none"


class OpsDiverged(GitopsError):
    exit_code = 26
    runbook = "docs/runbooks/ops-diverged.md"
    summary = "the local ops branch and the remote's have both moved; nothing was written"


class StateConflict(GitopsError):
    exit_code = 75
    runbook = "docs/runbooks/state-conflict.md"
    summary = "contended: the ops branch kept moving during the retries (EX_TEMPFAIL); run again"


# Codes that are not error classes but are part of the contract.
OK = 0
INTERNAL_ERROR = 3
INTERRUPTED = 130

ERROR_CLASSES: tuple[type[GitopsError], ...] = (
    GitopsError,
    UsageError,
    ConfigError,
    RepositoryError,
    UnknownBatch,
    IndexUnavailable,
    GitFailed,
    NothingToDo,
    RevertConflict,
    DependencyBreak,
    BranchExists,
    RecipeUnreadable,
    IdentityMissing,
    # in-flight radar (issue 4)
    InflightBreaks,
    # ops branch (issue 5)
    Paused,
    StateUntrusted,
    RemoteUnreachable,
    SigningNotConfigured,
    StateCorrupt,
    OpsBranchMissing,
    OpsDiverged,
    StateConflict,
)


def exit_code_table() -> list[tuple[int, str, str]]:
    """(code, name, meaning) for every documented exit code, sorted by code."""
    rows = [(OK, "OK", "success")]
    rows += [(cls.exit_code, cls.__name__, cls.summary) for cls in ERROR_CLASSES]
    rows.append(
        (INTERNAL_ERROR, "InternalError", "a bug: unexpected exception; a traceback log is written")
    )
    rows.append((INTERRUPTED, "Interrupted", "interrupted by ^C (SIGINT)"))
    return sorted(rows)
