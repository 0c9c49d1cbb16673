"""Where a namespace file says something, and newns's own errors."""
from __future__ import annotations

from .record import Record

EXIT_FAILURE = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


class Where(Record):
    """A position in a namespace file, with the text of its line."""

    file: str
    line: int
    col: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def at(self, col: int) -> Where:
        return Where(self.file, self.line, col, self.text)

    def excerpt(self) -> str:
        """The line and a caret under the column, indented by two spaces."""
        line = self.text.rstrip("\r")
        pad = "".join(c if c == "\t" else " " for c in line[: self.col - 1])
        return f"  {line}\n  {pad}^"


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
        message = f"{kind}: {self.message}" if kind else self.message
        if self.where is None:
            return f"newns: {message}"
        return f"newns: {self.where}: {message}\n{self.where.excerpt()}"


class NewnsErrors(NewnsError):
    """Several problems found while checking a file, reported together."""

    def __init__(self, problems: list[NewnsError]) -> None:
        super().__init__(problems[0].message, problems[0].where)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
