"""Pure: recipe TOML -> names and dependency edges (configured fields); dependents of a set.

A field is a dotted path into the recipe document (`metadata.dependencies`). A segment ending in
`[]` walks an array of tables: `steps[].dependencies` is the `dependencies` of every table in the
array `steps`; a segment `*` walks every key of a table: `metadata.satisfies.*` is every list in
the table `metadata.satisfies` (one per ecosystem). Quoted keys that contain a dot cannot be
named. A missing field (or a missing table on the way to it) means "nothing there"; a field of
the wrong type is a RecipeError naming the field, because "no dependencies" is the answer that
would let a revert break other recipes.

Entries of a dependency field are strings or tables with a string `name` (registries that pin
versions write `{ name = "zlib", version = ">=1.3" }`; the other keys are ignored). Aliases are
strings only. Names are stripped of surrounding whitespace and then compared exactly (case
matters); an entry that is empty after stripping is an error. Dependencies and aliases are
de-duplicated, keeping the first occurrence, dependency fields in their configured order.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

# Not configurable (RecipesConfig has no key for it): the recipe's own name, else the file stem.
NAME_FIELD = "metadata.name"

# tomllib (3.11) puts the position only in the message: "... (at line 3, column 5)", or
# "... (at end of document)"; TOMLDecodeError.lineno only arrives in Python 3.14.
_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)\Z")
_AT_END = "(at end of document)"


class Recipe(NamedTuple):
    path: str
    name: str  # NAME_FIELD if present, else the file stem
    dependencies: tuple[str, ...]  # names from all configured fields, de-duplicated, in order
    aliases: tuple[str, ...]  # names this recipe also satisfies (alias_fields)
    protected: bool  # protected_marker field is true


class RecipeError(NamedTuple):
    path: str
    line: int | None  # known for TOML syntax and UTF-8 errors only
    message: str


class _FieldError(ValueError):
    """A field, or a table on the way to it, has the wrong type."""


_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: bool is a subclass of int
    (str, "a string"),
    (int, "an integer"),
    (float, "a float"),
    (dict, "a table"),
    (list, "an array"),
)


def _kind(value: object) -> str:
    """The TOML type of value, for messages ("an integer", "a table", "a datetime")."""
    for cls, kind in _KINDS:
        if isinstance(value, cls):
            return kind
    return f"a {type(value).__name__}"  # datetime, date, time


def _locate(doc: Mapping[str, object], field: str) -> list[tuple[str, object]]:
    """(concrete location, value) for each value of field in doc, e.g. ('steps[1].x', [...])."""
    # the usual field: one value at most, found where the field says
    if "[]" not in field and "*" not in field.split("."):
        value: object = doc
        for key in field.split("."):
            if not isinstance(value, Mapping):
                return _locate_all(doc, field)  # it names the table that is not one
            if key not in value:
                return []
            value = value[key]
        return [(field, value)]
    return _locate_all(doc, field)


def _locate_all(doc: Mapping[str, object], field: str) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = [("", doc)]
    segments = field.split(".")
    for i, segment in enumerate(segments):
        key, is_array = (segment[:-2], True) if segment.endswith("[]") else (segment, False)
        last = i == len(segments) - 1
        step: list[tuple[str, object]] = []
        for where, table in found:
            assert isinstance(table, Mapping)  # everything in `found` before the last is a table
            if key == "*":  # every key of this table
                for name, value in table.items():
                    here = f"{where}.{name}" if where else name
                    if not last and not isinstance(value, Mapping):
                        raise _FieldError(
                            f"{here} must be a table to hold {field}, not {_kind(value)}")
                    step.append((here, value))
                continue
            if key not in table:
                continue
            here = f"{where}.{key}" if where else key
            value = table[key]
            if not is_array:
                if not last and not isinstance(value, Mapping):
                    raise _FieldError(f"{here} must be a table to hold {field}, not {_kind(value)}")
                step.append((here, value))
                continue
            if not isinstance(value, list):
                raise _FieldError(
                    f"{here} must be an array of tables to hold {field}, not {_kind(value)}"
                )
            for n, item in enumerate(value):
                if not last and not isinstance(item, Mapping):
                    raise _FieldError(
                        f"{here}[{n}] must be a table to hold {field}, not {_kind(item)}"
                    )
                step.append((f"{here}[{n}]", item))
        found = step
    return found


def field_values(doc: Mapping[str, object], field: str) -> list[object]:
    """Every value of the dotted field path in doc; raises ValueError on a wrong-typed table."""
    return [value for _, value in _locate(doc, field)]


def _names(where: str, value: object, *, tables: bool) -> list[str]:
    """The names listed at where; tables with a string `name` count only if tables is set."""
    entry_kind = "a string or a table with a string 'name'" if tables else "a string"
    if not isinstance(value, list):
        what = "a list of strings or tables with a string 'name'" if tables else "a list of strings"
        raise _FieldError(f"{where} must be {what}, not {_kind(value)}")
    names = []
    for n, entry in enumerate(value):
        name = entry.get("name") if tables and isinstance(entry, Mapping) else entry
        if not isinstance(name, str):
            no_name = tables and isinstance(entry, Mapping)
            got = "a table without a string 'name'" if no_name else _kind(entry)
            raise _FieldError(f"{where}[{n}] must be {entry_kind}, not {got}")
        if not name.strip():
            raise _FieldError(f"{where}[{n}] must be a name, not an empty string")
        names.append(name.strip())
    return names


def _stem(path: str) -> str:
    """PurePosixPath(path).stem, for git's '/'-separated paths."""
    base = path.rpartition("/")[2]
    head, dot, _ = base.rpartition(".")
    return head if dot and head else base


def _read_recipe(
    path: str,
    doc: Mapping[str, object],
    dependency_fields: tuple[str, ...],
    alias_fields: tuple[str, ...],
    protected_marker: str,
) -> Recipe:
    names = _locate(doc, NAME_FIELD)
    if names:
        where, value = names[0]
        if not isinstance(value, str) or not value.strip():
            got = _kind(value) if not isinstance(value, str) else "an empty string"
            raise _FieldError(f"{where} must be a non-empty string, not {got}")
        name = value.strip()
    else:
        name = _stem(path).strip()
        if not name:
            raise _FieldError(f"recipe has no {NAME_FIELD} and its file name gives none")
    dependencies: dict[str, None] = {}  # an ordered set
    for field in dependency_fields:
        for where, value in _locate(doc, field):
            dependencies.update(dict.fromkeys(_names(where, value, tables=True)))
    aliases: dict[str, None] = {}
    for alias_field in alias_fields:
        for where, value in _locate(doc, alias_field):
            aliases.update(dict.fromkeys(_names(where, value, tables=False)))
    protected = False
    for where, value in _locate(doc, protected_marker):
        if not isinstance(value, bool):
            raise _FieldError(f"{where} must be true or false, not {_kind(value)}")
        protected = protected or value
    return Recipe(path, name, tuple(dependencies), tuple(aliases), protected)


def _error_line(message: str, text: str) -> int | None:
    """The 1-based line a tomllib message points at; end of document means the last line."""
    match = _AT_LINE.search(message)
    if match:
        return int(match.group(1))
    if message.endswith(_AT_END):
        return max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    return None


def parse_recipe(
    path: str,
    data: bytes,
    *,
    dependency_fields: tuple[str, ...],
    alias_fields: tuple[str, ...],
    protected_marker: str,
) -> Recipe | RecipeError:
    """Read one recipe file's bytes into its name, dependencies, aliases and protection."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        return RecipeError(path, line, f"not valid UTF-8: byte 0x{bad} at offset {exc.start}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        return RecipeError(path, _error_line(message, text), message)
    try:
        return _read_recipe(path, doc, dependency_fields, alias_fields, protected_marker)
    except _FieldError as exc:
        return RecipeError(path, None, str(exc))


def provides(recipes: Iterable[Recipe]) -> dict[str, set[str]]:
    """Map each name and alias to the paths of the recipes that provide it."""
    out: dict[str, set[str]] = {}
    for recipe in recipes:
        for name in (recipe.name, *recipe.aliases):
            out.setdefault(name, set()).add(recipe.path)
    return out


def broken_dependencies(
    remaining: Iterable[Recipe],
    removed_names: set[str],
    still_provided: Mapping[str, set[str]],
) -> list[tuple[str, str, str]]:
    """(path, name, missing name) for each remaining dependency that the removal leaves unmet.

    still_provided is normally provides(remaining); a removed name that it still maps to a path
    (another recipe's name or alias) is fine. Sorted by path, then in dependency order.
    """
    broken = []
    for recipe in sorted(remaining, key=lambda r: r.path):
        for dependency in recipe.dependencies:
            if dependency in removed_names and not still_provided.get(dependency):
                broken.append((recipe.path, recipe.name, dependency))
    return broken


def dependents_closure(seeds: set[str], recipes: Iterable[Recipe]) -> set[str]:
    """Paths of the recipes that depend on a seed name, directly or through other recipes.

    A recipe depends on every recipe whose name or alias it lists. A recipe providing a seed is
    in the result only if it too depends on the set (for example through a cycle).
    """
    dependents: dict[str, list[Recipe]] = {}
    for recipe in recipes:
        for dependency in recipe.dependencies:
            dependents.setdefault(dependency, []).append(recipe)
    found: set[str] = set()
    queue = list(seeds)
    seen = set(seeds)
    while queue:
        for recipe in dependents.get(queue.pop(), ()):
            if recipe.path in found:
                continue
            found.add(recipe.path)
            for name in (recipe.name, *recipe.aliases):
                if name not in seen:
                    seen.add(name)
                    queue.append(name)
    return found
