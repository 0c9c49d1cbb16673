"""Where a namespace file says something, newns's own errors, and how they are shown."""
from __future__ import annotations

import sys

from .record import Record

EXIT_FAILURE = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
MAX_PROBLEMS = 100
"""Problems newns reports of one file before it stops reading: past that, it is not a namespace file."""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e", "\\": "\\\\"}


def is_unprintable(char: str) -> bool:
    """A character a terminal acts on rather than shows: control characters (C0, DEL, C1),
    line and paragraph separators, direction overrides, and bytes that are not UTF-8."""
    code = ord(char)
    return (
        code < 0x20 or 0x7F <= code <= 0x9F or 0xDC80 <= code <= 0xDCFF
        or code in (0x2028, 0x2029) or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069
    )


def escape_char(char: str) -> str:
    """An unprintable character as a backslash escape: \\n, \\e, \\xHH (a byte that is not
    UTF-8, or a control character), \\uHHHH."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """text as it may be written to a terminal: unprintable characters (but those in keep) escaped."""
    if not any(is_unprintable(c) for c in text):
        return text
    return "".join(escape_char(c) if is_unprintable(c) and c not in keep else c for c in text)


class Where(Record):
    """A position in a namespace file, with the text of its line."""

    file: str
    line: int
    col: int
    text: str

    def __str__(self) -> str:
        return f"{printable(self.file)}:{self.line}:{self.col}"

    def at(self, col: int) -> Where:
        return Where(self.file, self.line, col, self.text)

    def excerpt(self) -> str:
        """The line and a caret under the column, indented by two spaces."""
        line = self.text.rstrip("\r")
        shown = printable(line, keep="\t")
        before = printable(line[: self.col - 1], keep="\t")
        pad = "".join(c if c == "\t" else " " for c in before)
        return f"  {shown}\n  {pad}^"


class NewnsError(Exception):
    """A failure of newns itself: reported as `newns: WHERE: message`, exit 125."""

    def __init__(self, message: str, where: Where | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return self.report()

    def report(self, kind: str = "") -> str:
        """newns: WHERE: [kind: ]message, and the line with a caret."""
        message = printable(f"{kind}: {self.message}" if kind else self.message)
        if self.where is None:
            return f"newns: {message}"
        return f"newns: {self.where}: {message}\n{self.where.excerpt()}"


def kept(problem: NewnsError) -> NewnsError:
    """A problem to keep in a list: without the frames of where it was raised."""
    problem.__traceback__ = None
    return problem


class NewnsErrors(NewnsError):
    """Several problems found while checking a file, reported together."""

    def __init__(self, problems: list[NewnsError]) -> None:
        super().__init__(problems[0].message, problems[0].where)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def report(problem: NewnsError, kind: str = "") -> None:
    """Write a problem to standard error, if newns has one."""
    if sys.stderr is not None:
        print(problem.report(kind), file=sys.stderr)
