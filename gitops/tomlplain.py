"""Pure: the plain TOML that registry recipes are written in, read several times faster than
tomllib; anything else is left to tomllib.

tomllib reads character by character in Python: 0.17 ms for a 500-byte recipe, most of a
revert's dependency check on the 200k-commit demo (the 50 versions it restores: 11 ms of about
50) and a quarter of an index build (20k recipes). A recipe is mostly `key = value` lines under
`[table]` and `[[array of tables]]` headers, with strings, integers, booleans and one-line arrays
of strings as values. loads() reads exactly that, a line at a time with regular expressions,
and returns None at the first thing outside it (an escape, a float, a date, an inline table, a
multi-line value, a quoted or dotted key, a duplicate, a carriage return...): the caller then
asks tomllib, whose answer, or error, stays the reference. tests/unit/test_tomlplain.py checks
on generated documents that every answer loads() gives is tomllib's.
"""

from __future__ import annotations

import re

_WS = r"[ \t]*"
_BARE = r"[A-Za-z0-9_-]+"
# control characters other than tab may appear neither in comments nor in strings
_COMMENT = r"(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?"
_BASIC = r'"[^"\\\x00-\x08\x0a-\x1f\x7f]*"'  # no escapes: the text between the quotes is it
_LITERAL = r"'[^'\x00-\x08\x0a-\x1f\x7f]*'"
_STRING = rf"(?:{_BASIC}|{_LITERAL})"
_ARRAY = rf"\[{_WS}(?:{_STRING}{_WS},{_WS})*(?:{_STRING}{_WS})?\]"  # strings only, one line
_INTEGER = r"[+-]?(?:0|[1-9][0-9]{0,17})"  # decimal, no underscores, well inside 64 bits
_VALUE = rf"{_STRING}|{_ARRAY}|{_INTEGER}|true|false"

_BLANK = re.compile(rf"{_WS}{_COMMENT}")
_PAIR = re.compile(rf"{_WS}({_BARE}){_WS}={_WS}({_VALUE}){_WS}{_COMMENT}")
_TABLE = re.compile(rf"{_WS}\[{_WS}({_BARE}(?:\.{_BARE})*){_WS}\]{_WS}{_COMMENT}")
_ARRAY_TABLE = re.compile(rf"{_WS}\[\[{_WS}({_BARE}(?:\.{_BARE})*){_WS}\]\]{_WS}{_COMMENT}")
_ITEM = re.compile(_STRING)

Table = dict[str, object]


def loads(text: str) -> Table | None:
    """tomllib.loads(text) when text is plain (see the module docstring), else None."""
    if "\r" in text:
        return None
    root: Table = {}
    current = root
    defined = {id(root)}  # tables a header (or the document) has defined
    arrays: set[int] = set()  # arrays made by [[...]] headers (not `key = [...]`)
    for line in text.split("\n"):
        pair = _PAIR.fullmatch(line)
        if pair is not None:
            key, raw = pair.groups()
            if key in current:
                return None
            current[key] = _value(raw)
            continue
        if _BLANK.fullmatch(line):
            continue
        header = _ARRAY_TABLE.fullmatch(line)
        if header is not None:
            *parents, last = header.group(1).split(".")
            parent = _descend(root, parents, arrays)
            if parent is None:
                return None
            node = parent.get(last)
            if node is None:
                node = parent[last] = []
                arrays.add(id(node))
            elif not isinstance(node, list) or id(node) not in arrays:
                return None
            current = {}
            node.append(current)
            defined.add(id(current))
            continue
        header = _TABLE.fullmatch(line)
        if header is None:
            return None
        *parents, last = header.group(1).split(".")
        parent = _descend(root, parents, arrays)
        if parent is None:
            return None
        node = parent.get(last)
        if node is None:
            node = parent[last] = {}
        elif not isinstance(node, dict) or id(node) in defined:
            return None  # a value, an array, or a table defined twice
        current = node
        defined.add(id(current))
    return root


def _descend(root: Table, keys: list[str], arrays: set[int]) -> Table | None:
    """The table keys name from root, making the missing ones; through an array of tables,
    its last table (as TOML says); None when a key names a value."""
    table = root
    for key in keys:
        node = table.get(key)
        if node is None:
            node = table[key] = {}
        elif isinstance(node, list):
            if id(node) not in arrays:
                return None
            node = node[-1]
        elif not isinstance(node, dict):
            return None
        table = node
    return table


def _value(raw: str) -> object:
    first = raw[0]
    if first in "\"'":
        return raw[1:-1]
    if first == "[":
        return [item[1:-1] for item in _ITEM.findall(raw)]
    if raw == "true":
        return True
    if raw == "false":
        return False
    return int(raw)
