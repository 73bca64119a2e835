"""Pure enforcement rules (issue 7): policy, message cleanup, refusals without git."""

from __future__ import annotations

from datetime import UTC, datetime

from gitops.config import Config, HooksConfig
from gitops.enforce import rules
from gitops.enforce.rules import Candidate, OpsFacts
from gitops.errors import PushRefused, TrailerRefused

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CFG = Config()


def _policy(**kw: object) -> Config:
    return CFG._replace(hooks=HooksConfig()._replace(**kw))  # type: ignore[arg-type]


def _cand(message: str, paths: tuple[str, ...] = ("recipes/a.toml",), email: str = "a@x",
          merge: bool = False) -> Candidate:
    return Candidate("f" * 40, message, email, paths, merge=merge)


def _rules(cfg: Config, c: Candidate, door: rules.Door = "check",
           target: str | None = None) -> list[str]:
    return [r.rule for r in rules.refusals(cfg, c, door=door, target=target,
                                             ops=OpsFacts("absent"), reverted=frozenset(),
                                             now=NOW)]


def test_requires_trailer_policy_modes() -> None:
    c = _cand("x\n")
    assert _rules(CFG, c) == ["missing-trailer"]
    assert _rules(_policy(require_trailer="off"), c) == []
    assert _rules(CFG, _cand("x\n", paths=("docs/a.md",))) == []
    assert _rules(CFG, _cand("x\n", merge=True)) == []
    bots = _policy(require_trailer="bots", bot_identities=("*[bot]@users.noreply.github.com",))
    assert _rules(bots, c) == []
    assert _rules(bots, _cand("x\n", email="renovate[bot]@users.noreply.github.com")) == [
        "missing-trailer"]
    assert _rules(bots, _cand("x\n", email="renovateb@users.noreply.github.com")) == []


def test_target_branches_limit_where_the_rule_applies() -> None:
    cfg = _policy(target_branches=("main",))
    c = _cand("x\n")
    assert _rules(cfg, c, target="refs/heads/main") == ["missing-trailer"]
    assert _rules(cfg, c, target="refs/heads/feature") == []
    assert _rules(cfg, c, target=None) == ["missing-trailer"]  # unknown: fail closed


def test_receive_door_says_how_to_keep_trailers_in_a_squash() -> None:
    [r] = rules.refusals(CFG, _cand("x\n"), door="receive", target="refs/heads/main",
                           ops=OpsFacts("absent"), reverted=frozenset(), now=NOW)
    assert r.error is PushRefused and "keep the trailers in the squash" in r.fix
    [r] = rules.refusals(CFG, _cand("x\n"), door="commit", target=None,
                           ops=OpsFacts("absent"), reverted=frozenset(), now=NOW)
    assert r.error is TrailerRefused and "GIT_BATCH_ID" in r.fix


def test_clean_message_drops_comments_and_the_scissors_tail() -> None:
    text = ("subj\n\nBatch-Id: 2026-01-28-001\n# Please enter\n"
            "# ------------------------ >8 ------------------------\ndiff --git a b\n")
    assert rules.clean_message(text) == "subj\n\nBatch-Id: 2026-01-28-001\n"


def test_reverted_batch_and_reapply_trailer() -> None:
    msg = "x\n\nBatch-Id: 2026-01-28-001\n"
    reverted = frozenset({"2026-01-28-001"})
    refs = rules.revert_refusals(CFG, _cand(msg), reverted)
    assert [r.rule for r in refs] == ["reverted-batch"]
    ok = msg + "Reapplies-Batch: 2026-01-28-001\n"
    assert rules.revert_refusals(CFG, _cand(ok), reverted) == []
    assert rules.revert_refusals(CFG, _cand(msg, paths=("docs/x",)), reverted) == []


def test_untrusted_ops_state_refuses_only_batch_commits() -> None:
    bad = OpsFacts("untrusted", "tip 1234 is not signed")
    [r] = rules.ops_refusals(CFG, _cand("x\n\nBatch-Id: 2026-01-28-001\n"), bad, NOW)
    assert r.rule == "ops-untrusted" and "tip 1234 is not signed" in r.reason
    assert rules.ops_refusals(CFG, _cand("x\n"), bad, NOW) == []


def test_revert_and_reapply_commits_need_no_batch_trailer() -> None:
    """`git batch revert` / `reapply` commits name the batch in their own trailers; the
    required check must not block a rollback (nor may a pause: nothing blocks a revert)."""
    for key in ("Reverts-Batch", "Reapplies-Batch"):
        assert _rules(CFG, _cand(f"Revert batch\n\n{key}: 2026-03-01-001\n")) == [], key
        # the id must be valid, and in the trailer block
        assert _rules(CFG, _cand(f"Revert batch\n\n{key}: soon\n")) == ["missing-trailer"]
        assert _rules(CFG, _cand(f"{key}: 2026-03-01-001\n\nprose only\n")) == [
            "missing-trailer"]
    paused = OpsFacts("untrusted", "forged")
    revert = _cand("Revert batch\n\nReverts-Batch: 2026-03-01-001\n")
    assert rules.refusals(CFG, revert, door="check", target=None, ops=paused,
                            reverted=frozenset({"2026-03-01-001"}), now=NOW) == []
