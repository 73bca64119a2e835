"""Console-script entry point: try the warm fast path, else the full click CLI."""

from __future__ import annotations

import sys


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
    from gitops.cli import main as cli_main  # noqa: PLC0415

    cli_main()
