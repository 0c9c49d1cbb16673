"""Diagnostics as values: what went wrong (or may), where in which file, and the one way
each is shown.

Every stage collects Diagnostics; a failure raises NewnsError with all it
found; report() writes them. A message may hold text from a file or a
variable: whatever a terminal would act on is shown escaped, never written.
"""
from __future__ import annotations

import os
import sys

from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: typing costs every start of newns
    from typing import ClassVar

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
    if text.isprintable() or not any(is_unprintable(c) for c in text):  # isprintable: the quick look
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


class Diagnostic(Record):
    """What newns found, and where. Each kind is a class, as pyflakes's messages are: code
    decides by a diagnostic's kind, never by its text. The severity is the kind's."""

    severity: ClassVar[str] = "error"
    message: str
    where: Where | None = None

    def shown(self, *, line_only: bool = False) -> str:
        """As newns writes it: `newns: FILE:LINE:COL: [warning: |note: ]message` and the line
        with a caret; line_only: `FILE:LINE:COL: [warning: |note: ]message` alone (--check)."""
        text = printable(self.message if self.severity == "error" else f"{self.severity}: {self.message}")
        if self.where is None:
            return f"newns: {text}"
        if line_only:
            return f"{self.where}: {text}"
        return f"newns: {self.where}: {text}\n{self.where.excerpt()}"

    def position(self) -> tuple[str, int, int]:
        """For sorting: file, line, column."""
        return (self.where.file, self.where.line, self.where.col) if self.where else ("", 0, 0)


class Error(Diagnostic):
    """A problem: newns stops before the command runs."""


class Caution(Diagnostic):
    """A warning: newns may go on."""

    severity = "warning"


class Note(Diagnostic):
    """What -d tells, such as a -q line skipped."""

    severity = "note"


class TooManyProblems(Error):
    """MAX_PROBLEMS found: what reads or checks a file goes no further."""


class UnsetVariable(Error):
    """A variable a line needs is not set; name: the variable."""

    name: str = ""


def error(message: str, where: Where | None = None) -> Diagnostic:
    return Error(message, where)


def warning(message: str, where: Where | None = None) -> Diagnostic:
    return Caution(message, where)


def note(message: str, where: Where | None = None) -> Diagnostic:
    return Note(message, where)


class NewnsError(Exception):
    """newns's own failure, exit 125: every diagnostic found, errors and the warnings with them.
    absent: the problem is only that something is not there (a path, a variable), which is
    what a -q line allows: skipping it is a note, not a warning."""

    def __init__(self, message: str, where: Where | None = None, *, absent: bool = False) -> None:
        super().__init__(message)
        self.diagnostics = [error(message, where)]
        self.absent = absent

    @classmethod
    def of(cls, diagnostics: list[Diagnostic]) -> NewnsError:
        failure = cls("")
        failure.diagnostics = diagnostics
        return failure

    def __str__(self) -> str:
        return "\n".join(d.shown() for d in self.diagnostics)


def failure(exception: BaseException) -> list[Diagnostic]:
    """What an exception that stops newns says: its own diagnostics, the system's refusal
    (`FILE: strerror`), or, for a bug, that it is one."""
    if isinstance(exception, NewnsError):
        return exception.diagnostics
    if isinstance(exception, OSError):
        return [error(f"{exception.filename + ': ' if exception.filename else ''}{exception.strerror}")]
    return [error(f"internal error, please report it: {type(exception).__name__}: {exception}")]


def report(diagnostics: list[Diagnostic]) -> None:
    """Write diagnostics to standard error, if newns has one, and flush it."""
    if sys.stderr is None:
        return
    for diagnostic in diagnostics:
        print(diagnostic.shown(), file=sys.stderr)
    sys.stderr.flush()


def fail(diagnostics: list[Diagnostic], code: int = EXIT_FAILURE) -> None:
    """Report and exit at once (from a forked child, or with nothing left to flush)."""
    report(diagnostics)
    os._exit(code)
