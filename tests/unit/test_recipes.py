"""Unit tests for gitops.recipes: field rules by example, plus hypothesis properties."""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.config import RecipesConfig
from gitops.recipes import (
    NAME_FIELD,
    Recipe,
    RecipeError,
    _error_line,
    broken_dependencies,
    dependents_closure,
    field_values,
    parse_recipe,
    provides,
)

DEFAULTS = RecipesConfig()
# The name spaces below are small, so a few dozen examples reach the interesting overlaps;
# the whole file stays well under its 3 s budget.
PROPERTY = settings(max_examples=40, deadline=None)
PATH = "recipes/j/jq.toml"


def parse(text: str | bytes, path: str = PATH, **overrides: Any) -> Recipe | RecipeError:
    settings: dict[str, Any] = {
        "dependency_fields": DEFAULTS.dependency_fields,
        "alias_fields": DEFAULTS.alias_fields,
        "protected_marker": DEFAULTS.protected_marker,
        **overrides,
    }
    data = text.encode() if isinstance(text, str) else text
    return parse_recipe(path, data, **settings)


def ok(text: str, path: str = PATH, **overrides: Any) -> Recipe:
    result = parse(text, path, **overrides)
    assert isinstance(result, Recipe), result
    return result


def error(text: str | bytes, path: str = PATH, **overrides: Any) -> RecipeError:
    result = parse(text, path, **overrides)
    assert isinstance(result, RecipeError), result
    assert result.path == path
    return result


def recipe(path: str, name: str, deps: Iterable[str] = (), aliases: Iterable[str] = ()) -> Recipe:
    return Recipe(path, name, tuple(deps), tuple(aliases), protected=False)


# The shape gitops/demo.py writes.
DEMO = """\
[metadata]
name = "jq"
version = "1.7.1"
description = "Lightweight and flexible command-line JSON processor"
homepage = "https://downloads.example.org/jq"
dependencies = ["oniguruma"]
runtime_dependencies = ["zlib", "oniguruma"]
aliases = ["jq-cli"]
curated = true

[[steps]]
action = "download"
url = "https://downloads.example.org/jq/jq-1.7.1.tar.gz"
sha256 = "0000"

[[steps]]
action = "configure_make"
dependencies = ["autoconf", "pkg-config"]

[[steps]]
action = "install_binaries"
"""


# --- parse_recipe: the demo shape --------------------------------------------------------


def test_parse_recipe_reads_a_demo_recipe():
    assert ok(DEMO) == Recipe(
        path=PATH,
        name="jq",
        dependencies=("oniguruma", "zlib", "autoconf", "pkg-config"),
        aliases=("jq-cli",),
        protected=True,
    )


def test_parse_recipe_dependencies_follow_the_configured_field_order():
    text = '[metadata]\ndependencies = ["a", "b"]\nruntime_dependencies = ["c", "a"]\n'
    swapped = ("metadata.runtime_dependencies", "metadata.dependencies")
    assert ok(text).dependencies == ("a", "b", "c")
    assert ok(text, dependency_fields=swapped).dependencies == ("c", "a", "b")
    assert ok(text, dependency_fields=()).dependencies == ()


def test_parse_recipe_missing_fields_mean_no_dependencies():
    assert ok("") == Recipe(PATH, "jq", (), (), protected=False)
    assert ok('[metadata]\nname = "jq"\n[[steps]]\naction = "x"\n').dependencies == ()
    assert ok("steps = []\n").dependencies == ()


# --- names ----------------------------------------------------------------------------------


def test_parse_recipe_name_is_stripped_and_case_kept():
    assert ok('[metadata]\nname = "  JQ\\t"\n').name == "JQ"


def test_parse_recipe_name_falls_back_to_the_file_stem():
    assert ok("[metadata]\n").name == "jq"
    assert ok("", path="recipes/p/py.yaml.toml").name == "py.yaml"
    assert ok("", path="no-suffix").name == "no-suffix"
    assert ok("", path="recipes/.toml").name == ".toml"


def test_parse_recipe_without_name_or_file_name_is_an_error():
    assert error("", path="recipes/").message == (
        f"recipe has no {NAME_FIELD} and its file name gives none"
    )


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("3", "an integer"),
        ('""', "an empty string"),
        ('" "', "an empty string"),
        ("[]", "an array"),
        ("1979-05-27", "a date"),
    ],
)
def test_parse_recipe_name_of_the_wrong_type_is_an_error(value, got):
    result = error(f"[metadata]\nname = {value}\n")
    assert result.message == f"metadata.name must be a non-empty string, not {got}"
    assert result.line is None


def test_parse_recipe_metadata_that_is_not_a_table_is_an_error():
    assert error('metadata = "jq"\n').message == (
        "metadata must be a table to hold metadata.name, not a string"
    )


# --- dependency entries -------------------------------------------------------------------


def test_parse_recipe_strips_names_and_compares_them_exactly():
    text = '[metadata]\ndependencies = [" zlib ", "zlib", "Zlib", "\\tzlib"]\n'
    assert ok(text).dependencies == ("zlib", "Zlib")


def test_parse_recipe_accepts_inline_tables_with_a_name():
    text = (
        '[metadata]\ndependencies = [{ name = "zlib", version = ">=1.3" }, "curl",'
        ' { name = " openssl " }]\n'
    )
    assert ok(text).dependencies == ("zlib", "curl", "openssl")


def test_parse_recipe_accepts_arrays_of_tables_with_a_name():
    text = '[[metadata.dependencies]]\nname = "zlib"\n[[metadata.dependencies]]\nname = "xz"\n'
    assert ok(text).dependencies == ("zlib", "xz")


ENTRY = "a string or a table with a string 'name'"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '"zlib"',
            "metadata.dependencies must be a list of strings or tables with a string "
            "'name', not a string",
        ),
        (
            "{ name = 'zlib' }",
            "metadata.dependencies must be a list of strings or tables with a "
            "string 'name', not a table",
        ),
        (
            "true",
            "metadata.dependencies must be a list of strings or tables with a string "
            "'name', not a boolean",
        ),
        ('["a", 1]', f"metadata.dependencies[1] must be {ENTRY}, not an integer"),
        ("[1.5]", f"metadata.dependencies[0] must be {ENTRY}, not a float"),
        ('[["a"]]', f"metadata.dependencies[0] must be {ENTRY}, not an array"),
        ("[1979-05-27T07:32:00Z]", f"metadata.dependencies[0] must be {ENTRY}, not a datetime"),
        (
            "[{ version = '1' }]",
            f"metadata.dependencies[0] must be {ENTRY}, not a table without a string 'name'",
        ),
        (
            "[{ name = 3 }]",
            f"metadata.dependencies[0] must be {ENTRY}, not a table without a string 'name'",
        ),
        ('["a", " "]', "metadata.dependencies[1] must be a name, not an empty string"),
        ("[{ name = '' }]", "metadata.dependencies[0] must be a name, not an empty string"),
    ],
)
def test_parse_recipe_dependency_field_of_the_wrong_type_is_an_error(value, message):
    result = error(f"[metadata]\ndependencies = {value}\n")
    assert (result.line, result.message) == (None, message)


def test_parse_recipe_reports_the_first_wrong_field():
    text = '[metadata]\ndependencies = ["a"]\nruntime_dependencies = "b"\naliases = 3\n'
    assert error(text).message.startswith("metadata.runtime_dependencies must be")


# --- nested and steps[] fields ------------------------------------------------------------


def test_parse_recipe_reads_deeply_nested_fields():
    text = '[build.host]\nrequires = ["cmake"]\n[build.target]\nrequires = ["zlib"]\n'
    fields = ("build.host.requires", "build.target.requires", "build.missing.requires")
    assert ok(text, dependency_fields=fields).dependencies == ("cmake", "zlib")


def test_parse_recipe_table_on_the_way_to_a_field_must_be_a_table():
    fields = ("build.host.requires",)
    assert error("build = 1\n", dependency_fields=fields).message == (
        "build must be a table to hold build.host.requires, not an integer"
    )
    assert error("[build]\nhost = [1]\n", dependency_fields=fields).message == (
        "build.host must be a table to hold build.host.requires, not an array"
    )


def test_parse_recipe_reads_each_steps_dependencies():
    text = (
        '[[steps]]\ndependencies = ["cmake"]\n[[steps]]\naction = "x"\n'
        '[[steps]]\ndependencies = [{ name = "ninja" }, "cmake"]\n'
    )
    assert ok(text).dependencies == ("cmake", "ninja")


def test_parse_recipe_steps_must_be_an_array_of_tables():
    assert error("[steps]\ndependencies = ['a']\n").message == (
        "steps must be an array of tables to hold steps[].dependencies, not a table"
    )
    assert error('steps = "configure"\n').message == (
        "steps must be an array of tables to hold steps[].dependencies, not a string"
    )
    assert error('steps = [{ dependencies = ["a"] }, "make"]\n').message == (
        "steps[1] must be a table to hold steps[].dependencies, not a string"
    )


def test_parse_recipe_names_the_step_of_a_wrong_dependencies_value():
    text = '[[steps]]\ndependencies = ["a"]\n[[steps]]\ndependencies = "b"\n'
    assert error(text).message == (
        "steps[1].dependencies must be a list of strings or tables with a string 'name', "
        "not a string"
    )


def test_parse_recipe_reads_nested_arrays_of_tables():
    text = (
        '[[stages]]\n[[stages.steps]]\nneeds = ["a"]\n[[stages.steps]]\nneeds = ["b"]\n'
        '[[stages]]\n[[stages.steps]]\nneeds = ["c", "a"]\n'
    )
    assert ok(text, dependency_fields=("stages[].steps[].needs",)).dependencies == ("a", "b", "c")


def test_parse_recipe_field_ending_in_brackets_lists_the_array_items():
    # `deps[]` names each item of `deps` as a value, so each item must itself be a list.
    text = 'deps = [["a", "b"], ["c"]]\n'
    assert ok(text, dependency_fields=("deps[]",)).dependencies == ("a", "b", "c")
    assert error('deps = ["a"]\n', dependency_fields=("deps[]",)).message == (
        "deps[0] must be a list of strings or tables with a string 'name', not a string"
    )


# --- aliases --------------------------------------------------------------------------------


def test_parse_recipe_reads_aliases_stripped_and_deduplicated():
    text = '[metadata]\naliases = ["jq-cli", " jq-cli ", "JQ"]\n'
    assert ok(text).aliases == ("jq-cli", "JQ")


def test_parse_recipe_alias_field_is_configurable():
    text = '[metadata]\naliases = ["x"]\nprovides = ["y"]\n'
    assert ok(text, alias_fields=("metadata.provides",)).aliases == ("y",)
    assert ok(text, alias_fields=("metadata.missing",)).aliases == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"jq-cli"', "metadata.aliases must be a list of strings, not a string"),
        ("[{ name = 'x' }]", "metadata.aliases[0] must be a string, not a table"),
        ("[2]", "metadata.aliases[0] must be a string, not an integer"),
        ('[""]', "metadata.aliases[0] must be a name, not an empty string"),
    ],
)
def test_parse_recipe_alias_field_of_the_wrong_type_is_an_error(value, message):
    assert error(f"[metadata]\naliases = {value}\n").message == message


# --- protected marker -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "protected"), [("curated = true", True), ("curated = false", False), ("", False)]
)
def test_parse_recipe_protected_marker(line, protected):
    assert ok(f"[metadata]\n{line}\n").protected is protected


@pytest.mark.parametrize(
    ("value", "got"), [('"yes"', "a string"), ("1", "an integer"), ("[true]", "an array")]
)
def test_parse_recipe_protected_marker_must_be_a_boolean(value, got):
    assert error(f"[metadata]\ncurated = {value}\n").message == (
        f"metadata.curated must be true or false, not {got}"
    )


def test_parse_recipe_protected_marker_in_steps_is_true_if_any_step_says_so():
    marker = "steps[].pinned"
    text = "[[steps]]\npinned = false\n[[steps]]\n[[steps]]\npinned = true\n"
    assert ok(text, protected_marker=marker).protected is True
    assert ok("[[steps]]\npinned = false\n", protected_marker=marker).protected is False


# --- syntax and encoding errors -----------------------------------------------------------


def test_parse_recipe_malformed_toml_reports_tomllib_line():
    result = error('[metadata]\nname = "jq"\ndeps x = 1\n')
    assert result == RecipeError(
        PATH, 3, "Expected '=' after a key in a key/value pair (at line 3, column 6)"
    )


def test_parse_recipe_duplicate_key_reports_its_line():
    result = error('[metadata]\nname = "a"\n\n\nname = "b"\n')
    assert (result.line, result.message) == (5, "Cannot overwrite a value (at line 5, column 11)")


def test_parse_recipe_error_at_end_of_document_points_at_the_last_line():
    assert error('[metadata]\nname = "jq').line == 2
    assert error("[metadata]\ndependencies = [\n").line == 2


def test_parse_recipe_byte_order_mark_is_a_toml_error_on_line_one():
    assert error("\ufeff[metadata]\n").line == 1


def test_parse_recipe_non_utf8_reports_the_line_of_the_bad_byte():
    result = error(b'[metadata]\nname = "jq"\ndescription = "caf\xe9"\n')
    assert result == RecipeError(PATH, 3, "not valid UTF-8: byte 0xe9 at offset 41")


def test_error_line_of_a_message_without_a_position_is_unknown():
    assert _error_line("Something odd", "a = 1\n") is None
    assert _error_line("Invalid value (at end of document)", "") == 1
    assert _error_line("Invalid value (at end of document)", "a\nb") == 2


# --- field_values -------------------------------------------------------------------------


def test_field_values_resolves_dotted_and_array_paths():
    doc = {
        "metadata": {"dependencies": ["a"]},
        "steps": [{"dependencies": ["b"]}, {}, {"dependencies": []}],
    }
    assert field_values(doc, "metadata.dependencies") == [["a"]]
    assert field_values(doc, "metadata.missing") == []
    assert field_values(doc, "missing.dependencies") == []
    assert field_values(doc, "steps[].dependencies") == [["b"], []]
    assert field_values(doc, "steps") == [[{"dependencies": ["b"]}, {}, {"dependencies": []}]]
    assert field_values({}, "steps[].dependencies") == []


def test_field_values_raises_value_error_on_a_wrong_table():
    with pytest.raises(ValueError, match=r"^metadata must be a table to hold metadata\.x, not"):
        field_values({"metadata": 1}, "metadata.x")
    with pytest.raises(ValueError, match=r"^steps must be an array of tables"):
        field_values({"steps": {"dependencies": []}}, "steps[].dependencies")


# --- provides, broken_dependencies, dependents_closure by example ---------------------------

ZLIB = recipe("recipes/z/zlib.toml", "zlib", aliases=["libz"])
CURL = recipe("recipes/c/curl.toml", "curl", ["zlib", "openssl"])
GIT = recipe("recipes/g/git.toml", "git", ["curl", "libz"])
ZLIB_NG = recipe("recipes/z/zlib-ng.toml", "zlib-ng", aliases=["zlib"])
TREE = recipe("recipes/t/tree.toml", "tree")


def test_provides_maps_names_and_aliases_to_paths():
    assert provides([ZLIB, CURL, ZLIB_NG]) == {
        "zlib": {ZLIB.path, ZLIB_NG.path},
        "libz": {ZLIB.path},
        "curl": {CURL.path},
        "zlib-ng": {ZLIB_NG.path},
    }
    assert provides([]) == {}


def test_broken_dependencies_reports_unprovided_removed_names():
    remaining = [GIT, CURL, TREE]
    removed = {"zlib", "libz"}
    assert broken_dependencies(remaining, removed, provides(remaining)) == [
        (CURL.path, "curl", "zlib"),
        (GIT.path, "git", "libz"),
    ]


def test_broken_dependencies_an_alias_or_twin_still_provides_the_name():
    remaining = [GIT, CURL, ZLIB_NG]
    assert broken_dependencies(remaining, {"zlib", "libz"}, provides(remaining)) == [
        (GIT.path, "git", "libz"),
    ]
    renamed = recipe("recipes/l/libz.toml", "libz")
    remaining = [GIT, CURL, ZLIB_NG, renamed]
    assert broken_dependencies(remaining, {"zlib", "libz"}, provides(remaining)) == []


def test_broken_dependencies_ignores_names_missing_before_the_removal():
    # openssl was never provided; that is not this removal's doing.
    assert broken_dependencies([CURL], {"zlib"}, provides([CURL, ZLIB_NG])) == []
    assert broken_dependencies([CURL], set(), {}) == []


def test_broken_dependencies_an_empty_provider_set_counts_as_unprovided():
    assert broken_dependencies([CURL], {"zlib"}, {"zlib": set()}) == [(CURL.path, "curl", "zlib")]


def test_dependents_closure_follows_names_and_aliases():
    recipes = [ZLIB, CURL, GIT, TREE]
    assert dependents_closure({"zlib"}, recipes) == {CURL.path, GIT.path}
    assert dependents_closure({"libz"}, recipes) == {GIT.path}
    assert dependents_closure({"curl"}, recipes) == {GIT.path}
    assert dependents_closure({"tree", "git"}, recipes) == set()
    assert dependents_closure(set(), recipes) == set()


def test_dependents_closure_goes_through_alias_providers():
    # app needs "zlib", which zlib-ng also provides; zlib-ng depends on the seed.
    ng = recipe("recipes/z/zlib-ng.toml", "zlib-ng", ["cmake"], ["zlib"])
    app = recipe("recipes/a/app.toml", "app", ["zlib"])
    assert dependents_closure({"cmake"}, [ng, app]) == {ng.path, app.path}


def test_dependents_closure_includes_a_seed_provider_only_through_a_cycle():
    a = recipe("a.toml", "a", ["b"])
    b = recipe("b.toml", "b", ["a"])
    assert dependents_closure({"a"}, [a, b]) == {a.path, b.path}
    assert dependents_closure({"a"}, [recipe("a.toml", "a")]) == set()


def test_dependents_closure_of_parsed_demo_recipes():
    jq = ok(DEMO)
    onig = ok('[metadata]\nname = "oniguruma"\n', path="recipes/o/oniguruma.toml")
    wrapper = ok('[metadata]\nname = "jqw"\ndependencies = ["jq-cli"]\n', path="recipes/j/jqw.toml")
    assert dependents_closure({"oniguruma"}, [jq, onig, wrapper]) == {jq.path, wrapper.path}


# --- hypothesis: parse_recipe round-trips recipes written by tomli_w ------------------------

_NAME_CHARS = string.ascii_letters + string.digits + "-_.+@/éü"
names = st.text(alphabet=_NAME_CHARS, min_size=1, max_size=6)
padded = st.builds(
    lambda before, name, after: before + name + after,
    st.sampled_from(["", " ", "\t"]),
    names,
    st.sampled_from(["", " ", "  "]),
)
entries = st.lists(
    st.one_of(
        padded,
        st.builds(lambda n: {"name": n}, padded),
        st.builds(lambda n, v: {"name": n, "version": v}, padded, st.sampled_from([">=1", "2"])),
    ),
    max_size=4,
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "name": padded,
        "version": st.just("1.0.0"),
        "dependencies": entries,
        "runtime_dependencies": entries,
        "aliases": st.lists(padded, max_size=3),
        "curated": st.booleans(),
    },
)
steps = st.lists(
    st.fixed_dictionaries(
        {"action": st.sampled_from(["download", "make"])}, optional={"dependencies": entries}
    ),
    max_size=3,
)
recipe_docs = st.fixed_dictionaries({}, optional={"metadata": metadata, "steps": steps})


def _entry_name(entry: str | dict[str, str]) -> str:
    return (entry["name"] if isinstance(entry, dict) else entry).strip()


def _expected_dependencies(doc: dict[str, Any]) -> tuple[str, ...]:
    meta = doc.get("metadata", {})
    listed = [*meta.get("dependencies", []), *meta.get("runtime_dependencies", [])]
    for step in doc.get("steps", []):
        listed += step.get("dependencies", [])
    return tuple(dict.fromkeys(_entry_name(e) for e in listed))


@PROPERTY
@given(st.lists(recipe_docs, max_size=5))
def test_parse_recipe_round_trips_tomli_w_recipes(docs):
    parsed = []
    for i, doc in enumerate(docs):
        path = f"recipes/r/r{i}.toml"
        result = ok(tomli_w.dumps(doc), path=path)
        meta = doc.get("metadata", {})
        assert result.path == path
        assert result.name == meta.get("name", f"r{i}").strip()
        assert result.dependencies == _expected_dependencies(doc)
        assert result.aliases == tuple(dict.fromkeys(a.strip() for a in meta.get("aliases", [])))
        assert result.protected is meta.get("curated", False)
        parsed.append(result)
    provided = provides(parsed)
    assert set(provided) == {n for r in parsed for n in (r.name, *r.aliases)}
    for name, paths in provided.items():
        assert paths == {r.path for r in parsed if name in (r.name, *r.aliases)}


# --- hypothesis: broken_dependencies and dependents_closure over small name spaces ---------

small_names = st.sampled_from("abcdefg")


@st.composite
def recipe_sets(draw: st.DrawFn) -> list[Recipe]:
    specs = draw(
        st.lists(
            st.tuples(
                small_names,
                st.lists(small_names, unique=True, max_size=3),
                st.lists(small_names, unique=True, max_size=2),
            ),
            max_size=8,
        )
    )
    return [
        recipe(f"p{i}.toml", name, deps, aliases) for i, (name, deps, aliases) in enumerate(specs)
    ]


@PROPERTY
@given(recipe_sets())
def test_broken_dependencies_is_empty_when_nothing_is_removed(recipes):
    assert broken_dependencies(recipes, set(), provides(recipes)) == []


@PROPERTY
@given(recipe_sets(), st.data())
def test_broken_dependencies_reports_exactly_the_unprovided_removed_names(recipes, data):
    removed_paths = data.draw(
        st.sets(st.sampled_from([r.path for r in recipes])) if recipes else st.just(set())
    )
    removed = [r for r in recipes if r.path in removed_paths]
    remaining = [r for r in recipes if r.path not in removed_paths]
    removed_names = {n for r in removed for n in (r.name, *r.aliases)}
    by_path = {r.path: r for r in remaining}
    still = provides(remaining)
    report = broken_dependencies(remaining, removed_names, still)
    for path, name, missing in report:
        dependent = by_path[path]
        assert dependent.name == name
        assert missing in dependent.dependencies
        assert missing in removed_names
        assert all(missing not in (r.name, *r.aliases) for r in remaining)
    expected = {
        (r.path, r.name, d)
        for r in remaining
        for d in r.dependencies
        if d in removed_names and d not in still
    }
    assert sorted(report) == sorted(expected)
    assert len(report) == len(set(report))


def _closure_oracle(seeds: set[str], recipes: list[Recipe]) -> set[str]:
    """Each recipe's own forward search: does any dependency path reach a seed name?"""
    providers: dict[str, list[Recipe]] = {}
    for r in recipes:
        for n in (r.name, *r.aliases):
            providers.setdefault(n, []).append(r)
    out = set()
    for start in recipes:
        todo, seen = list(start.dependencies), set()
        while todo:
            name = todo.pop(0)
            if name in seeds:
                out.add(start.path)
                break
            if name in seen:
                continue
            seen.add(name)
            for provider in providers.get(name, []):
                todo.extend(provider.dependencies)
    return out


@PROPERTY
@given(recipe_sets(), st.sets(small_names))
def test_dependents_closure_matches_a_forward_search(recipes, seeds):
    assert dependents_closure(seeds, recipes) == _closure_oracle(seeds, recipes)


@PROPERTY
@given(recipe_sets(), st.sets(small_names), st.sets(small_names), st.integers(0, 8))
def test_dependents_closure_is_monotone(recipes, seeds, more, keep):
    closure = dependents_closure(seeds, recipes)
    assert closure <= dependents_closure(seeds | more, recipes)
    assert dependents_closure(seeds, recipes[:keep]) <= closure
    assert closure <= {r.path for r in recipes}
