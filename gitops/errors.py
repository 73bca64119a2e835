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


class MissingObject(RepositoryError):
    """An object the command must read is not in the repository (a mirror that lost it)."""

    def __init__(self, oid: str) -> None:
        super().__init__(f"object {oid} is missing from the repository.",
                         hint="fetch it again from a complete clone, or run 'git fsck' to see "
                              "what else is missing")
        self.oid = oid


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


# --- revert and reapply ---


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


# --- in-flight radar ---


class InflightBreaks(GitopsError):
    exit_code = 16
    runbook = "docs/runbooks/inflight-broken.md"
    summary = ("inflight: open branches conflict with the revert, depend on a recipe it removes, "
               "or carry the reverted batch")


# --- ops branch ---


class RevertAmbiguous(GitopsError):
    exit_code = 17
    runbook = "docs/runbooks/rollback-batch.md"
    summary = ("files landed with content that this batch and another offered alike; the "
               "revert stopped and wrote nothing")


class Paused(GitopsError):
    exit_code = 20
    runbook = "docs/runbooks/emergency-stop.md"
    summary = "gate: a manual pause (global or this ecosystem) blocks this stage; do not run"


class StateUntrusted(GitopsError):
    exit_code = 21
    runbook = "docs/runbooks/state-untrusted.md"
    summary = ("the ops branch does not verify (unsigned, unknown signer, rewritten); gate "
               "refuses, status and audit exit 21 after printing")


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


# --- enforcement ---


class TrailerRefused(GitopsError):
    exit_code = 30
    runbook = "docs/runbooks/commit-refused.md"
    summary = ("check/hooks: a commit lacks a valid batch trailer (missing, malformed, two ids, "
               "legacy form, outside the trailer block)")


class BatchBlocked(GitopsError):
    exit_code = 31
    runbook = "docs/runbooks/commit-refused.md"
    summary = ("check/hooks: a batch commit for a paused ecosystem, an open breaker, or an "
               "untrusted ops state")


class ReintroducesReverted(GitopsError):
    exit_code = 32
    runbook = "docs/runbooks/commit-refused.md"
    summary = ("check/hooks: a commit brings back a batch reverted on the base without "
               "Reapplies-Batch")


class PushRefused(GitopsError):
    exit_code = 33
    runbook = "docs/runbooks/commit-refused.md"
    summary = ("pre-receive: the push lands batch commits without their trailers (a squash "
               "dropped them?)")


class HookConflict(GitopsError):
    exit_code = 34
    runbook = "docs/runbooks/commit-refused.md"
    summary = "hooks install: a hook that git-batch did not write is in the way; nothing written"


# --- automatic controls ---


class BreakerOpen(GitopsError):
    exit_code = 40
    runbook = "docs/runbooks/breaker-open.md"
    summary = ("gate: the ecosystem's circuit breaker is open (infrastructure failures, or "
               "tripped by hand); do not run")


class BudgetExhausted(GitopsError):
    exit_code = 41
    runbook = "docs/runbooks/budget-exhausted.md"
    summary = ("gate: a platform used 95 % or more of its CI-minutes budget in the window; wait "
               "until it frees")


class SloCritical(GitopsError):
    exit_code = 42
    runbook = "docs/runbooks/slo-breach.md"
    summary = "slo: an ecosystem's success rate is critical (below 50 % over 24 h or 7 d)"


class ResultsMalformed(GitopsError):
    exit_code = 43
    summary = "record: a results line is not valid (the message names the line); nothing recorded"


def report_text(exc: GitopsError, where: str = "") -> str:
    """The lines an expected failure prints on stderr: error, hint, runbook."""
    lines = [f"git-batch: {where + ': ' if where else ''}error: {exc.message}"]
    if exc.hint:
        lines.append(f"hint: {exc.hint}")
    if exc.runbook:
        lines.append(f"runbook: {exc.runbook}")
    return "\n".join(lines) + "\n"


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
    # in-flight radar
    InflightBreaks,
    RevertAmbiguous,
    # ops branch
    Paused,
    StateUntrusted,
    RemoteUnreachable,
    SigningNotConfigured,
    StateCorrupt,
    OpsBranchMissing,
    OpsDiverged,
    StateConflict,
    # enforcement
    TrailerRefused,
    BatchBlocked,
    ReintroducesReverted,
    PushRefused,
    HookConflict,
    # automatic controls
    BreakerOpen,
    BudgetExhausted,
    SloCritical,
    ResultsMalformed,
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
