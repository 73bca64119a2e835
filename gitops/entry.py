"""Console-script entry point: try the warm fast path, else the full click CLI."""

from __future__ import annotations

import sys


def _nothing_to_prepare() -> bool:
    """prepare-commit-msg runs on every commit; without GIT_BATCH_ID (and no chained hook) it
    has nothing to do, so answer before importing anything (issue 7: commit <= 100 ms)."""
    import os  # noqa: PLC0415

    shim = os.environ.get("GIT_BATCH_HOOK_PATH", "")
    legacy = os.path.join(os.path.dirname(shim), "prepare-commit-msg.legacy") if shim else ""
    return not os.environ.get("GIT_BATCH_ID", "").strip() and not (
        legacy and os.path.exists(legacy))


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in ("show", "list"):
        try:
            from gitops import warm  # noqa: PLC0415

            code = warm.run(argv)
            if code is None:
                from gitops import fastpath  # noqa: PLC0415

                code = fastpath.run(argv)
        except Exception:  # any surprise: the full path reports it properly
            code = None
        if code is not None:
            sys.exit(code)
    if argv[:2] == ["hook-impl", "prepare-commit-msg"] and _nothing_to_prepare():
        sys.exit(0)
    if argv[:1] == ["hook-impl"] and not {"-h", "--help"} & set(argv[1:2]):
        # Hooks run on every commit: skip click (issue 7: commit-msg <= 100 ms in all).
        from gitops import hook_impl  # noqa: PLC0415

        sys.exit(hook_impl.main(argv[1:]))
    from gitops.cli import main as cli_main  # noqa: PLC0415

    cli_main()
