"""Pure: parse and format commit-message trailers exactly as git does.

The rules follow git 2.39's trailer.c (find_patch_start, find_trailer_start, trailer_info_get,
find_separator, unfold_value, same_token) and commit.c (ignore_non_trailer), with git's defaults:
separator ':', comment character '#', and no `trailer.*` configuration. Git works on bytes and we
on str; both agree because every character git tests is ASCII, and UTF-8 never hides an ASCII
byte inside a multi-byte character. Messages must not contain NUL: git stops reading at one.

Two known gaps with other git entry points, both for odd messages only:
- `git log --format=%(trailers)` skips blank lines at the very start of the message before it
  looks for the title (pretty.c parse_commit_message); `parse()` does not, like
  `git interpret-trailers`.
- git 2.39 loops forever when a scissors line comes after a `---` divider (wt_status_locate_end
  searches past the divider); we ignore such a scissors line instead.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

# git's isspace() (sane_ctype in ctype.c) is exactly these four; str.isspace() knows many more.
_SPACE = " \t\n\r"
_COMMENT = "#"
# wt_status.c cut_line, prefixed with the comment character; the newline is part of the pattern.
_SCISSORS = "# ------------------------ >8 ------------------------\n"
# trailer.c git_generated_prefixes: one of these lines lets a block be only 25% trailers.
_GIT_GENERATED_PREFIXES = ("Signed-off-by: ", "(cherry picked from commit ")

# find_separator: "<token><optional whitespace>:" or ":" at the start of the line, where token
# characters are ASCII alnum and '-' (so "batch_id:" and "Some key:" are not trailers).
_SEPARATOR = re.compile(r"(?:[A-Za-z0-9-]+[ \t]*)?:")
_DIVIDER = re.compile(r"^---[ \t\n\r]", re.MULTILINE)
_BLANK = re.compile(r"[ \t\r]*(?:\n|\Z)")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_TOKEN = re.compile(r"[A-Za-z0-9-]+")
_TRAILING_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+\Z")
_FOLD = re.compile(r"\n[ \t\n\r]*")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class Trailer(NamedTuple):
    key: str  # token as written, whitespace-trimmed
    value: str  # value, trimmed, continuation lines unfolded to single spaces (as --parse/--unfold)


class BatchRef(NamedTuple):
    batch_id: str
    form: Literal["trailer", "legacy"]
    key: str  # the key exactly as written in the message


def parse(message: str, *, divider: bool = False) -> tuple[Trailer, ...]:
    """Trailers of message's trailer block, as `git interpret-trailers --parse` prints them.

    divider=True stops the message at a line starting with '---' and whitespace (the
    interpret-trailers default); divider=False is `--no-divider`, as `git log` reads commits.
    """
    start, end = block_bounds(message, divider=divider)
    found = []
    for piece in _pieces(message[start:end], attach_any=False):
        item = _parse_piece(piece)
        if item is not None:
            found.append(Trailer(item[0], _unfold(item[1])))
    return tuple(found)


def block_bounds(message: str, *, divider: bool = False) -> tuple[int, int]:
    """(start, end) character offsets of the trailer block; start == end when there is none.

    Without a block both offsets are where git would put one: the end of the log message.
    A block may hold no parsable trailer, e.g. only a "(cherry picked from commit ...)" line.
    """
    end = _end_of_message(message, divider=divider)
    return _find_trailer_start(message, end), end


def values(trailers: tuple[Trailer, ...], key: str) -> tuple[str, ...]:
    """Values of trailers whose key equals key case-insensitively (git compares tokens so)."""
    wanted = _lower(key)
    return tuple(t.value for t in trailers if _lower(t.key) == wanted)


def find_batch_refs(
    message: str, *, key: str, legacy_keys: tuple[str, ...], id_regex: re.Pattern[str]
) -> tuple[BatchRef, ...]:
    """Batch ids the message names, each with the form it was found in; distinct ids in order.

    Only the last paragraph counts, never the title paragraph. A line git parses as a trailer
    (divider=False) is form "trailer" when its key is `key`, else "legacy" when its key is one of
    `legacy_keys`. Other lines `<legacy key> : value` (git refuses keys with '_') are "legacy".
    The value, unfolded and trimmed, must match id_regex in full. An id named in both forms is
    reported once, as "trailer", at its first position.
    """
    legacy = {_lower(k) for k in legacy_keys}
    refs: dict[str, BatchRef] = {}
    for written, value, is_trailer in _keyed_lines(message):
        form = _ref_form(written, is_trailer, key, legacy)
        if form is None or not id_regex.fullmatch(value):
            continue
        seen = refs.get(value)
        if seen is None or (seen.form == "legacy" and form == "trailer"):
            refs[value] = BatchRef(value, form, written)
    return tuple(refs.values())


def find_invalid_batch_values(
    message: str, *, key: str, id_regex: re.Pattern[str]
) -> tuple[str, ...]:
    """Values of `key` trailers (git's parse, divider=False) that do not fully match id_regex."""
    return tuple(v for v in values(parse(message), key) if not id_regex.fullmatch(v))


def add_trailer(message: str, key: str, value: str) -> str:
    """message with `key: value` added the way `git interpret-trailers --trailer 'key: value'` does.

    Defaults: where=end, ifExists=addIfDifferentNeighbor, ifMissing=add, divider on. Like git,
    this re-prints the existing block: "Key :v" becomes "Key: v" and '#' lines in it are dropped.
    """
    if not _TOKEN.fullmatch(key):
        raise ValueError(f"trailer key {key!r} is not a git token (ASCII letters, digits, '-')")
    value = _trim(value)
    if "\n" in value:
        raise ValueError("trailer value must be a single line")
    start, end = block_bounds(message, divider=True)
    items = [_parse_piece(p) or p for p in _pieces(message[start:end], attach_any=False)]
    items = [i for i in items if not (isinstance(i, str) and i.startswith(_COMMENT))]
    last = items[-1] if items else None
    # apply_arg_if_exists, EXISTS_ADD_IF_DIFFERENT_NEIGHBOR with WHERE_END: the only neighbour
    # checked is the block's last item; same_token() compares only a common prefix.
    if not (isinstance(last, tuple) and _same_token(last[0], key) and _same_value(last[1], value)):
        items.append((key, value))
    # process_input_file: a newline goes before the block unless a blank line is already there.
    head = message[:start] if _ends_with_blank_line(message, start) else message[:start] + "\n"
    return head + "".join(_format_item(i) for i in items) + message[end:]


# --- Finding the end of the message ---------------------------------------------------------


def _end_of_message(message: str, *, divider: bool) -> int:
    """Where the log message ends: before the patch, trailing comments and blank lines."""
    length = _find_patch_start(message) if divider else len(message)
    return length - _ignored_tail_length(message, length)


def _find_patch_start(message: str) -> int:
    """find_patch_start: the first line starting with "---" and a whitespace character."""
    match = _DIVIDER.search(message)
    return match.start() if match else len(message)


def _locate_cut(message: str, length: int) -> int:
    """wt_status_locate_end: the scissors line's offset, or length when there is none."""
    if message.startswith(_SCISSORS):
        return 0
    found = message.find("\n" + _SCISSORS)
    # git 2.39 uses this offset even past `length` (after a divider) and then never returns.
    return found + 1 if 0 <= found < length else length


def _ignored_tail_length(message: str, length: int) -> int:
    """ignore_non_trailer: length of the trailing comments, blank lines and Conflicts: block."""
    cutoff = _locate_cut(message, length)
    boc = 0  # beginning of the ignorable run; 0 means "none" in git, so line 0 never starts one
    in_conflicts = False
    bol = 0
    while bol < cutoff:
        first = message[bol]
        if first in (_COMMENT, "\n"):  # a blank line here is exactly "\n", unlike elsewhere
            boc = boc or bol
        elif message.startswith("Conflicts:\n", bol):  # the block old `git merge` wrote
            in_conflicts = True
            boc = boc or bol
        elif in_conflicts and first == "\t":
            pass  # a path in the Conflicts: block
        elif boc:
            boc = 0
            in_conflicts = False
        bol = _next_line(message, bol, length)
    return length - boc if boc else length - cutoff


# --- Finding the start of the block ---------------------------------------------------------


def _find_trailer_start(message: str, length: int) -> int:
    """find_trailer_start: the offset of the block's first line, or length when there is none."""
    start = _last_paragraph_start(message, length)
    if start is None or not _is_trailer_paragraph(message[start:length]):
        return length
    return start


def _last_paragraph_start(message: str, length: int) -> int | None:
    """Start of the last paragraph before length; None when only the title paragraph has text.

    As find_trailer_start walks back: trailing blank and comment lines belong to the paragraph.
    """
    title_end = _end_of_title(message, length)
    only_spaces = True
    pos = _last_line(message, length)
    while pos >= title_end:
        if not message.startswith(_COMMENT, pos):
            if not _is_blank_line(message, pos):
                only_spaces = False
            elif not only_spaces:
                return _next_line(message, pos, length)
        pos = _last_line(message, pos)
    return None


def _end_of_title(message: str, length: int) -> int:
    """Offset of the first blank line (find_trailer_start also skips '#' lines: never blank)."""
    pos = 0
    while pos < length and not _is_blank_line(message, pos):
        pos = _next_line(message, pos, length)
    return pos


def _is_trailer_paragraph(paragraph: str) -> bool:
    """All non-blank lines are trailers, or a git-generated one and at least 25% trailers.

    Continuation lines (starting with whitespace) count with the trailer above them; below a
    comment line, or above nothing but prose, they count as prose.
    """
    trailers = prose = continuations = 0
    recognized_prefix = False
    for line in reversed(_LINE.findall(paragraph)):
        kind = _line_kind(line)
        if kind in ("trailer", "generated"):
            trailers += 1
            continuations = 0
            recognized_prefix = recognized_prefix or kind == "generated"
        elif kind == "continuation":
            continuations += 1
        elif kind != "blank":  # prose or comment
            prose += continuations + (kind == "prose")
            continuations = 0
    prose += continuations
    return (recognized_prefix and trailers * 3 >= prose) or (trailers > 0 and prose == 0)


def _line_kind(line: str) -> str:
    """How find_trailer_start counts one line, checked in git's order."""
    if line.startswith(_COMMENT):
        return "comment"
    if _BLANK.fullmatch(line):
        return "blank"
    if line.startswith(_GIT_GENERATED_PREFIXES):
        return "generated"
    if _find_separator(line) >= 1:
        return "trailer"
    return "continuation" if line[0] in _SPACE else "prose"


# --- Lines, pieces and values ---------------------------------------------------------------


def _pieces(block: str, *, attach_any: bool) -> list[str]:
    """trailer_info_get: lines with their continuation lines (whitespace-led) appended.

    Git appends continuations only to trailer lines; attach_any appends them to any line that
    is not a comment (used to read legacy lines the way git would read a trailer).
    """
    pieces: list[str] = []
    accepts = False
    for line in _LINE.findall(block):
        if accepts and line[0] in _SPACE:
            pieces[-1] += line
            continue
        pieces.append(line)
        accepts = not line.startswith(_COMMENT) and (attach_any or _find_separator(line) >= 1)
    return pieces


def _parse_piece(piece: str) -> tuple[str, str] | None:
    """parse_trailer: (token, value) trimmed but not unfolded; None for comments and prose."""
    if piece.startswith(_COMMENT):
        return None
    sep = _find_separator(piece)
    if sep < 1:
        return None
    return _trim(piece[:sep]), _trim(piece[sep + 1 :])


def _keyed_lines(message: str) -> list[tuple[str, str, bool]]:
    """(key, unfolded value, is a git trailer) for `key: value` lines of the last paragraph."""
    end = _end_of_message(message, divider=False)
    start = _last_paragraph_start(message, end)
    if start is None:
        return []
    in_block = _find_trailer_start(message, end) == start
    found = []
    for piece in _pieces(message[start:end], attach_any=True):
        written, colon, rest = piece.partition(":")
        if colon and not piece.startswith(_COMMENT):
            is_trailer = in_block and _find_separator(piece) >= 1
            found.append((_trim(written), _unfold(_trim(rest)), is_trailer))
    return found


def _ref_form(
    written: str, is_trailer: bool, key: str, legacy: set[str]
) -> Literal["trailer", "legacy"] | None:
    """The form a `written: value` line names a batch in, if any."""
    if is_trailer and _lower(written) == _lower(key):
        return "trailer"
    return "legacy" if _lower(written) in legacy else None


def _format_item(item: tuple[str, str] | str) -> str:
    """print_tok_val: "token: value" for trailers, other lines as they were."""
    if isinstance(item, tuple):
        return f"{item[0]}: {item[1]}\n"
    return item if item.endswith("\n") else item + "\n"


def _find_separator(line: str) -> int:
    """find_separator: offset of the ':' after a token, 0 when the line starts with ':', else -1."""
    match = _SEPARATOR.match(line)
    return match.end() - 1 if match else -1


def _unfold(value: str) -> str:
    """unfold_value: each newline and the whitespace after it becomes one space."""
    return _trim(_FOLD.sub(" ", value))


def _same_token(a: str, b: str) -> bool:
    """same_token: case-insensitive on the common length, trailing punctuation ignored."""
    n = min(len(_TRAILING_NON_ALNUM.sub("", a)), len(_TRAILING_NON_ALNUM.sub("", b)))
    return _lower(a[:n]) == _lower(b[:n])


def _same_value(a: str, b: str) -> bool:
    """same_value: strcasecmp, which folds ASCII letters only."""
    return _lower(a) == _lower(b)


def _ends_with_blank_line(message: str, length: int) -> bool:
    """ends_with_blank_line: whether the line before offset length is blank."""
    pos = _last_line(message, length)
    return pos >= 0 and _is_blank_line(message, pos)


def _is_blank_line(message: str, pos: int) -> bool:
    """is_blank_line: only git whitespace up to the newline or the end."""
    return _BLANK.match(message, pos) is not None


def _next_line(message: str, pos: int, length: int) -> int:
    """Offset just after the newline ending the line at pos (or length)."""
    newline = message.find("\n", pos, length)
    return length if newline < 0 else newline + 1


def _last_line(message: str, length: int) -> int:
    """last_line: start of the last line of message[:length]; its final newline is its own."""
    if length == 0:
        return -1
    return message.rfind("\n", 0, length - 1) + 1


def _trim(text: str) -> str:
    return text.strip(_SPACE)


def _lower(text: str) -> str:
    """ASCII-only lower case, as strcasecmp compares."""
    return text.translate(_ASCII_LOWER)
