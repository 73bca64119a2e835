"""Pure: in-flight reports -> human text or JSON documents; the CLI prints them.

People get short ids, one row per branch (refs at the same commit share it) and one hint per
verdict present; `--json` gets full ids, every ref left out and why, and epoch seconds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gitops.cli.common import JSON_SCHEMA_VERSION, day, iso, plural
from gitops.revert.inflight import Conflict, Report, Skipped, StaleReport, Verdict


def _conflict_json(c: Conflict) -> dict[str, str]:
    return {"path": c.path, "kind": c.kind}


def _skipped_json(skipped: tuple[Skipped, ...]) -> list[dict[str, Any]]:
    return [{"refs": list(s.refs), "reason": s.reason} for s in skipped]


def _counts(verdicts: tuple[Verdict, ...]) -> dict[str, int]:
    """verdict -> branches, in table order (the report sorts most severe first)."""
    return dict(Counter(v.verdict for v in verdicts))


def report_json(r: Report) -> dict[str, Any]:
    s = r.subject
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "mode": s.mode,
        "batch_ids": list(s.batch_ids),
        "base_ref": s.base_ref,
        "base": s.base,
        "revert": {"commit": s.revert, "simulated": s.simulated, "branch": s.revert_ref,
                   "paths": list(s.revert_paths), "removed_names": list(s.removed_names)},
        "batch_files": list(s.batch_files),
        "patterns": list(r.patterns),
        "matched_refs": r.matched,
        "branches": [
            {"refs": list(v.refs), "tip": v.tip, "verdict": v.verdict, "hint": v.hint,
             "blocking": v.blocking,
             "conflicts": [_conflict_json(c) for c in v.conflicts],
             "pre_existing": [_conflict_json(c) for c in v.pre_existing],
             "dependency_breaks": [{"path": b.path, "name": b.name, "missing": b.missing}
                                   for b in v.breaks],
             "unreadable": [{"path": u.path, "line": u.line, "message": u.message}
                            for u in v.unreadable],
             "batch_files": list(v.batch_files),
             "batch_ids": list(v.batch_ids),
             "missing": v.missing,
             "duplicates": [{"what": d.what, "refs": list(d.refs)} for d in v.duplicates],
             "after_revert_merge": "run" if v.after_merged else "skipped (no overlap)"}
            for v in r.verdicts
        ],
        "summary": _counts(r.verdicts),
        "blocking": len(r.blocking),
        "skipped": _skipped_json(r.skipped),
        "notes": list(r.notes),
        "merges": r.merges,
    }


def _details(v: Verdict) -> list[str]:
    if v.missing is not None:
        return [f"cannot be read: {v.missing}"]
    out = [f"carries batch {b}" for b in v.batch_ids]
    out += [f"{c.path} ({c.kind})" for c in v.conflicts]
    out += [f"{b.path} needs {b.missing}" for b in v.breaks]
    out += [f"unreadable {u.path}" + (f":{u.line}" if u.line else "") + f": {u.message}"
            for u in v.unreadable]
    if v.verdict != "conflict" or not v.conflicts:
        out += [f"edits {p}" for p in v.batch_files]
    shared: dict[tuple[str, ...], list[str]] = {}
    for d in v.duplicates:
        shared.setdefault(d.refs, []).append(d.what)
    for refs, what in shared.items():
        listed = ", ".join(what[:3]) + (f" and {len(what) - 3} more" if len(what) > 3 else "")
        out.append(f"same {listed} as {', '.join(refs)}")
    out += [f"pre-existing: {c.path} ({c.kind})" for c in v.pre_existing]
    return out


def format_age(seconds: int) -> str:
    """A short age for people: '3d 4h', '5h 10m', '42m'."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def _skipped_line(skipped: tuple[Skipped, ...]) -> str | None:
    if not skipped:
        return None
    parts = [f"{s.reason} ({len(s.refs)})" for s in skipped]
    return f"left out: {', '.join(parts)}; --json names them."


def _title(r: Report) -> list[str]:
    s = r.subject
    if s.mode == "batch":
        what = f"the revert of batch {s.batch_ids[0]}"
    else:
        what = f"the revert branch {s.revert_ref}" + (
            f" (reverts batch {', '.join(s.batch_ids)})" if s.batch_ids else "")
    lines = [f"in-flight branches vs {what}, base {s.base_ref} at {s.base[:10]}"]
    if s.revert_paths:
        how = "simulated in memory" if s.simulated else "its tip"
        removes = (f"; removes {', '.join(s.removed_names)}" if s.removed_names else "")
        lines.append(f"revert {s.revert[:10]} ({how}): "
                     f"{plural(len(s.revert_paths), 'file', 'files')} changed{removes}")
    return lines


def report_text(r: Report) -> str:
    lines = _title(r)
    lines += [f"note: {n}" for n in r.notes]
    lines.append("")
    if r.matched == 0:
        lines.append(f"no refs match repo.inflight_refs ({', '.join(r.patterns)}).")
    elif not r.verdicts:
        lines.append("no in-flight branches: every matching ref is merged or left out.")
    else:
        width = max(len(ref) for v in r.verdicts for ref in v.refs)
        lines.append(f"{'VERDICT':<19} {'TIP':<10}  {'REFS':<{width}}  DETAILS")
        for v in r.verdicts:
            details = _details(v)
            for i in range(max(len(v.refs), len(details), 1)):
                first = i == 0
                lines.append(
                    (f"{v.verdict if first else '':<19} {v.tip[:10] if first else '':<10}  "
                     f"{v.refs[i] if i < len(v.refs) else '':<{width}}  "
                     f"{details[i] if i < len(details) else ''}").rstrip())
        counts = _counts(r.verdicts)
        lines += ["", f"{plural(len(r.verdicts), 'branch', 'branches')}: "
                      + ", ".join(f"{n} {name}" for name, n in counts.items()) + "."]
    skipped = _skipped_line(r.skipped)
    if skipped:
        lines.append(skipped)
    hints = dict.fromkeys((v.verdict, v.hint) for v in r.verdicts if v.verdict != "clean")
    if hints:
        lines.append("")
        lines += [f"hint: {name}: {hint}" for name, hint in hints]
    return "\n".join(lines) + "\n"


def stale_json(r: StaleReport) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "base_ref": r.base_ref,
        "base": r.base,
        "now": r.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "limit_seconds": int(r.limit.total_seconds()),
        "patterns": list(r.patterns),
        "matched_refs": r.matched,
        "branches": [
            {"refs": list(b.refs), "tip": b.tip, "batch_ids": list(b.batch_ids),
             "open_since": iso(b.open_since), "open_since_time": b.open_since,
             "age_seconds": b.age, "commits": b.commits}
            for b in r.branches
        ],
        "skipped": _skipped_json(r.skipped),
    }


def stale_text(r: StaleReport) -> str:
    age = format_age
    limit = age(int(r.limit.total_seconds()))
    lines = [f"batch branches open longer than {limit} (base {r.base_ref} at {r.base[:10]}, "
             f"now {r.now.strftime('%Y-%m-%d %H:%M')} UTC), oldest first:", ""]
    if r.matched == 0:
        lines.append(f"no refs match repo.inflight_refs ({', '.join(r.patterns)}).")
    elif not r.branches:
        lines.append("none.")
    else:
        width = max(len(ref) for b in r.branches for ref in b.refs)
        lines.append(f"{'OPEN SINCE':<16}  {'AGE':<8}  {'TIP':<10}  {'REFS':<{width}}  "
                     "COMMITS  BATCHES")
        for b in r.branches:
            for i, ref in enumerate(b.refs):
                if i == 0:
                    lines.append(f"{day(b.open_since):<16}  {age(b.age):<8}  {b.tip[:10]:<10}  "
                                 f"{ref:<{width}}  {b.commits:>7}  {', '.join(b.batch_ids)}")
                else:
                    lines.append(f"{'':<16}  {'':<8}  {'':<10}  {ref}")
        count = plural(len(r.branches), "batch branch", "batch branches")
        lines += ["", f"{count} open longer than {limit}.",
                  "hint: find out why each is stuck (failing checks, a review, a paused "
                  "ecosystem); merge it or close it"]
    return "\n".join(lines) + "\n"
