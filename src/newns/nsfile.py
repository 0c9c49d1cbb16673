"""Namespace file text to typed operations, and text to a word (quote).

lark reads a file with grammar.lark (syntax.py). What it makes of a text is kept in the
caller's cache, keyed by the text, as an entry, and read back from there: a run of a
file read before imports no lark, which costs more than a whole run. Nothing after this
module sees file text: every operation carries its Where.

An entry is ASCII text: a first line naming its form, then a line per operation, its
fields separated by tabs: line, column, command, flags, then each word as its column
and its pieces, separated by \\x1f, each piece a letter (b bare, q quoted, v a
variable) and its text, written as Python's unicode_escape writes it (so no text holds
a tab, a newline, a \\x1f or anything but ASCII). An entry holds no code, and names
none. Reading one back checks all of it against the text it was read from: an entry
that does not fit is None, and lark reads the text again.
"""
from __future__ import annotations

from .diagnostics import Where, is_unprintable
from .ops import COMMANDS, ESCAPES, Quoted, Var, Word

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from typing import Protocol

    from .diagnostics import Diagnostic
    from .ops import Op
    from .syntax import Reader

    class Cache(Protocol):
        """Entries (dump's text) by the text they were read from (linux.cache.ParsedFiles)."""

        def get(self, text: str) -> str | None: ...

        def put(self, text: str, entry: str) -> None: ...


def parse(text: str, filename: str, cache: Cache | None = None) -> tuple[list[Op], list[Diagnostic]]:
    """All operations of a file, and every problem found in it."""
    if cache is not None:
        entry = cache.get(text)
        ops = load(entry, filename, text) if entry is not None else None
        if ops is not None:
            return ops, []
    ops, problems = _read(text, filename)
    if cache is not None and not problems:
        cache.put(text, dump(ops))
    return ops, problems


_reader: Reader | None = None


def _read(text: str, filename: str) -> tuple[list[Op], list[Diagnostic]]:
    """lark's reading of the text; its parser is made once (importing lark and making the
    parser's tables take tens of milliseconds)."""
    global _reader
    if _reader is None:
        from .packages import needed  # only here: a run of a file read before needs no lark

        _reader = needed(_new_reader)
    return _reader.read(text, filename)


def _new_reader() -> Reader:
    from .syntax import Reader

    return Reader()


FORM = "newns parsed 1"


def dump(ops: list[Op]) -> str:
    """The entry of a file's operations."""
    records = [FORM]
    for op in ops:
        fields = [str(op.where.line), str(op.where.col), op.name, op.flags]
        records.append("\t".join(fields + [_word(word) for word in op.arguments()]))
    return "\n".join(records) + "\n"


def entries(ops: list[Op]) -> list[tuple[str, str, str]]:
    """The operations as entries that load reads back without their files: for each run of
    one file's lines in order, the file's name, a text of just those lines, and the entry."""
    runs: list[list[Op]] = []
    for op in ops:
        last = runs[-1][-1] if runs else None
        if last is not None and last.where.file == op.where.file and last.where.line < op.where.line:
            runs[-1].append(op)
        else:
            runs.append([op])
    found = []
    for run in runs:
        lines = [""] * run[-1].where.line
        for op in run:
            lines[op.where.line - 1] = op.where.text
        found.append((run[0].where.file, "\n".join(lines), dump(run)))
    return found


def _word(word: Word) -> str:
    parts = [str(word.where.col)]
    for piece in word.pieces:
        if isinstance(piece, Var):
            parts.append(f"v{piece.where.col},{piece.name}")
        else:
            parts.append(("q" if isinstance(piece, Quoted) else "b") + piece.encode("unicode_escape").decode("ascii"))
    return "\x1f".join(parts)


def load(entry: str, filename: str, text: str) -> list[Op] | None:
    """The operations an entry holds for text, read from filename; None when it does not
    fit the text, or is not an entry."""
    records = entry.split("\n")
    if records[0] != FORM or records[-1] != "":
        return None
    lines = text.split("\n")
    ops: list[Op] = []
    after = 0
    try:
        for record in records[1:-1]:
            op = _op(record.split("\t"), filename, lines)
            if op.where.line <= after:
                raise ValueError("operations out of order")
            after = op.where.line
            ops.append(op)
    except ValueError:
        return None
    return ops


def _op(fields: list[str], filename: str, lines: list[str]) -> Op:
    if len(fields) < 4:
        raise ValueError("too few fields")
    number = _number(fields[0], len(lines))
    line = lines[number - 1]
    col = _number(fields[1], len(line))
    command = COMMANDS.get(fields[2])
    flags = fields[3]
    if command is None or not line.startswith(command.name, col - 1):
        raise ValueError("not the line's command")
    if flags.strip(command.letters) or len(flags) > 1 and len(set(flags)) != len(flags):  # strip: all but letters
        raise ValueError("not the command's flags")
    where = Where(filename, number, col, line)
    return command.of_words(flags, where, [_word_of(field, where) for field in fields[4:]])


def _word_of(field: str, where: Where) -> Word:
    col, _, rest = field.partition("\x1f")
    if rest[:1] == "b" and "\x1f" not in rest and "\\" not in rest:  # one bare piece, as most words are
        return Word((rest[1:],), where.at(_number(col, len(where.text))))
    parts = field.split("\x1f")
    if len(parts) < 2:
        raise ValueError("a word of no pieces")
    last = len(where.text)
    pieces: list[str | Var] = []
    for part in parts[1:]:
        kind, value = part[:1], part[1:]
        if kind == "v":
            col, _, name = value.partition(",")
            if not (name.isascii() and name.isidentifier()):
                raise ValueError("not a variable name")
            pieces.append(Var(name, where.at(_number(col, last))))
        elif kind in ("b", "q"):
            piece = value.encode("ascii").decode("unicode_escape") if "\\" in value else value
            pieces.append(Quoted(piece) if kind == "q" else piece)
        else:
            raise ValueError("not a piece")
    return Word(tuple(pieces), where.at(_number(parts[0], last)))


def _number(text: str, largest: int) -> int:
    """A line or column: 1 to largest."""
    number = int(text)  # ValueError when it is no number
    if not 1 <= number <= largest:
        raise ValueError("not a line or column")
    return number


_SPECIAL = frozenset(" \t\r\n'$#\\")


def quote(text: str) -> str:
    """A word that newns reads back as text, never a flag: bare when it can be, rc quoting
    as Plan 9's ns(1) prints a word, and $'...' for what rc quoting can't hold (a newline,
    any control character, a byte that is not UTF-8), so no text can make more than one
    word or line."""
    if not text.isprintable() and any(is_unprintable(c) for c in text):  # isprintable: the quick look
        return "$'" + "".join(_escape(c) for c in text) + "'"
    if text and _SPECIAL.isdisjoint(text) and not text.startswith("-"):
        return text
    return "'" + text.replace("'", "''") + "'"


_ESCAPED = {byte: b"\\" + code.encode() for code, byte in ESCAPES.items()}


def _escape(char: str) -> str:
    """char inside $'...'."""
    if char not in "\\'" and not is_unprintable(char):
        return char
    data = char.encode("utf-8", "surrogateescape")
    return "".join((_ESCAPED.get(bytes([b])) or b"\\x%02x" % b).decode() for b in data)
