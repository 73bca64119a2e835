"""Pure: the enforcement rules (commit facts + policy -> refusals).

`git batch check`, the commit-msg, pre-push and pre-receive hooks all feed plain data into
`refusals()`; nothing here reads git, files, the environment or the clock. Each refusal carries a
one-line reason and a one-line fix, and the error class whose exit code it maps to.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, NamedTuple

from gitops.config import Config
from gitops.errors import (
    BatchBlocked,
    GitopsError,
    PushRefused,
    ReintroducesReverted,
    TrailerRefused,
)
from gitops.git import trailers
from gitops.history.report import REAPPLIES_BATCH, REVERTS_BATCH
from gitops.ops import controls, state

Door = Literal["commit", "push", "receive", "check"]
_SCISSORS = "# ------------------------ >8 ------------------------\n"
_KEYED = re.compile(r"^[ \t]*([A-Za-z0-9_-]+)[ \t]*:[ \t]*(.*?)[ \t\r]*$", re.MULTILINE)
SQUASH_FIX = ("keep the trailers in the squash: on GitHub use the default squash message (commit "
              "details), or put 'Batch-Id: ID' in the squash message's last paragraph")


class Candidate(NamedTuple):
    """One commit to judge (oid is empty for a commit not made yet, in commit-msg)."""

    oid: str
    message: str
    author_email: str
    paths: tuple[str, ...]
    merge: bool = False

    @property
    def label(self) -> str:
        return self.oid[:10] if self.oid else "this commit"

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()


class OpsFacts(NamedTuple):
    """What the ops branch says, already read and verified by the caller."""

    status: Literal["absent", "untrusted", "ok"]
    problem: str = ""  # why it is untrusted
    state: state.State | None = None


class Refusal(NamedTuple):
    oid: str
    label: str
    rule: str
    error: type[GitopsError]
    reason: str
    fix: str


def clean_message(message: str) -> str:
    """The message as git stores it from an edited file: no scissors tail, no '#' lines."""
    cut = message.find(_SCISSORS)
    if cut >= 0 and (cut == 0 or message[cut - 1] == "\n"):
        message = message[:cut]
    return "".join(line for line in message.splitlines(keepends=True)
                   if not line.startswith("#"))


def is_bot(cfg: Config, email: str) -> bool:
    """Whether email matches a bot_identities entry ('*' any text; '[bot]' is literal)."""
    return any(re.fullmatch(re.escape(pat.lower()).replace(r"\*", ".*"), email.lower())
               for pat in cfg.hooks.bot_identities)


def requires_trailer(cfg: Config, c: Candidate, target: str | None) -> bool:
    """Does the policy demand a batch trailer on c, landing on target (None: unknown)?"""
    pol = cfg.hooks
    if pol.require_trailer == "off" or c.merge:
        return False  # merges carry the batch commits; those are judged one by one
    if pol.target_branches and target is not None:
        wanted = {b.removeprefix("refs/heads/") for b in pol.target_branches}
        if target.removeprefix("refs/heads/") not in wanted:
            return False
    if (pol.require_trailer == "bots" or pol.exempt_humans) and not is_bot(cfg, c.author_email):
        return False
    return any(cfg.is_managed(p) for p in c.paths)


def batch_ids(cfg: Config, message: str) -> tuple[str, ...]:
    """Valid ids in git's trailer block (the only form that counts as enforced)."""
    refs = trailers.find_batch_refs(message, key=cfg.batch.trailer_key,
                                    legacy_keys=cfg.batch.legacy_keys, id_regex=cfg.id_regex)
    return tuple(r.batch_id for r in refs if r.form == "trailer")


def rollback_ids(cfg: Config, message: str) -> tuple[str, ...]:
    """Valid ids in Reverts-Batch / Reapplies-Batch trailers: the commits `git batch revert` and
    `reapply` write. They change managed files for a batch without being one of its commits."""
    parsed = trailers.parse(message)
    return tuple(v for key in (REVERTS_BATCH, REAPPLIES_BATCH)
                 for v in trailers.values(parsed, key) if cfg.id_regex.fullmatch(v))


def ecosystems(cfg: Config, message: str) -> tuple[str, ...]:
    return trailers.values(trailers.parse(message), cfg.batch.ecosystem_trailer)


def trailer_refusals(cfg: Config, c: Candidate, *, door: Door, target: str | None
                     ) -> list[Refusal]:
    """Missing, malformed, duplicate, legacy and misplaced batch trailers."""
    key = cfg.batch.trailer_key
    msg = c.message
    out: list[Refusal] = []

    def refuse(rule: str, reason: str, fix: str, error: type[GitopsError] = TrailerRefused
               ) -> None:
        out.append(Refusal(c.oid, c.label, rule, error, reason, fix))

    parsed = trailers.values(trailers.parse(msg), key)
    for bad in trailers.find_invalid_batch_values(msg, key=key, id_regex=cfg.id_regex):
        refuse("bad-id", f"'{key}: {bad}' does not match the id pattern {cfg.batch.id_pattern}.",
               f"write an id such as 2026-01-28-001 (batch.id_pattern in {cfg.source}).")
    distinct = sorted(set(parsed))
    if len(distinct) > 1:
        refuse("two-ids", f"the message names {len(distinct)} different batch ids: "
               f"{', '.join(distinct)}.", f"keep exactly one '{key}:' trailer; one commit belongs "
               "to one batch.")
    legacy = {k.lower() for k in cfg.batch.legacy_keys}
    in_block = {v.lower() for v in parsed}
    for m in _KEYED.finditer(msg):
        written, value = m.group(1), m.group(2)
        if written.lower() in legacy:
            refuse("legacy-form", f"'{written}: {value}' is the legacy form: git does not read "
                   "it as a trailer ('_' is not allowed in a trailer key).",
                   f"write '{key}: {value}' in the message's last paragraph instead.")
        elif written.lower() == key.lower() and value.lower() not in in_block:
            refuse("not-in-trailer-block", f"'{key}: {value}' is not in the final trailer block "
                   "as git parses it (prose in the last paragraph, or not the last paragraph).",
                   f"move '{key}: {value}' into the last paragraph, after a blank line, with only "
                   "trailers in it.")
    if (not out and not batch_ids(cfg, msg) and not rollback_ids(cfg, msg)
            and requires_trailer(cfg, c, target)):
        managed = sorted(p for p in c.paths if cfg.is_managed(p))
        shown = ", ".join(managed[:3]) + (f" and {len(managed) - 3} more" if len(managed) > 3
                                          else "")
        reason = f"touches managed paths ({shown}) without a '{key}:' trailer."
        if door == "receive":
            refuse("missing-trailer", reason, SQUASH_FIX + ".", PushRefused)
        elif door == "commit":
            refuse("missing-trailer", reason, f"add '{key}: <id>' as the message's last "
                   "paragraph, or set GIT_BATCH_ID and let prepare-commit-msg add it.")
        else:
            refuse("missing-trailer", reason, f"add '{key}: <id>' to the commit (git commit "
                   "--amend), and if a squash dropped it, " + SQUASH_FIX + ".")
    return out


def ops_refusals(cfg: Config, c: Candidate, ops: OpsFacts, now: datetime) -> list[Refusal]:
    """A batch commit for a paused ecosystem (freeze or stop) or with an untrusted ops state."""
    if ops.status == "absent" or not batch_ids(cfg, c.message):
        return []
    if ops.status == "untrusted" or ops.state is None:
        return [Refusal(c.oid, c.label, "ops-untrusted", BatchBlocked,
                        f"the ops branch does not verify, so pauses cannot be read: {ops.problem}",
                        "see docs/runbooks/state-untrusted.md; batch commits wait until an "
                        "allowed operator restores a verified state.")]

    ecos = ecosystems(cfg, c.message) or ("",)
    out = []
    for eco in ecos:
        # "merge" is the strictest stage: both freeze and stop block it (state.Pause.blocks).
        decision = state.decide(ops.state, eco or state.GLOBAL, "merge", now)
        if not decision.can_proceed:
            scope = eco or "the global switch"
            out.append(Refusal(c.oid, c.label, "paused", BatchBlocked,
                               f"batch commits for {scope} are paused: {decision.reason}.",
                               "wait for 'git batch resume', or ask the operator named in "
                               "'git batch status'."))
        elif eco:
            gc = controls.gate_controls(ops.state, eco, "merge", now, cfg)
            if gc.refusal == "breaker":
                out.append(Refusal(c.oid, c.label, "breaker-open", BatchBlocked,
                                   f"batch commits for {eco} are blocked: {gc.reason}.",
                                   f"wait for the breaker to half-open, or 'git batch breaker "
                                   f"reset {eco}' after the incident (git batch status)."))
    return out


def revert_refusals(cfg: Config, c: Candidate, reverted: frozenset[str]) -> list[Refusal]:
    """A commit of a batch reverted on the base, without Reapplies-Batch for it."""
    ids = [i for i in batch_ids(cfg, c.message) if i in reverted]
    if not ids or not any(cfg.is_managed(p) for p in c.paths):
        return []
    reapplies = set(trailers.values(trailers.parse(c.message), REAPPLIES_BATCH))
    return [Refusal(c.oid, c.label, "reverted-batch", ReintroducesReverted,
                    f"batch {i} was reverted on the base; this commit brings its files back.",
                    f"if that is intended, run 'git batch reapply {i}' or add "
                    f"'{REAPPLIES_BATCH}: {i}'; otherwise drop the commit.")
            for i in ids if i not in reapplies]


def refusals(cfg: Config, c: Candidate, *, door: Door, target: str | None, ops: OpsFacts,
             reverted: frozenset[str], now: datetime) -> list[Refusal]:
    """Every rule, in a fixed order: trailers, then pauses, then reverted batches."""
    return (trailer_refusals(cfg, c, door=door, target=target)
            + ops_refusals(cfg, c, ops, now) + revert_refusals(cfg, c, reverted))


def needs_context(cfg: Config, c: Candidate) -> bool:
    """Whether c names a batch, so the ops state and reverted batches must be read."""
    return bool(batch_ids(cfg, c.message))
