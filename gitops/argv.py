"""The plain command-line forms the click-free fast paths (gate.py, revert_cmd.py) read.

`--flag`, `--opt VALUE`, `--opt=VALUE`, repeatable options, positional arguments: the forms CI
and operators type. Anything else (a short or unknown option, `--`, a value that looks like an
option, an empty argument) makes `scan` return None, and the caller leaves the whole command
line to click, which parses it or prints its usual usage error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def scan(argv: list[str], flags: Mapping[str, str], valued: Mapping[str, str],
         repeatable: Collection[str] = ()) -> tuple[list[str], dict[str, object]] | None:
    """(positional arguments, {key: True | value | [values]}) or None to leave argv to click.

    flags and valued map option names to keys; options in repeatable collect a list, the
    others keep their last value, as click does."""
    positional: list[str] = []
    values: dict[str, object] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name in flags and not eq:
            values[flags[name]] = True
        elif name in valued:
            if eq:
                value = inline
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                value = argv[i]
            else:
                return None  # a missing value (or one that looks like an option): click says so
            if name in repeatable:
                collected = values.setdefault(valued[name], [])
                assert isinstance(collected, list)
                collected.append(value)
            else:
                values[valued[name]] = value
        elif arg.startswith("-") or not arg:
            return None
        else:
            positional.append(arg)
        i += 1
    return positional, values
