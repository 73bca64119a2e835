"""tomlplain.loads against tomllib (differential): every answer it gives must be tomllib's.

Documents are generated from the pieces recipes use and the ones loads() must leave to tomllib
(escapes, floats, dates, inline tables, dotted and quoted keys, duplicates, tables defined twice,
arrays of tables mixed with tables, carriage returns, control characters, odd spacing).
"""

from __future__ import annotations

import tomllib

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gitops import tomlplain

KEYS = st.sampled_from(["a", "b", "name", "dependencies", "1", "x-y", "true", "A_b"])
SPACE = st.sampled_from(["", " ", "  ", "\t", " \t"])
STRING_TEXT = st.text(alphabet=st.sampled_from(
    ["a", "z", " ", "\t", "\"", "'", "\\", "#", ",", "]", "[", "=", "é", "\x01", "\x7f", "\u2028",
     "n"]), max_size=6)
STRINGS = st.one_of(STRING_TEXT.map(lambda s: f'"{s}"'), STRING_TEXT.map(lambda s: f"'{s}'"))
SCALARS = st.one_of(
    STRINGS,
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["true", "false", "+1", "-0", "+0", "007", "1_000", "1.5", "inf", "nan",
                     "1979-05-27", '"""x"""', "'''y'''", '"a\\tb"', "{ name = \"z\" }", "{}",
                     "TRUE", "0x1F"]),
)


@st.composite
def arrays(draw: st.DrawFn) -> str:
    items = draw(st.lists(st.one_of(STRINGS, SCALARS), max_size=4))
    sep = draw(st.sampled_from([",", ", ", " ,", " , "]))
    trailing = draw(st.sampled_from(["", ",", " ,"]))
    return "[" + draw(SPACE) + sep.join(items) + (trailing if items else "") + draw(SPACE) + "]"


VALUES = st.one_of(SCALARS, arrays())
COMMENTS = st.sampled_from(["", " # note", "#", " # \x01", " # é", "  #\t"])


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["pair", "pair", "pair", "table", "array", "blank", "odd"]))
    indent = draw(SPACE)
    comment = draw(COMMENTS)
    if kind == "pair":
        key = draw(st.one_of(KEYS, KEYS.map(lambda k: f"{k}.c"), KEYS.map(lambda k: f'"{k}"')))
        return f"{indent}{key}{draw(SPACE)}={draw(SPACE)}{draw(VALUES)}{draw(SPACE)}{comment}"
    dotted = ".".join(draw(st.lists(KEYS, min_size=1, max_size=3)))
    if kind == "table":
        return f"{indent}[{draw(SPACE)}{dotted}{draw(SPACE)}]{comment}"
    if kind == "array":
        return f"{indent}[[{draw(SPACE)}{dotted}{draw(SPACE)}]]{comment}"
    if kind == "blank":
        return f"{indent}{comment}"
    return draw(st.sampled_from(["[a . b]", "[ [a] ]", "a = 1\r", "[a]]", "= 1", "a =", "[]",
                                 "a = [\n\"x\"]", "\ufeffa = 1", "a = 'x' # \x7f"]))


@settings(max_examples=1500, deadline=None)
@given(st.lists(lines(), max_size=12), st.sampled_from(["\n", "\n\n"]),
       st.booleans())
def test_every_answer_is_tomllibs(body: list[str], newline: str, final: bool) -> None:
    text = newline.join(body) + (newline if final else "")
    got = tomlplain.loads(text)
    event("read here" if got is not None else "left to tomllib")
    if got is not None:
        assert got == tomllib.loads(text), text


@st.composite
def sections(draw: st.DrawFn) -> str:
    """Mostly well-formed documents: a header, then keys unique within their table."""
    out = []
    for i in range(draw(st.integers(0, 5))):
        dotted = ".".join(draw(st.lists(KEYS, min_size=1, max_size=3)))
        if i or draw(st.booleans()):
            out.append(draw(st.sampled_from([f"[{dotted}]", f"[[{dotted}]]", f"[ {dotted} ]"])))
        for key in draw(st.lists(KEYS, unique=True, max_size=4)):
            out.append(f"{key} = {draw(VALUES)}{draw(COMMENTS)}")
        out.append(draw(st.sampled_from(["", "# c"])))
    return "\n".join(out) + "\n"


@settings(max_examples=1000, deadline=None)
@given(sections())
def test_every_answer_on_recipe_shaped_documents_is_tomllibs(text: str) -> None:
    got = tomlplain.loads(text)
    event("read here" if got is not None else "left to tomllib")
    if got is not None:
        assert got == tomllib.loads(text), text


RECIPE = """\
[metadata]
name = "acorn-acorn"
version = "4.9.2"
description = "Parallel command-line viewer for Node.js"  # from the registry
dependencies = []
runtime_dependencies = ["node", 'npm' ,]
curated = false
revision = 3

[[steps]]
action = "npm_install"
dependencies = ["node"]

[[steps]]
action = "test"

[steps.env]
CI = "1"

[build.options]
jobs = -4
"""


def test_a_plain_recipe_is_read_here() -> None:
    """The fast path must be the one taken for recipes as registries write them."""
    got = tomlplain.loads(RECIPE)
    assert got is not None
    assert got == tomllib.loads(RECIPE)


def test_anything_else_is_left_to_tomllib() -> None:
    for text in ('a = "x\\ty"\n', "a = 1.5\n", "a.b = 1\n", "a = 1\na = 2\n", "[a]\n[a]\n",
                 "a = { b = 1 }\n", "a = [\n  1,\n]\n", "[[a]]\n[a]\n", "a = 1\r\n",
                 "x = ['a']\n[[x]]\n", "x = ['a']\n[x.y]\n", "a = 1\n[a.b]\n",
                 'a = """x"""\n'):
        assert tomlplain.loads(text) is None, text
