"""A namespace file and the files it includes, read into one list of operations.

An include's operations follow the include's own (kept as a marker, for the interpreter
to say where Plan 9 would have read another file)."""
from __future__ import annotations

import os.path

from . import nsfile
from .diagnostics import MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, error, note, warning
from .nsfile import quote
from .ops import Include, Op, Unset, expand

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Mapping

    from .nsfile import Cache
    from .world import World

MAX_DEPTH = 64
"""How deeply includes may nest."""
MAX_INCLUDES = 10_000
MAX_TOTAL = 16 << 20
"""Bounds on what a file and its includes may read: includes that include the same file
twice at each level would otherwise ask for 2**depth files."""


class _Stop(Exception):
    """Reading stops: past a bound, or with MAX_PROBLEMS found."""


class Loader:
    """Reads a file and its includes (an include is found next to the file naming it), through
    cache when given one."""

    def __init__(self, world: World, env: Mapping[str, str], cache: Cache | None = None) -> None:
        self.world = world
        self.env = env
        self.cache = cache
        self.problems: list[Diagnostic] = []
        self.notes: list[Diagnostic] = []  # what -d tells: -q includes skipped
        self.read = 0
        self.included = 0

    def load(self, path: str) -> list[Op]:
        """The operations of a file and its includes, in order; problems are kept in
        self.problems. A file that can't be read at all raises NewnsError."""
        if not path:
            raise NewnsError("the namespace file's name is empty")
        try:
            text = self.world.read(path, pipe_allowed=True)
        except (OSError, ValueError) as e:
            raise NewnsError(f"can't read namespace file {path}: {why(e)}") from None
        self.read = len(text)
        out: list[Op] = []
        try:
            self._read(path, text, [self.world.realpath(path)], out)
        except _Stop:
            pass
        return out

    def _read(self, path: str, text: str, stack: list[str], out: list[Op]) -> None:
        ops, problems = nsfile.parse(text, path, self.cache)
        self.problems += problems
        if len(self.problems) >= MAX_PROBLEMS:
            if not isinstance(self.problems[-1], TooManyProblems):
                self.problems.append(TooManyProblems(f"{MAX_PROBLEMS} problems: newns reads no further", self.problems[-1].where))
            raise _Stop
        for op in ops:
            if not isinstance(op, Include):
                out.append(op)
                continue
            try:
                self._include(op, path, stack, out)
            except NewnsError as problem:
                if not op.quiet:
                    self.problems += problem.diagnostics
                elif problem.absent:
                    self.notes += [note(f"skipped (-q): {d.message}", d.where) for d in problem.diagnostics]
                else:
                    self.notes += [warning(f"skipped (-q): {d.message}", d.where) for d in problem.diagnostics]

    def _include(self, op: Include, path: str, stack: list[str], out: list[Op]) -> None:
        try:
            name = os.path.join(os.path.dirname(path), expand(op.path, self.env))
        except Unset as unset:
            raise NewnsError(unset.message(), unset.var.where, absent=True) from None
        real = self.world.realpath(name)
        if real in stack:
            chain = " -> ".join(stack[stack.index(real) :] + [real])
            raise NewnsError(f"include cycle: {chain}", op.path.where)
        if len(stack) > MAX_DEPTH:
            self._stop(f". {name}: includes nested deeper than {MAX_DEPTH} files", op)
        self.included += 1
        if self.included > MAX_INCLUDES:
            self._stop(f"the namespace file and its includes are too large: more than {MAX_INCLUDES} includes", op)
        try:
            text = self.world.read(name, pipe_allowed=False)
        except FileNotFoundError as e:
            tried = "" if real == name else f" (newns looked for {real}, next to the file that includes it)"
            hint = "" if op.quiet else f": `. -q {quote(expand(op.path, self.env))}` includes it only where it exists"
            raise NewnsError(f". {name}: {why(e)}{tried}{hint}", op.path.where, absent=True) from None
        except (OSError, ValueError) as e:
            raise NewnsError(f". {name}: {why(e)}", op.path.where) from None
        self.read += len(text)
        if self.read > MAX_TOTAL:
            self._stop(f"the namespace file and its includes are too large: more than {MAX_TOTAL >> 20} MiB", op)
        out.append(op)
        self._read(name, text, stack + [real], out)

    def _stop(self, message: str, op: Include) -> None:
        self.problems.append(error(message, op.path.where))
        raise _Stop


def why(problem: OSError | ValueError) -> str:
    return (problem.strerror if isinstance(problem, OSError) else None) or str(problem)
