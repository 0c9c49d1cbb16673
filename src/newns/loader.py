"""A namespace file, and each file it includes when the interpreter reaches the include.

The interpreter decides which file an include reads (Plan 9's: in the namespace built so
far); the loader reads it, bounded, and parses it (through the cache when given one), each
file once a run."""
from __future__ import annotations

import os.path

from . import nsfile
from .diagnostics import MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, error
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


class Stop(Exception):
    """Reading stops: past a bound (the problem is given), or with MAX_PROBLEMS found."""

    def __init__(self, problem: Diagnostic | None = None) -> None:
        super().__init__()
        self.problem = problem


class Loader:
    """Reads a namespace file and the files it includes, through cache when given one; cwd:
    the caller's working directory, where a relative name of a file is from."""

    def __init__(self, world: World, env: Mapping[str, str], cwd: str, cache: Cache | None = None) -> None:
        self.world = world
        self.env = env
        self.cwd = cwd
        self.cache = cache
        self.problems: list[Diagnostic] = []  # the namespace file's own
        self.stack: list[str] = []  # the namespace file's real path
        self.first = 0  # its length
        self.read = 0
        self.included = 0
        self.files: dict[tuple[str, str], tuple[int, list[Op], list[Diagnostic]]] = {}  # (path, name) -> read

    def load(self, path: str) -> list[Op]:
        """The operations of a file (its includes not followed); problems are kept in
        self.problems. A file that can't be read at all raises NewnsError."""
        if not path:
            raise NewnsError("the namespace file's name is empty")
        try:
            text = self.world.read(path, pipe_allowed=True)
        except (OSError, ValueError) as e:
            raise NewnsError(f"can't read namespace file {path}: {why(e)}") from None
        self.first = self.read = len(text)
        self.stack = [self.world.realpath(path)]
        ops, self.problems = nsfile.parse(text, path, self.cache)
        if len(self.problems) >= MAX_PROBLEMS:
            if not isinstance(self.problems[-1], TooManyProblems):
                self.problems.append(TooManyProblems(f"{MAX_PROBLEMS} problems: newns reads no further", self.problems[-1].where))
            return []
        return ops

    def begin(self) -> None:
        """A reading of the file's includes starts (a plan of the file): the bounds count again."""
        self.read, self.included = self.first, 0

    def include(
        self, op: Include, said: str, name: str, path: str, *, stack: list[str], how: str
    ) -> tuple[list[Op], list[Diagnostic], str]:
        """The operations and problems of the file op includes, and its real path: said is
        op's path expanded, name the file's path in the namespace, path in the caller's files,
        found as how says; stack: the real paths of the files including it. Raises NewnsError
        when it can't be included, Stop past a bound."""
        real = self.world.realpath(path)
        if real in stack:
            chain = " -> ".join(stack[stack.index(real) :] + [real])
            raise NewnsError(f"include cycle: {chain}", op.path.where)
        if len(stack) > MAX_DEPTH:
            raise Stop(error(f". {name}: includes nested deeper than {MAX_DEPTH} files", op.path.where))
        self.included += 1
        if self.included > MAX_INCLUDES:
            raise Stop(error(
                f"the namespace file and its includes are too large: more than {MAX_INCLUDES} includes", op.path.where
            ))
        size, ops, problems = self._parsed(op, said, name, path, real, how)
        self.read += size
        if self.read > MAX_TOTAL:
            raise Stop(error(
                f"the namespace file and its includes are too large: more than {MAX_TOTAL >> 20} MiB", op.path.where
            ))
        return ops, problems, real

    def _parsed(
        self, op: Include, said: str, name: str, path: str, real: str, how: str
    ) -> tuple[int, list[Op], list[Diagnostic]]:
        """A file read once a run: the replans of a run read the same."""
        known = self.files.get((path, name))
        if known is not None:
            return known
        try:
            text = self.world.read(path, pipe_allowed=False)
        except FileNotFoundError as e:
            tried = "" if real == name else f" (newns looked for {real}, {how})"
            hint = "" if op.quiet else f": `. -q {quote(said)}` includes it only where it exists"
            raise NewnsError(f". {name}: {why(e)}{tried}{hint}", op.path.where, absent=True) from None
        except (OSError, ValueError) as e:
            raise NewnsError(f". {name}: {why(e)}", op.path.where) from None
        ops, problems = nsfile.parse(text, name, self.cache)
        self.files[path, name] = known = len(text), ops, problems
        return known


    def flattened(self, ops: list[Op]) -> list[Op]:
        """The file's operations, each include's file's after the include, found next to the file
        that names it in the caller's files (what --cpu sends before any line runs, and what
        --attach looks through for import lines before it joins): ops, the namespace file's as
        load gave them; problems in self.problems."""
        out: list[Op] = []
        self.begin()
        try:
            self._flatten(ops, self.stack, out)
        except Stop as stop:
            if stop.problem is not None:
                self.problems.append(stop.problem)
        return out

    def _flatten(self, ops: list[Op], stack: list[str], out: list[Op]) -> None:
        for op in ops:
            out.append(op)
            if not isinstance(op, Include):
                continue
            try:
                said = expand(op.path, self.env)
                name = os.path.join(os.path.dirname(op.where.file), said)
                path = os.path.normpath(os.path.join(self.cwd, name))
                included, problems, real = self.include(
                    op, said, name, path, stack=stack, how="next to the file that includes it"
                )
            except Unset as unset:
                problems, included = ([] if op.quiet else [error(unset.message(), unset.var.where)]), None
            except NewnsError as problem:
                problems, included = ([] if op.quiet else problem.diagnostics), None
            self.problems += problems
            if len(self.problems) >= MAX_PROBLEMS:
                raise Stop
            if included is not None:
                self._flatten(included, stack + [real], out)


def why(problem: OSError | ValueError) -> str:
    return (problem.strerror if isinstance(problem, OSError) else None) or str(problem)
