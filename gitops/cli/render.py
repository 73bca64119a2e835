"""Pure: batch reports and summaries -> human text or JSON documents; the commands print them.

People get short ids and UTC dates; `--json` gets full ids and epoch seconds plus ISO dates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitops.cli.common import JSON_SCHEMA_VERSION, day, iso
from gitops.history.report import BatchReport, BatchSummary, CommitInfo, Member


def commit_json(c: CommitInfo) -> dict[str, Any]:
    return {"oid": c.oid, "parents": list(c.parents), "author": c.author, "email": c.email,
            "time": c.time, "date": iso(c.time), "subject": c.subject}


def _member_json(m: Member, is_managed: Callable[[str], bool]) -> dict[str, Any]:
    managed = [ch for ch in m.changes if is_managed(ch.path)]
    return {
        **commit_json(m.commit),
        "source": m.source,
        "source_detail": m.detail,
        "added": [c.path for c in managed if c.status == "A"],
        "modified": [c.path for c in managed if c.status in ("M", "T")],
        "deleted": [c.path for c in managed if c.status == "D"],
        "outside_scope": [c.path for c in m.changes if not is_managed(c.path)],
        "landed_alongside": [c.path for c in m.alongside],
    }


def report_json(r: BatchReport, is_managed: Callable[[str], bool]) -> dict[str, Any]:
    later: dict[str, list[dict[str, Any]]] = {}
    for e in r.later_edits:
        later.setdefault(e.path, []).append(commit_json(e.commit))
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "batch_id": r.batch_id,
        "state": r.state,
        "ecosystems": list(r.ecosystems),
        "sources": sorted({m.source for m in r.members}),
        "first_date": iso(r.members[0].commit.time),
        "last_date": iso(r.members[-1].commit.time),
        "commits": [_member_json(m, is_managed) for m in r.members],
        "files": {"added": list(r.files.added), "modified": list(r.files.modified),
                  "deleted": list(r.files.deleted)},
        "outside_scope": list(r.outside),
        "later_edits": later,
        "later_edits_complete": r.later_complete,
        "changed_since_batch": list(r.changed_since),
        "events": [{"kind": e.kind, **commit_json(e.commit), "paths": list(e.paths)}
                   for e in r.events],
        "unlanded": list(r.unlanded),
        "ambiguous": [{"path": path, "commit": oid, "batches": list(ids)}
                      for path, oid, ids in r.ambiguous],
        "carried_by": list(r.carriers),
    }


def report_text(r: BatchReport, is_managed: Callable[[str], bool]) -> str:
    lines = [
        f"batch {r.batch_id}: {r.state}, {len(r.members)} commits, "
        f"{day(r.members[0].commit.time)} .. {day(r.members[-1].commit.time)} UTC"
        + (f", ecosystems: {', '.join(r.ecosystems)}" if r.ecosystems else ""),
        "",
        "commits:",
    ]
    for m in r.members:
        how = _source_text(m.source, m.detail)
        lines.append(f"  {m.commit.short}  {day(m.commit.time)}  {m.commit.author:<16.16}  "
                     f"{_cut(m.commit.subject, 60)}  [{how}]")
        for ch in m.changes:
            scope = "" if is_managed(ch.path) else "  (outside scope)"
            lines.append(f"      {ch.status} {ch.path}{scope}")
        if m.alongside:
            lines.append(f"      landed alongside (not the batch's, never reverted): "
                         f"{len(m.alongside)} files")
            lines += [f"        {ch.status} {ch.path}" for ch in m.alongside]
    f = r.files
    lines += ["", f"managed files: {len(f.added)} added, {len(f.modified)} modified, "
                  f"{len(f.deleted)} deleted"]
    for label, paths in (("added", f.added), ("modified", f.modified), ("deleted", f.deleted)):
        lines += [f"  {label:<9}{p}" for p in paths]
    if r.outside:
        lines += ["", f"outside scope (never reverted): {len(r.outside)} files"]
        lines += [f"  {p}" for p in r.outside]
    if r.later_edits:
        lines += ["", "later edits by commits outside the batch:"]
        for e in r.later_edits:
            lines.append(f"  {e.path}: {e.commit.short} {day(e.commit.time)} "
                         f"{e.commit.author} {e.commit.subject[:50]}")
    if not r.later_complete:
        lines += ["", f"later edits: not named without the history index; "
                      f"{len(r.changed_since)} managed files differ at the base from the "
                      "batch's version (run 'git batch index' to name the commits):"]
        lines += [f"  {p}" for p in r.changed_since]
    if r.ambiguous:
        lines += ["", "ambiguous: these files landed in a commit whose content matches other "
                      "batches just as well; they are no batch's until you say so "
                      "(revert --include-ambiguous):"]
        lines += [f"  {path} in {oid[:10]}: batches {', '.join(ids)}"
                  for path, oid, ids in r.ambiguous]
    if r.unlanded:
        lines += ["", f"not landed: {len(r.unlanded)} files of the batch's commits never "
                      "reached the base:"]
        lines += [f"  {p}" for p in r.unlanded]
    if r.carriers:
        lines += ["", f"its commits are also on: {', '.join(r.carriers)}"]
    if r.events:
        lines += ["", "reverts and reapplies:"]
        lines += [f"  {e.kind:<8}{e.commit.short} {day(e.commit.time)} {e.commit.subject[:60]}"
                  for e in r.events]
    return "\n".join(lines) + "\n"


def _source_text(source: str, detail: str) -> str:
    """How a member was found, for people: 'trailer', 'pull-request #12', 'content of
    refs/pull/12/head' (a commit id shortened)."""
    if source == "pull-request":
        return f"pull-request {detail}"
    if source == "content":
        return f"content of {detail if detail.startswith('refs/') else detail[:10]}"
    return source


def _cut(text: str, width: int) -> str:
    """text within width characters, cut at a word with an ellipsis when too long."""
    if len(text) <= width:
        return text
    head = text[:width - 1].rsplit(" ", 1)[0] if " " in text[:width - 1] else text[:width - 1]
    return head + "…"


def summaries_json(rows: list[BatchSummary]) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "batches": [
            {"batch_id": s.batch_id, "first_date": iso(s.first_time), "last_date": iso(s.last_time),
             "commits": s.commits, "managed_files": s.managed_files,
             "ecosystems": list(s.ecosystems), "state": s.state, "sources": list(s.sources)}
            for s in rows
        ],
    }


def summaries_text(rows: list[BatchSummary]) -> str:
    if not rows:
        return "no batches reachable from the base branch.\n"
    header = f"{'BATCH':<16} {'FIRST':<16} {'LAST':<16} {'COMMITS':>7} {'FILES':>6}  " \
             f"{'STATE':<15} {'ECOSYSTEMS':<12} SOURCES"
    lines = [header]
    for s in rows:
        lines.append(
            f"{s.batch_id:<16} {day(s.first_time):<16} {day(s.last_time):<16} {s.commits:>7} "
            f"{s.managed_files:>6}  {s.state:<15} {','.join(s.ecosystems) or '-':<12} "
            f"{','.join(s.sources)}"
        )
    return "\n".join(lines) + "\n"


# -- revert / reapply ------------------------------------------------------------------------
