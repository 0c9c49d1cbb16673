"""Operations to a plan: variables, includes, union bookkeeping and checks.

The interpreter keeps Plan 9's mount table (each target's ordered members) and
turns the whole file into a Plan before anything is mounted. Every path it can
follow back to the caller's namespace is checked here, so most mistakes stop
newns before the first mount. Linux mounts each target once: a replace bind
right away, a union as one overlay when something needs to look inside it or
at the end, never an overlay stacked on an overlay.
"""
from __future__ import annotations

import os.path
from collections.abc import Mapping
from dataclasses import dataclass

from . import nsfile, ops
from .errors import NewnsError, NewnsErrors, Where
from .nsfile import Bind, Cd, Clear, Include, Mount, Op, Unmount, Var, Word
from .plan import Action, Attach, Capture, Detach, NewFs, Overlay, Plan

MAX_LAYERS = 500
"""overlayfs's limit on lower layers (OVL_MAX_STACK)."""

FSTYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
LATER_SOURCES = ("proc", "dev", "old")


@dataclass(slots=True)
class Member:
    """One member of a target's union."""

    slot: int
    label: str  # the path or source the file named, for `unmount new old` and -d
    origin: str | None  # where its files are in the caller's namespace; None: unknown
    create: bool
    fresh: bool = False  # a new, empty filesystem
    seed: bool = False  # the target's own directory, from the first -a or -b


@dataclass(slots=True)
class Target:
    """A mounted-on path: its members, and what the plan has mounted there."""

    members: list[Member]
    readonly: bool
    where: Where  # the last line that changed it
    mounted: bool = False
    pending: bool = True
    nested: bool = False  # something was mounted inside it after it was mounted


class Interpreter:
    def __init__(self, env: Mapping[str, str], cwd: str) -> None:
        self.env = dict(env)
        if "user" not in self.env or "home" not in self.env:
            user, home = ops.account()
            self.env.setdefault("user", user)
            self.env.setdefault("home", home)
        self.cwd = cwd
        self.problems: list[NewnsError] = []

    # -- reading files ---------------------------------------------------

    def load(self, path: str) -> list[Op]:
        """The operations of a file and its includes, in order; problems are collected."""
        try:
            text = ops.read_text(path)
        except OSError as e:
            raise NewnsError(f"can't read namespace file {path}: {e.strerror}") from None
        out: list[Op] = []
        self._read(path, text, [ops.realpath(path)], out)
        return out

    def _read(self, path: str, text: str, stack: list[str], out: list[Op]) -> None:
        file_ops, problems = nsfile.parse(text, path)
        self.problems.extend(problems)
        for op in file_ops:
            if not isinstance(op, Include):
                out.append(op)
                continue
            try:
                self._include(op, path, stack, out)
            except NewnsError as problem:
                if not op.quiet:
                    self.problems.append(problem)

    def _include(self, op: Include, path: str, stack: list[str], out: list[Op]) -> None:
        name = os.path.join(os.path.dirname(path), self.expand(op.path))
        real = ops.realpath(name)
        if real in stack:
            chain = " -> ".join(stack[stack.index(real) :] + [real])
            raise NewnsError(f"include cycle: {chain}", op.path.where)
        try:
            text = ops.read_text(name)
        except OSError as e:
            raise NewnsError(f". {name}: {e.strerror}", op.path.where) from None
        self._read(name, text, stack + [real], out)

    # -- words -----------------------------------------------------------

    def expand(self, word: Word) -> str:
        """A word's text: each variable's value is one literal piece of it."""
        parts = []
        for piece in word.pieces:
            if isinstance(piece, Var):
                value = self.env.get(piece.name)
                if value is None:
                    raise NewnsError(
                        f"${piece.name} is not set: export it before running newns, "
                        f"or write the path without it",
                        piece.where,
                    )
                parts.append(value)
            else:
                parts.append(piece)
        text = "".join(parts)
        if "\0" in text:
            raise NewnsError("a NUL byte in an argument", word.where)
        return text

    def path(self, word: Word, *, what: str = "path") -> str:
        text = self.expand(word)
        if not text:
            raise NewnsError(f"empty {what}", word.where)
        if text.startswith("#"):
            name = text[1:].split("/", 1)[0]
            if name in LATER_SOURCES:
                raise NewnsError(f"#{name} is not supported yet", word.where)
            raise NewnsError(
                f"{text}: Plan 9 device paths have no Linux equivalent; "
                "mount kernel filesystems by type instead, as in mount '#tmpfs' /tmp",
                word.where,
            )
        return os.path.normpath(os.path.join(self.dir, text))

    # -- planning --------------------------------------------------------

    def plan(self, ops_: list[Op]) -> Plan:
        """The whole file as kernel steps; raises NewnsErrors with every problem."""
        self.dir = self.cwd
        self.slots = 0
        self.table: dict[str, Target] = {}
        self.unknown: set[str] = set()
        self.actions: list[Action] = []
        self.warnings: list[NewnsError] = []
        self.work_dirs = False
        cwd, cwd_where = None, None
        for op in ops_:
            action = Action(op.where, None, op.quiet)
            try:
                action.text = self.text(op)
                if isinstance(op, Cd):
                    cwd = self._cd(op)
                    cwd_where = op.where
                else:
                    self._apply(op, action)
            except NewnsError as problem:
                if op.quiet:
                    self.warnings.append(NewnsError(f"skipped (-q): {problem.message}", problem.where))
                else:
                    self.problems.append(problem)
                continue
            self.actions.append(action)
        for path in sorted((p for p, t in self.table.items() if t.pending), key=len):
            self._flush(path)
        if self.problems:
            raise NewnsErrors(self.problems)
        return Plan(self.actions, cwd or self.cwd, cwd_where, self.warnings, self.work_dirs)

    def text(self, op: Op) -> str:
        """The line as -d echoes it: command, flags and expanded, quoted words."""
        name = {Bind: "bind", Mount: "mount", Unmount: "unmount", Clear: "clear", Cd: "cd"}[type(op)]
        words = [name] + (["-" + op.flags] if op.flags else [])
        for field in ("new", "source", "dir", "old", "spec"):
            word = getattr(op, field, None)
            if word is not None:
                words.append(quote(self.expand(word)))
        return " ".join(words)

    def _apply(self, op: Op, action: Action) -> None:
        if isinstance(op, Bind):
            self._bind(op, action)
        elif isinstance(op, Mount):
            self._mount(op, action)
        elif isinstance(op, Unmount):
            self._unmount(op, action)
        else:
            raise NewnsError("clear is not supported yet", op.where)

    def _cd(self, op: Cd) -> str:
        path = self.path(op.dir, what="directory")
        self._existing(path, op.dir, "cd", directory=True)
        self.dir = path
        return path

    def _existing(self, path: str, word: Word, command: str, *, directory: bool = False) -> str | None:
        """path's kind, as kind() gives it; an error when it is missing, or not a directory where one is needed."""
        kind = self.kind(path)
        if kind == "missing":
            what = "directory" if directory else "file or directory"
            raise NewnsError(f"{command}: {path}: no such {what}{self._hidden_by(path)}", word.where)
        if directory and kind not in ("dir", None):
            raise NewnsError(f"{command}: {path}: not a directory", word.where)
        return kind

    def _hidden_by(self, path: str) -> str:
        """Which earlier line decides what path holds, for an error message."""
        for prefix in sorted(self.table, key=len, reverse=True):
            if prefix == path or _is_under(path, prefix):
                return f" (in what line {self.table[prefix].where.line} put on {prefix})"
        return ""

    def _bind(self, op: Bind, action: Action) -> None:
        new = self.path(op.new)
        old = self.path(op.old)
        new_kind = self._existing(new, op.new, "bind")
        old_kind = self._existing(old, op.old, "bind")
        if new_kind and old_kind and (new_kind == "dir") != (old_kind == "dir"):
            raise NewnsError(
                f"bind: {new} is a {_KIND_NAMES[new_kind]} but {old} is a {_KIND_NAMES[old_kind]}: "
                "bind a directory onto a directory, a file onto a file",
                op.old.where,
            )
        self._flush_under((new, old), action)
        source = self.table.get(new)
        if source is not None and len(source.members) > 1:
            members = [Member(m.slot, m.label, m.origin, m.create, m.fresh) for m in source.members]
            if "c" in op.flags:
                members[0].create = True
        else:
            members = [Member(self._capture(new, action), new, self.origin(new), "c" in op.flags)]
        self._join(op, old, old_kind, members, action)

    def _mount(self, op: Mount, action: Action) -> None:
        source = self.expand(op.source)
        old = self.path(op.old)
        fstype = source[1:]
        if not source.startswith("#") or not fstype or not set(fstype) <= FSTYPE_CHARS:
            raise NewnsError(
                f"mount: {source or 'an empty source'}: newns mounts kernel filesystems by type, "
                "as '#tmpfs' or '#mqueue'; Plan 9 file servers (/srv/...) have no Linux equivalent, "
                "and a directory is attached with bind",
                op.source.where,
            )
        if fstype in LATER_SOURCES:
            raise NewnsError(f"#{fstype} is not supported yet", op.source.where)
        old_kind = self._existing(old, op.old, "mount", directory=True)
        self._flush_under((old,), action)
        spec = self.expand(op.spec) if op.spec is not None else None
        slot = self._new_slot()
        action.steps.append(NewFs(slot, fstype, spec or None))
        self._join(op, old, old_kind, [Member(slot, source, None, "c" in op.flags, fresh=True)], action)

    def _join(self, op: Bind | Mount, old: str, old_kind: str | None, new: list[Member], action: Action) -> None:
        """Put new members into old's union as the flags say."""
        target = self.table.get(old)
        if target is not None and target.nested and target.mounted:
            raise NewnsError(
                f"can't change {old} after a later line mounted inside it: "
                "put the lines that change it first",
                op.old.where,
            )
        if "a" in op.flags or "b" in op.flags:
            if old_kind not in ("dir", None):
                raise NewnsError(f"{old}: -a and -b make unions of directories", op.old.where)
            if target is not None:
                base = target.members
            else:
                base = [Member(self._capture(old, action), old, self.origin(old), False, seed=True)]
            members = base + new if "a" in op.flags else new + base
        else:
            members = new
        if len(members) > MAX_LAYERS:
            raise NewnsError(
                f"{old}: a union of {len(members)} members; overlayfs takes at most {MAX_LAYERS}",
                op.where,
            )
        if target is None or "a" not in op.flags and "b" not in op.flags:
            readonly = "r" in op.flags
        else:
            readonly = target.readonly or "r" in op.flags
        mounted = target.mounted if target else False
        self.table[old] = Target(members, readonly, op.where, mounted=mounted)
        if len(members) == 1:
            self._materialize(old, action)

    def _unmount(self, op: Unmount, action: Action) -> None:
        old = self.path(op.old)
        target = self.table.get(old)
        if op.new is None:
            self._flush_under((old,), action)
            if target is None:
                action.steps.append(Detach(old))
                self.unknown.add(old)
            else:
                del self.table[old]
                if target.mounted:
                    self._detach(old, action)
            return
        new = self.path(op.new)
        if target is None:
            raise NewnsError(f"unmount: nothing is bound on {old} by this file", op.old.where)
        for member in target.members:
            if member.label == new:
                break
        else:
            labels = ", ".join(m.label for m in target.members)
            raise NewnsError(f"unmount: {new} is not in the union at {old} ({labels})", op.new.where)
        self._flush_under((old,), action)
        target.members.remove(member)
        target.where = op.where
        if not target.members:
            del self.table[old]
            if target.mounted:
                self._detach(old, action)
        elif len(target.members) == 1:
            self._materialize(old, action)
        else:
            target.pending = True

    # -- the table -------------------------------------------------------

    def _new_slot(self) -> int:
        self.slots += 1
        return self.slots

    def _capture(self, path: str, action: Action) -> int:
        slot = self._new_slot()
        action.steps.append(Capture(slot, path))
        return slot

    def _flush_under(self, paths: tuple[str, ...], action: Action) -> None:
        """Mount pending unions that a line looks inside, before that line runs."""
        for target_path in sorted(self.table, key=len):
            target = self.table.get(target_path)
            if target is None or not target.pending:
                continue
            prefix = target_path.rstrip("/") + "/"
            if any(p.startswith(prefix) for p in paths):
                self._flush(target_path)

    def _flush(self, path: str) -> None:
        target = self.table[path]
        flush = Action(target.where, None, False)
        self._materialize(path, flush)
        self.actions.append(flush)

    def _materialize(self, path: str, action: Action) -> None:
        """Mount a target as its members now say: nothing, a bind or one overlay."""
        target = self.table[path]
        if target.mounted:
            self._detach(path, action)
            self.table[path] = target
            target.mounted = False
        members = target.members
        target.pending = False
        if len(members) == 1 and members[0].seed:
            return
        if len(members) == 1:
            action.steps.append(Attach(members[0].slot, path, target.readonly))
        else:
            upper = next((m for m in members if m.create), None)
            if upper is not None and upper is not members[0]:
                self.warnings.append(
                    NewnsError(
                        f"{path}: {upper.label} takes creations (-c) but is not first in the union; "
                        "overlayfs looks in the writable member first, so its names hide those before it",
                        target.where,
                    )
                )
            if upper is not None and not upper.fresh:
                self.work_dirs = True
            lowers = tuple(m.slot for m in members if m is not upper)
            action.steps.append(Overlay(path, lowers, upper.slot if upper else None, target.readonly))
        target.mounted = True
        for other_path, other in self.table.items():
            if other.mounted and _is_under(path, other_path):
                other.nested = True

    def _detach(self, path: str, action: Action) -> None:
        """Unmount a target; everything this file mounted inside it goes with it."""
        action.steps.append(Detach(path))
        for other_path in [p for p in self.table if p == path or _is_under(p, path)]:
            del self.table[other_path]

    # -- what a path holds ------------------------------------------------

    def origin(self, path: str) -> str | None:
        """Where path's files are in the caller's namespace, when the plan can tell."""
        found = self._lookup(path)
        return found if isinstance(found, str) else None

    def kind(self, path: str) -> str | None:
        """'dir', 'file', 'other' or 'missing' as the plan has it; None when unknown."""
        found = self._lookup(path)
        if isinstance(found, str):
            return ops.kind(found)
        return found[0] if found else None

    def _lookup(self, path: str) -> str | tuple[str] | None:
        """path in the caller's namespace, a (kind,) tuple, or None: unknown."""
        prefix = path
        while True:
            if prefix in self.unknown:
                return None
            target = self.table.get(prefix)
            if target is not None:
                return self._lookup_in(target, path[len(prefix) :].lstrip("/"))
            if prefix == "/":
                return path
            prefix = os.path.dirname(prefix)

    def _lookup_in(self, target: Target, rest: str) -> str | tuple[str] | None:
        """Find rest in a union: the first member that holds it (Plan 9's walk)."""
        for member in target.members:
            if member.fresh:
                if not rest:
                    return ("dir",)
                continue
            if member.origin is None:
                return None
            candidate = os.path.join(member.origin, rest) if rest else member.origin
            if ops.kind(candidate) != "missing":
                return candidate
        return ("missing",)


_KIND_NAMES = {"dir": "directory", "file": "file", "other": "special file"}


def _is_under(path: str, ancestor: str) -> bool:
    return path != ancestor and path.startswith(ancestor.rstrip("/") + "/")


def quote(text: str) -> str:
    """rc quoting, as Plan 9's ns(1) prints a word."""
    if text and not any(c in " \t\r\n'$#\\" for c in text):
        return text
    return "'" + text.replace("'", "''") + "'"
