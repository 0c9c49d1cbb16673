"""Namespace file text to typed operations, and text to a word (quote).

lark reads a file with grammar.lark (syntax.py). What it makes of a text is kept in the
caller's cache, keyed by the text, and read back from there (stored.py): a run of a file
read before imports no lark, which costs more than a whole run. Nothing after this
module sees file text: every operation carries its Where.
"""
from __future__ import annotations

from . import stored
from .diagnostics import is_unprintable
from .ops import ESCAPES

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from typing import Protocol

    from .diagnostics import Diagnostic
    from .ops import Op
    from .syntax import Reader

    class Cache(Protocol):
        """Entries (stored.py's text) by the text they were read from (linux.cache.ParsedFiles)."""

        def get(self, text: str) -> str | None: ...

        def put(self, text: str, entry: str) -> None: ...


def parse(text: str, filename: str, cache: Cache | None = None) -> tuple[list[Op], list[Diagnostic]]:
    """All operations of a file, and every problem found in it."""
    if cache is not None:
        entry = cache.get(text)
        ops = stored.load(entry, filename, text) if entry is not None else None
        if ops is not None:
            return ops, []
    ops, problems = _read(text, filename)
    if cache is not None and not problems:
        cache.put(text, stored.dump(ops))
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
