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

from .diagnostics import MAX_PROBLEMS, Diagnostic, NewnsError, Where, error, warning
from .nsfile import quote
from .operations import Allow, Bind, Cd, Clear, Mount, Op, Unmount, Unset, Word, expand
from .plan import (
    NEW_ROOT,
    OLD_ROOT,
    Action,
    Attach,
    Capture,
    Detach,
    Devices,
    MakePoint,
    NewFs,
    Overlay,
    Plan,
    Release,
    Reroot,
    slots_used,
)
from .table import Found, Member, MountTable, Target, ancestors, is_under

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable, Mapping

    from .world import World

MAX_LAYERS = 500
"""overlayfs's limit on lower layers (OVL_MAX_STACK)."""

FSTYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
DEVICE_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_CONTENTS = dict.fromkeys(DEVICE_NODES, "other") | {
    "console": "other", "pts": "dir", "shm": "dir", "ptmx": "other",
    "fd": "other", "stdin": "other", "stdout": "other", "stderr": "other",
}


class Planner:
    """Turns a file's operations into a Plan, keeping Plan 9's mount table as it goes;
    asks the world (a World) what paths hold, and nothing else."""

    def __init__(self, env: Mapping[str, str], cwd: str, world: World) -> None:
        self.env = dict(env)
        if "user" not in self.env or "home" not in self.env:
            user, home = world.account()
            self.env.setdefault("user", user)
            self.env.setdefault("home", home)
        self.cwd = cwd
        self.world = world
        self.dir = cwd
        self.slots = 0
        self.table = MountTable(world)
        self.pending: set[str] = set()  # targets whose union is still to be mounted
        self.actions: list[Action] = []
        self.problems: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.work_dirs: Where | None = None
        self.cleared = False
        self.pid_namespace = False
        self.setuid_allowed = False
        self.handlers: dict[type[Op], Callable[[Op, Action], None]] = {
            Bind: self._bind, Mount: self._mount, Unmount: self._unmount, Clear: self._clear,  # type: ignore[dict-item]
            Allow: self._allow,  # type: ignore[dict-item]
        }

    # -- words -----------------------------------------------------------

    def expand(self, word: Word) -> str:
        """A word's text: each variable's value is one literal piece of it."""
        try:
            text = expand(word, self.env)
        except Unset as unset:
            raise NewnsError(unset.message(), unset.var.where) from None
        if "\0" in text:
            raise NewnsError("a NUL byte in an argument", word.where)
        return text

    def path(self, word: Word, *, what: str = "path") -> str:
        """A word as an absolute path of the namespace being built.

        After clear, the new namespace's paths are under NEW_ROOT and #old's
        under OLD_ROOT: those are the paths the steps use; show() turns
        them back into the file's own terms for messages.
        """
        text = self.expand(word)
        if not text:
            raise NewnsError(f"empty {what}", word.where)
        if word.names_device:
            name, _, rest = text[1:].partition("/")
            if name != "old":
                raise NewnsError(
                    f"{text}: Plan 9 device paths have no Linux equivalent; "
                    "mount kernel filesystems by type instead, as in mount '#tmpfs' /tmp",
                    word.where,
                )
            if not self.cleared:
                raise NewnsError("#old is the namespace as it was before clear, and no clear comes before this line", word.where)
            return os.path.normpath(f"{OLD_ROOT}/{rest}")
        logical = os.path.normpath(os.path.join(self.dir, text))
        return os.path.normpath(NEW_ROOT + logical) if self.cleared else logical

    def show(self, path: str) -> str:
        """A path as the file names it."""
        if not self.cleared:
            return path
        if path == NEW_ROOT or is_under(path, NEW_ROOT):
            return path[len(NEW_ROOT) :] or "/"
        return "#old" + path[len(OLD_ROOT) :]

    # -- planning --------------------------------------------------------

    def plan(self, ops: list[Op]) -> Plan:
        """The whole file as kernel steps; raises NewnsError with every problem (and the
        warnings found with them)."""
        cwd, cwd_where = None, None
        for op in ops:
            action = Action(op.where, None, op.quiet, [])
            try:
                action.text = self.text(op)
                if isinstance(op, Cd):
                    cwd = self._cd(op)
                    cwd_where = op.where
                else:
                    self._apply(op, action)
            except NewnsError as problem:
                if op.quiet:
                    for d in problem.diagnostics:
                        self._warn(f"skipped (-q): {d.message}", d.where)
                else:
                    self.problems += problem.diagnostics
                    if len(self.problems) >= MAX_PROBLEMS:
                        self.problems.append(error(f"{MAX_PROBLEMS} problems: newns checks no further", op.where))
                        break
                continue
            self.actions.append(action)
        self._flush_all()
        if self.problems:
            raise NewnsError.of(self.problems + self.warnings)
        _release_after_last_use(self.actions)
        return Plan(
            self.actions, cwd or self.cwd, cwd_where, self.warnings, self.work_dirs, self.cleared, self.pid_namespace,
            self.setuid_allowed,
        )

    def _warn(self, message: str, where: Where | None) -> None:
        """Keep a warning; past MAX_PROBLEMS, only count it."""
        if len(self.warnings) < MAX_PROBLEMS:
            self.warnings.append(warning(message, where))
        elif len(self.warnings) == MAX_PROBLEMS:
            self.warnings.append(warning(f"more than {MAX_PROBLEMS} warnings: the rest are not shown", where))

    def text(self, op: Op) -> str:
        """The line as -d echoes it: command, flags and expanded, quoted words."""
        words = [op.name] + (["-" + op.flags] if op.flags else [])
        return " ".join(words + [quote(self.expand(word)) for word in op.arguments()])

    def _apply(self, op: Op, action: Action) -> None:
        if "a" in op.flags and "b" in op.flags:
            raise NewnsError(f"{op.name}: -a and -b together: a member goes either after or before", op.where)
        if "C" in op.flags:
            self._warn("-C (cache) has no effect on Linux", op.where)
        handler = self.handlers.get(type(op))
        if handler is None:
            raise AssertionError(f"no planner handler for {op!r}")
        handler(op, action)

    def _allow(self, op: Allow, action: Action) -> None:
        what = self.expand(op.what)
        if what != "setuid":
            raise NewnsError(f"allow: {what!r} is nothing newns allows: allow setuid is the one there is", op.what.where)
        if self.setuid_allowed:
            raise NewnsError("allow setuid comes once in a file", op.where)
        self.setuid_allowed = True

    def _cd(self, op: Cd) -> str:
        path = self.path(op.dir, what="directory")
        self._check_new(path, op.dir, "cd")
        self._existing(path, op.dir, "cd", directory=True)
        self.dir = self.show(path)
        return self.dir

    def _existing(
        self, path: str, word: Word, command: str, *, directory: bool = False, found: Found | None = None
    ) -> str | None:
        """path's kind as the table has it (found, when looked up already); an error when
        it is missing, or not a directory where one is needed."""
        kind = (found or self.table.lookup(path)).kind
        if kind == "missing":
            what = "directory" if directory else "file or directory"
            raise NewnsError(f"{command}: {self.show(path)}: no such {what}{self._hidden_by(path)}", word.where)
        if directory and kind not in ("dir", None):
            raise NewnsError(f"{command}: {self.show(path)}: not a directory", word.where)
        return kind

    def _hidden_by(self, path: str) -> str:
        """Which earlier line decides what path holds, for an error message."""
        holder = self.table.holder(path)
        where = self.table[holder].where if holder is not None else None
        return f" (in what line {where.line} put on {self.show(holder)})" if holder is not None and where else ""

    def _check_new(self, path: str, word: Word, command: str) -> None:
        """After clear, only the new namespace changes; #old is there to bind from."""
        if self.cleared and (path == OLD_ROOT or is_under(path, OLD_ROOT)):
            raise NewnsError(f"{command}: {self.show(path)}: #old is only a source to bind from", word.where)

    def _target(self, op: Bind | Mount, path: str, action: Action, *, directory: bool) -> tuple[str | None, int | None]:
        """Check a mount point, making it where it is missing inside a filesystem this file made;
        never for a union (-a, -b), whose first member would be a made-up empty directory.
        Its kind, and the slot holding it when it was made."""
        word, command = op.old, "bind" if isinstance(op, Bind) else "mount"
        self._check_new(path, word, command)
        found = self.table.lookup(path)
        union = "a" in op.flags or "b" in op.flags
        if found.kind == "missing" and not union:
            point = self._make_point(path, directory, action)
            if point is not None:
                return "dir" if directory else "file", point
        return self._existing(path, word, command, directory=directory, found=found), None

    def _make_point(self, path: str, directory: bool, action: Action) -> int | None:
        """Plan a missing mount point where what would hold it is a filesystem this file made
        and what is made there lands in it (a new tmpfs, a #dev, the root after clear, a
        union whose member taking creations is one): the slot that will hold it, else None.
        Kernel filesystems that are not new (a devtmpfs, a cgroup2: the host's own) and real
        directories never get one."""
        missing = [path]
        while True:
            parent = os.path.dirname(missing[-1])
            found = self.table.lookup(parent)
            if found.kind != "missing":
                break
            missing.append(parent)
        base = self.table.mounted_above(parent)
        if found.kind != "dir" or base is None:
            return None
        members = self.table[base].members
        member = members[0] if len(members) == 1 else next((m for m in members if m.create), None)
        if member is None or member.made is None:
            return None
        for made in reversed(missing):
            member.made[os.path.relpath(made, base)] = "dir" if directory or made != path else "file"
        slot = self._new_slot()
        placed = self.table[base].placed
        assert placed is not None
        action.steps.append(MakePoint(slot, placed, os.path.relpath(path, base), directory, path))
        return slot

    def _bind(self, op: Bind, action: Action) -> None:
        new = self.path(op.new)
        old = self.path(op.old)
        self._flush_under((new, old))
        new_found = self.table.lookup(new)
        new_kind = self._existing(new, op.new, "bind", found=new_found)
        old_kind, point = self._target(op, old, action, directory=new_kind == "dir")
        if new_kind and old_kind and (new_kind == "dir") != (old_kind == "dir"):
            raise NewnsError(
                f"bind: {self.show(new)} is a {_KIND_NAMES[new_kind]} but {self.show(old)} is a "
                f"{_KIND_NAMES[old_kind]}: bind a directory onto a directory, a file onto a file",
                op.old.where,
            )
        source = self.table.get(new)
        if source is not None and len(source.members) > 1:
            members = [Member(m.slot, m.label, m.origin, m.create, m.fresh, made=m.made) for m in source.members]
            if "c" in op.flags:
                members[0].create = True
        else:
            members = [Member(self._capture(new, action), self.show(new), new_found.origin, "c" in op.flags)]
        self._join(op, old, old_kind, point, members, action)

    def _mount(self, op: Mount, action: Action) -> None:
        source = self.expand(op.source)
        old = self.path(op.old)
        fstype = source[1:]
        if not op.source.names_device or not fstype or not set(fstype) <= FSTYPE_CHARS or fstype == "old":
            raise NewnsError(
                f"mount: {source or 'an empty source'}: newns mounts kernel filesystems by type, "
                "as '#tmpfs', '#proc', '#dev' or '#mqueue'; Plan 9 file servers (/srv/...) have no "
                "Linux equivalent, and a directory is attached with bind",
                op.source.where,
            )
        refused = sorted(set(op.flags) & set({"proc": "abc", "dev": "abcr"}.get(fstype, "")))
        if refused:
            raise NewnsError(f"mount: #{fstype} replaces a directory: no {', '.join('-' + f for f in refused)}", op.where)
        self._flush_under((old,))
        old_kind, point = self._target(op, old, action, directory=True)
        spec = self.expand(op.spec) if op.spec is not None else None
        if fstype == "dev":
            self._devices(op, old, old_kind, point, spec, action)
            return
        slot = self._new_slot()
        action.steps.append(NewFs(slot, fstype, spec or None))
        if fstype == "proc":
            self.pid_namespace = True
        if fstype == "tmpfs":
            member = Member(slot, source, None, "c" in op.flags, fresh=True, made={})
        else:
            member = Member(slot, source, None, "c" in op.flags)
        self._join(op, old, old_kind, point, [member], action)

    def _devices(
        self, op: Mount, old: str, old_kind: str | None, point: int | None, spec: str | None, action: Action
    ) -> None:
        """#dev: a tmpfs with the caller's harmless devices bound in, and its own pts and shm."""
        source = os.path.join(OLD_ROOT, "dev") if self.cleared else "/dev"
        nodes = tuple(
            (name, self._capture(os.path.join(source, name), action))
            for name in DEVICE_NODES
            if self.table.kind(os.path.join(source, name)) not in ("missing", None)
        )
        slot = self._new_slot()
        action.steps.append(NewFs(slot, "tmpfs", spec or "mode=0755,size=64k"))
        member = Member(slot, "#dev", None, False, fresh=True, made=dict(DEV_CONTENTS))
        self._join(op, old, old_kind, point, [member], action)
        placed = self.table[old].placed
        assert placed is not None
        action.steps.append(Devices(placed, old, nodes))

    def _clear(self, op: Clear, action: Action) -> None:
        """An empty namespace: the one built so far stays reachable as #old for the rest of the file."""
        if self.cleared:
            raise NewnsError("only one clear in a file: newns keeps one #old", op.where)
        self._flush_all()
        slot, placed = self._new_slot(), self._new_slot()
        action.steps.append(Reroot(slot, placed))
        table = MountTable(self.world)
        for path, target in self.table.items():
            table[os.path.normpath(OLD_ROOT + path)] = target
        table.unknown = {os.path.normpath(OLD_ROOT + path) for path in self.table.unknown}
        if OLD_ROOT not in table:
            table[OLD_ROOT] = Target([Member(0, "/", "/", False)], False, None, mounted=True)
        root = Member(slot, "clear", None, True, fresh=True, made={})
        table[NEW_ROOT] = Target([root], False, op.where, mounted=True, placed=placed)
        self.table = table
        self.cleared = True

    def _join(
        self, op: Bind | Mount, old: str, old_kind: str | None, point: int | None, new: list[Member], action: Action
    ) -> None:
        """Put new members into old's union as the flags say; point holds old when this file made it."""
        target = self.table.get(old)
        if target is not None and target.nested and target.mounted:
            raise NewnsError(
                f"can't change {self.show(old)} after a later line mounted inside it: "
                "put the lines that change it first",
                op.old.where,
            )
        if "a" in op.flags or "b" in op.flags:
            if old_kind not in ("dir", None):
                raise NewnsError(f"{self.show(old)}: -a and -b make unions of directories", op.old.where)
            if target is not None:
                base = target.members
            else:
                found = self.table.lookup(old)
                seed = Member(self._capture(old, action), self.show(old), found.origin, False, seed=True)
                if found.fresh is not None:
                    seed.fresh, seed.made = True, _made_below(found.fresh.made or {}, found.inside)
                base = [seed]
            members = base + new if "a" in op.flags else new + base
        else:
            members = new
        if len(members) > MAX_LAYERS:
            raise NewnsError(
                f"{self.show(old)}: a union of {len(members)} members; overlayfs takes at most {MAX_LAYERS}",
                op.where,
            )
        if target is None or "a" not in op.flags and "b" not in op.flags:
            readonly = "r" in op.flags
        else:
            readonly = target.readonly or "r" in op.flags
        mounted = target.mounted if target else False
        if target is not None:
            point = target.point
        self.table[old] = Target(members, readonly, op.where, mounted=mounted, point=point)
        if len(members) == 1:
            self._materialize(old, action)
        else:
            self.pending.add(old)

    def _unmount(self, op: Unmount, action: Action) -> None:
        old = self.path(op.old)
        self._check_new(old, op.old, "unmount")
        if old == NEW_ROOT:
            raise NewnsError("unmount: the new root stays: unmount what is mounted inside it", op.old.where)
        self._flush_under((old,))
        target = self.table.get(old)
        if op.new is None:
            if target is None:
                action.steps.append(Detach(old))
                self.table.unknown.add(old)
            elif target.mounted:
                self._detach(old, action)
            else:
                self._forget(old)
            return
        new = self.show(self.path(op.new))
        if target is None:
            raise NewnsError(f"unmount: nothing is bound on {self.show(old)} by this file", op.old.where)
        for member in target.members:
            if member.label == new:
                break
        else:
            labels = ", ".join(m.label for m in target.members)
            raise NewnsError(f"unmount: {new} is not in the union at {self.show(old)} ({labels})", op.new.where)
        target.members.remove(member)
        target.where = op.where
        if not target.members:
            if target.mounted:
                self._detach(old, action)
            else:
                self._forget(old)
        elif len(target.members) == 1:
            self._materialize(old, action)
        else:
            self.pending.add(old)

    # -- mounting what the table says ----------------------------------------

    def _new_slot(self) -> int:
        self.slots += 1
        return self.slots

    def _capture(self, path: str, action: Action) -> int:
        slot = self._new_slot()
        action.steps.append(Capture(slot, path))
        return slot

    def _flush_under(self, paths: tuple[str, ...]) -> None:
        """Mount the unions still to be mounted that a line looks inside, before that line runs."""
        if not self.pending:
            return
        inside = {a for p in paths for a in ancestors(p) if a in self.pending}
        for path in sorted(inside, key=len):
            if path in self.pending:
                self._flush(path)

    def _flush_all(self) -> None:
        for path in sorted(self.pending, key=len):
            if path in self.pending:
                self._flush(path)

    def _flush(self, path: str) -> None:
        target = self.table[path]
        assert target.where is not None, "a pending union was changed by a line"
        flush = Action(target.where, None, False, [])
        self._materialize(path, flush)
        self.actions.append(flush)

    def _materialize(self, path: str, action: Action) -> None:
        """Mount a target as its members now say: nothing, a bind or one overlay."""
        target = self.table[path]
        if target.mounted:
            self._detach(path, action)
            self.table[path] = target
            target.mounted = False
            target.placed = None
        members = target.members
        self.pending.discard(path)
        if len(members) == 1 and members[0].seed:
            return
        self._cover(path, target, keeps_own=any(m.seed for m in members))
        target.placed = self._new_slot()
        if len(members) == 1:
            action.steps.append(Attach(members[0].slot, path, target.readonly, target.point, target.placed))
        else:
            upper = next((m for m in members if m.create), None)
            if upper is not None and upper is not members[0]:
                self._warn(
                    f"{self.show(path)}: {upper.label} takes creations (-c) but is not first in the union; "
                    "overlayfs looks in the writable member first, so its names hide those before it",
                    target.where,
                )
            if upper is not None and not upper.fresh and self.work_dirs is None:
                self.work_dirs = target.where
            lowers = tuple(m.slot for m in members if m is not upper)
            names = tuple((m.label, m is upper) for m in members)
            action.steps.append(
                Overlay(path, lowers, upper.slot if upper else None, target.readonly, names, target.point, target.placed)
            )
        target.mounted = True
        for above in ancestors(path):
            if above in self.table and self.table[above].mounted:
                self.table[above].nested = True

    def _cover(self, path: str, target: Target, *, keeps_own: bool) -> None:
        """Mounting on path hides what earlier lines mounted inside it.

        As on Plan 9, unions still to be mounted inside it are mounted first,
        and hidden with the rest, unless the new mount is a union that keeps
        path's own directory: through it they stay visible, mounted on top."""
        inside = self.table.under(path)
        hidden = [p for p in inside if not keeps_own or p not in self.pending]
        if not hidden:
            return
        for other in sorted(hidden, key=len):
            if other in self.pending:
                self._flush(other)
        hidden = [p for p in hidden if p in self.table]  # mounting one may have hidden others
        wheres = [self.table[p].where for p in hidden]
        lines = sorted({where.line for where in wheres if where is not None})
        self._warn(
            f"{self.show(path)} now hides what line{'s' if len(lines) > 1 else ''} "
            f"{', '.join(map(str, lines))} mounted inside it ({', '.join(self.show(p) for p in sorted(hidden))})",
            target.where,
        )
        for other in hidden:
            self._forget(other)

    def _detach(self, path: str, action: Action) -> None:
        """Unmount a target; everything this file mounted inside it goes with it."""
        action.steps.append(Detach(path))
        for other_path in [path, *self.table.under(path)]:
            self._forget(other_path)

    def _forget(self, path: str) -> None:
        del self.table[path]
        self.pending.discard(path)


def _release_after_last_use(actions: list[Action]) -> None:
    """End each action with the release of the slots no later action uses."""
    last: dict[int, Action] = {}
    for action in actions:
        for step in action.steps:
            for slot in slots_used(step):
                last[slot] = action
    done: dict[int, list[int]] = {}
    for slot, action in last.items():
        done.setdefault(id(action), []).append(slot)
    for action in actions:
        if id(action) in done:
            action.steps.append(Release(tuple(done[id(action)])))


_KIND_NAMES = {"dir": "directory", "file": "file", "other": "special file"}


def _made_below(made: dict[str, str], inside: str) -> dict[str, str]:
    """The mount points made below inside, relative to it."""
    if not inside:
        return dict(made)
    prefix = inside + "/"
    return {path[len(prefix) :]: kind for path, kind in made.items() if path.startswith(prefix)}
