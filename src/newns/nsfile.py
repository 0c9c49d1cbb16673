"""Namespace file text to typed operations.

The syntax is grammar.lark; its terminals are compiled into _grammar.py and
the three rules (line, command, word) are followed here line by line, which is
what lets newns start without loading a parser generator. Nothing after this
module sees file text: every operation carries its Where.
"""
from __future__ import annotations

import re

from . import _grammar
from .errors import NewnsError, Where
from .record import Record

_SEP = re.compile(_grammar.SEP)
_NAME = re.compile(_grammar.NAME)
_PIECE = re.compile(f"(?P<var>{_grammar.VAR})|(?P<quoted>{_grammar.QUOTED})|(?P<bare>{_grammar.BARE})")

COMMANDS = ("bind", "mount", "unmount", "clear", "cd", ".")
PLAN9_ONLY = ("chdev", "import")
FLAGS = {"bind": "abcCqr", "mount": "abcCqr", "unmount": "q", "clear": "q", "cd": "q", ".": "q"}
ARGS = {"bind": (2, 2), "mount": (2, 3), "unmount": (1, 2), "clear": (0, 0), "cd": (1, 1), ".": (1, 1)}
USAGE = {
    "bind": "bind [-abcCqr] new old",
    "mount": "mount [-abcCqr] source old [spec]",
    "unmount": "unmount [-q] [new] old",
    "clear": "clear",
    "cd": "cd dir",
    ".": ". [-q] file",
}


class Quoted(str):
    """Text that was quoted in the file: never a flag, a comment or a device name."""

    __slots__ = ()


class Var(Record):
    """A $NAME or ${NAME} in a word."""

    name: str
    where: Where


class Word(Record):
    """One argument: literal text and variables, joined."""

    pieces: tuple[str | Var, ...]
    where: Where

    @property
    def bare(self) -> str | None:
        """The word's text when it is one unquoted piece, else None."""
        piece = self.pieces[0]
        if len(self.pieces) == 1 and isinstance(piece, str) and not isinstance(piece, Quoted):
            return piece
        return None


class Op(Record):
    """One line's operation; flags are the letters given, e.g. 'ac'."""

    flags: str
    where: Where

    @property
    def quiet(self) -> bool:
        return "q" in self.flags


class Bind(Op):
    new: Word
    old: Word


class Mount(Op):
    source: Word
    old: Word
    spec: Word | None


class Unmount(Op):
    new: Word | None
    old: Word


class Clear(Op):
    pass


class Cd(Op):
    dir: Word


class Include(Op):
    path: Word


def parse(text: str, filename: str) -> tuple[list[Op], list[NewnsError]]:
    """All operations of a file, and every problem found in it."""
    ops: list[Op] = []
    problems: list[NewnsError] = []
    for number, line in enumerate(text.split("\n"), 1):
        try:
            op = _parse_line(line, Where(filename, number, 1, line))
        except NewnsError as problem:
            problems.append(problem)
        else:
            if op is not None:
                ops.append(op)
    return ops, problems


def _parse_line(line: str, where: Where) -> Op | None:
    name, words, pos = _scan(line, where)
    if name is None:
        return None
    return _operation(name, words, where.at(pos))


def _scan(line: str, where: Where) -> tuple[str | None, list[Word], int]:
    """Split a line into its command name and words (grammar rules line, command, word)."""
    end = len(line)
    sep = _SEP.match(line)
    start = sep.end() if sep else 0
    if start == end or line[start] == "#":
        return None, [], start + 1
    name = _NAME.match(line, start)
    if name is None:
        raise NewnsError(
            "a line starts with a command name (bind, mount, unmount, clear, cd or .), "
            "not a quoted word or a variable",
            where.at(start + 1),
        )
    words: list[Word] = []
    pos = name.end()
    while pos < end:
        sep = _SEP.match(line, pos)
        if sep is None:
            raise _unexpected(line, pos, where, after_name=not words)
        pos = sep.end()
        if pos == end:
            break
        pieces: list[str | Var] = []
        word_start = pos
        while pos < end and line[pos] not in " \t\r":
            piece = _PIECE.match(line, pos)
            if piece is None:
                raise _unexpected(line, pos, where, after_name=False)
            kind, text = piece.lastgroup, piece.group()
            if kind == "var":
                pieces.append(Var(text.strip("${}"), where.at(pos + 1)))
            elif kind == "quoted":
                pieces.append(Quoted(text[1:-1].replace("''", "'")))
            else:
                pieces.append(text)
            pos = piece.end()
        words.append(Word(tuple(pieces), where.at(word_start + 1)))
    return name.group(), words, start + 1


def _unexpected(line: str, pos: int, where: Where, *, after_name: bool) -> NewnsError:
    char = line[pos]
    if after_name:
        message = f"unexpected {char!r} after the command name: separate words with spaces"
    elif char == "'":
        message = "unterminated quote: close it with ' on the same line"
    elif char == "$":
        message = "'$' must start a variable name, $NAME or ${NAME}; for a literal $, quote it: '$'"
    else:
        message = f"unexpected {char!r}"
    return NewnsError(message, where.at(pos + 1))


def _operation(name: str, words: list[Word], where: Where) -> Op:
    if name not in COMMANDS:
        if name in PLAN9_ONLY:
            raise NewnsError(f"{name}: a Plan 9 command with no Linux equivalent", where)
        raise NewnsError(
            f"unknown command {name!r}: expected bind, mount, unmount, clear, cd or .", where
        )
    flags, args = _split_flags(name, words)
    low, high = ARGS[name]
    if len(args) > high:
        extra = args[high]
        if (extra.bare or "").startswith("#"):
            raise NewnsError("comments go on their own line: a # after a command is a word", extra.where)
        raise NewnsError(f"too many arguments to {name}: usage: {USAGE[name]}", extra.where)
    if len(args) < low:
        raise NewnsError(f"too few arguments to {name}: usage: {USAGE[name]}", where)
    if "a" in flags and "b" in flags:
        raise NewnsError(f"{name}: -a and -b together: a member goes either after or before", where)
    if name == "bind":
        return Bind(flags, where, args[0], args[1])
    if name == "mount":
        return Mount(flags, where, args[0], args[1], args[2] if len(args) == 3 else None)
    if name == "unmount":
        return Unmount(flags, where, args[0] if len(args) == 2 else None, args[-1])
    if name == "clear":
        return Clear(flags, where)
    if name == "cd":
        return Cd(flags, where, args[0])
    return Include(flags, where, args[0])


def _split_flags(name: str, words: list[Word]) -> tuple[str, list[Word]]:
    """Leading -x words are flags (a quoted or variable word never is); -- ends them."""
    flags = ""
    for i, word in enumerate(words):
        text = word.bare
        if text is None or not text.startswith("-") or text == "-":
            return flags, words[i:]
        if text == "--":
            return flags, words[i + 1 :]
        for col, letter in enumerate(text[1:], word.where.col + 1):
            if letter not in FLAGS[name]:
                allowed = " ".join("-" + f for f in FLAGS[name])
                raise NewnsError(f"{name}: unknown flag -{letter}: {name} takes {allowed}", word.where.at(col))
            if letter not in flags:
                flags += letter
    return flags, []
