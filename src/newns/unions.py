"""Plan 9's unions as the plan builds them: the mount table, and the steps that mount what it says.

Linux mounts each target once: a replace bind right away, a union as one
overlay when something needs to look inside it or at the end, never an
overlay stacked on an overlay. What earlier lines mounted inside a target
stays where Plan 9 keeps it (the member that shows there is the one that
held it), and is mounted again on top.
"""
from __future__ import annotations

import os.path

from .diagnostics import NewnsError, Where
from .plan import NEW_ROOT, OLD_ROOT, Action, Attach, Capture, Detach, MakePoint, Overlay, Reroot
from .ops import Quoted
from .table import Found, Member, MountTable, Target, ancestors, is_under, provider

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable

    from .ops import Bind, Import, Mount, Op, Word
    from .world import World

MAX_LAYERS = 500
"""overlayfs's limit on lower layers (OVL_MAX_STACK)."""


class Unions:
    """The mount table of the namespace being built, the slots its steps hold objects in, and
    the unions still to be mounted. Steps go into the action of the line that needs them;
    a union mounted on behalf of earlier lines gets an action of its own in actions."""

    def __init__(
        self, world: World, actions: list[Action], warn: Callable[[str, Where | None], None],
        replaced: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self.world = world
        self.actions = actions
        self._warn = warn
        self.slots = 0
        self.table = MountTable(world)
        self.pending: set[str] = set()  # targets whose union is still to be mounted
        self.work_dirs: Where | None = None  # the first union that creates in a real directory
        self.cleared: Where | None = None  # the line that started the new namespace
        self.formed: dict[str, tuple[str, int]] = {}  # each union target: the line (file, number) that made it one
        self.replaced = replaced  # unions (by the line that made them) a later line replaces, from a first plan
        self.found_replaced: set[tuple[str, int]] = set()  # those this plan found

    def _never_mounted(self, path: str) -> bool:
        """A union still to be mounted that a later line replaces: Plan 9's table is the whole
        truth, so it never reaches the kernel, and paths inside it are its members' own."""
        return path in self.pending and self.formed.get(path) in self.replaced

    def kernel_path(self, path: str) -> str:
        """Where the kernel finds path now: path itself, or, inside a union that is never
        mounted, the file of the first member that holds it (as Plan 9 walks a union)."""
        if not self.replaced:
            return path
        union = next((above for above in ancestors(path) if self._never_mounted(above)), None)
        if union is None:
            return path
        rest = path[len(union) :].lstrip("/")
        member = provider(self.table[union].members, rest, self.world)
        if member is None or member.origin is None:
            return path
        origin = os.path.normpath(f"{member.origin}/{rest}")
        return os.path.normpath(OLD_ROOT + origin) if self.cleared else origin

    def show(self, path: str) -> str:
        """A path as the file names it."""
        if not self.cleared:
            return path
        if path == NEW_ROOT or is_under(path, NEW_ROOT):
            return path[len(NEW_ROOT) :] or "/"
        return "#old" + path[len(OLD_ROOT) :]

    def existing(
        self, path: str, word: Word, command: str, *, directory: bool = False, found: Found | None = None
    ) -> str | None:
        """path's kind as the table has it (found, when looked up already); an error when
        it is missing, or not a directory where one is needed."""
        kind = (found or self.table.lookup(path)).kind
        if kind == "missing":
            what = "directory" if directory else "file or directory"
            hint = self._hidden_by(path) or _quoting_hint(word)
            raise NewnsError(f"{command}: {self.show(path)}: no such {what}{hint}", word.where, absent=True)
        if directory and kind not in ("dir", None):
            raise NewnsError(f"{command}: {self.show(path)}: not a directory", word.where)
        return kind

    def _hidden_by(self, path: str) -> str:
        """Which earlier line decides what path holds, for an error message; and what to do
        when that line hides what is there outside newns (a clone under a private /tmp)."""
        holder = self.table.holder(path)
        where = self.table[holder].where if holder is not None else None
        if holder is None or where is None:
            return ""
        said = f" (in what line {where.line} put on {self.show(holder)})"
        if self.cleared or self.world.kind(path) in ("missing", None):
            return said
        return (
            f"{said}, which hides it: paths are read in the namespace as the file has built it so far; "
            f"run newns from a directory outside {self.show(holder)}"
        )

    def check_new(self, path: str, word: Word, command: str) -> None:
        """After clear, only the new namespace changes; #old is there to bind from."""
        if self.cleared and (path == OLD_ROOT or is_under(path, OLD_ROOT)):
            raise NewnsError(f"{command}: {self.show(path)}: #old is only a source to bind from", word.where)

    def target(
        self, op: Bind | Mount | Import, path: str, action: Action, *, directory: bool
    ) -> tuple[str | None, int | None]:
        """Check a mount point, making it where it is missing inside a filesystem this file made;
        never for a union (-a, -b), whose first member would be a made-up empty directory.
        Its kind, and the slot holding it when it was made."""
        word, command = op.old, op.name
        self.check_new(path, word, command)
        found = self.table.lookup(path)
        union = "a" in op.flags or "b" in op.flags
        if found.kind == "missing" and not union:
            point = self._make_point(path, directory, action)
            if point is not None:
                return "dir" if directory else "file", point
        return self.existing(path, word, command, directory=directory, found=found), None

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
        slot = self.new_slot()
        placed = self.table[base].placed
        assert placed is not None
        action.steps.append(MakePoint(
            slot=slot, base=placed, inside=os.path.relpath(path, base), directory=directory, path=path,
        ))
        return slot

    def reroot(self, op: Op, action: Action, *, keep: bool) -> None:
        """Start the new namespace, the one built so far reachable as #old: empty, or (keep,
        for a union onto /) holding the old root and what is mounted in it, as the seed of
        that union. A line onto / changes the root as Plan 9's does, as after clear."""
        self.flush_all()
        slot, placed = self.new_slot(), self.new_slot()
        action.steps.append(Reroot(slot=slot, placed=placed))
        table = MountTable(self.world)
        for path, target in self.table.items():
            table[os.path.normpath(OLD_ROOT + path)] = target
        table.unknown = {os.path.normpath(OLD_ROOT + path) for path in self.table.unknown}
        if OLD_ROOT not in table:
            table[OLD_ROOT] = Target(
                members=[Member(slot=0, label="/", origin="/", create=False)], readonly=False, where=None,
                mounted=True,
            )
        if keep:
            old = Member(slot=self.capture(OLD_ROOT, action), label="#old", origin="/", create=False, seed=True)
            table[NEW_ROOT] = Target(
                members=[old], readonly=False, where=op.where, mounted=True, placed=placed, shown=[old],
            )
            for path, target in self.table.items():  # each seen again through the old root
                copy = Target(
                    members=target.members, readonly=target.readonly, where=target.where, mounted=True,
                    shown=target.shown,
                )
                table[os.path.normpath(NEW_ROOT + path)] = copy
            self.table, self.cleared = table, op.where
            self._caller_mounts(NEW_ROOT, "/", action)
        else:
            root = Member(slot=slot, label="clear", origin=None, create=True, fresh=True, made={})
            table[NEW_ROOT] = Target(members=[root], readonly=False, where=op.where, mounted=True, placed=placed)
            self.table, self.cleared = table, op.where

    def _caller_mounts(self, path: str, origin: str, action: Action) -> None:
        """The caller's mounts inside origin, the directory that seeds a union on path, as
        targets under path: mounted again on top of the union where its seed shows them
        (Plan 9 keeps what is mounted inside a union's members)."""
        prefix = origin.rstrip("/") + "/"
        inside = [p for p in self.world.mount_points() if p.startswith(prefix) and p != origin]
        for point in dict.fromkeys(inside):
            if any(is_under(point, other) for other in inside):
                continue  # comes with the mount above it
            where = os.path.normpath(path + "/" + point[len(prefix) :])
            if self.table.holder(where) != path:
                continue  # a line of the file put something else there
            source = os.path.normpath(OLD_ROOT + point) if self.cleared else point
            member = Member(slot=self.capture(source, action), label=point, origin=point, create=False)
            self.table[where] = Target(members=[member], readonly=False, where=None, mounted=True, shown=[member])

    def join(
        self, op: Bind | Mount | Import, old: str, old_kind: str | None, point: int | None, new: list[Member],
        action: Action,
    ) -> None:
        """Put new members into old's union as the flags say; point holds old when this file made it."""
        target = self.table.get(old)
        union = "a" in op.flags or "b" in op.flags
        seeded = None
        if union:
            if old_kind not in ("dir", None):
                raise NewnsError(f"{self.show(old)}: -a and -b make unions of directories", op.old.where)
            if target is not None:
                base = target.members
            else:
                found = self.table.lookup(old)
                seed = Member(
                    slot=self.capture(old, action), label=self.show(old), origin=found.origin, create=False,
                    seed=True,
                )
                if found.fresh is not None:
                    seed.fresh, seed.made = True, _made_below(found.fresh.made or {}, found.inside)
                elif found.origin is not None:
                    seeded = found.origin
                base = [seed]
            members = base + new if "a" in op.flags else new + base
        else:
            members = new
        if len(members) > MAX_LAYERS:
            raise NewnsError(
                f"{self.show(old)}: a union of {len(members)} members; overlayfs takes at most {MAX_LAYERS}",
                op.where,
            )
        readonly = "r" in op.flags or union and target is not None and target.readonly
        if target is not None:  # what the plan mounted there stays until materialize replaces it
            target.members, target.readonly, target.where, target.placed = members, readonly, op.where, None
        else:
            self.table[old] = Target(members=members, readonly=readonly, where=op.where, point=point)
        if union:
            if old not in self.formed:
                self.formed[old] = (op.where.file, op.where.line)
        elif old in self.formed:
            self.found_replaced.add(self.formed.pop(old))
        if seeded is not None:
            self._caller_mounts(old, seeded, action)
        if len(members) == 1:
            self.materialize(old, action)
        else:
            self.pending.add(old)

    def mounted_on(self, path: str) -> bool | None:
        """Whether something is mounted on path as the namespace stands; None when that
        can't be told before the run (a member's own mounts, say)."""
        if path in self.table:
            return True
        holder = self.table.holder(path)
        if path in self.table.unknown or any(a in self.table.unknown for a in ancestors(path)):
            return None
        if holder is None:
            return path in self.world.mount_points()
        members = self.table[holder].members
        if len(members) > 1 or members[0].fresh or self.table.kind(path) == "missing":
            return False  # an overlay shows no mounts of its members, a new filesystem has none
        return None

    def new_slot(self) -> int:
        self.slots += 1
        return self.slots

    def capture(self, path: str, action: Action) -> int:
        slot = self.new_slot()
        action.steps.append(Capture(slot=slot, path=self.kernel_path(path)))
        return slot

    def flush_under(self, paths: tuple[str, ...]) -> None:
        """Mount the unions still to be mounted that a line looks inside, before that line runs
        (but those a later line replaces, which it looks through)."""
        if not self.pending:
            return
        above = [  # the pending are few, a path's ancestors many
            a for a in self.pending for p in paths
            if is_under(p, a) and not (self._never_mounted(a) and self.kernel_path(p) != p)
        ]
        if above:
            self._flush_each(above)

    def flush_inside(self, path: str) -> None:
        """Mount the unions still to be mounted under path."""
        if not self.pending:
            return
        inside = [p for p in self.pending if is_under(p, path)]
        if inside:
            self._flush_each(inside)

    def _flush_each(self, paths: list[str]) -> None:
        """Mount these pending unions, outermost first (an outer one may mount an inner one)."""
        for path in sorted(paths, key=len):
            if path in self.pending:
                self._flush(path)

    def flush_all(self) -> None:
        self._flush_each(list(self.pending))

    def _flush(self, path: str) -> None:
        target = self.table[path]
        assert target.where is not None, "a pending union was changed by a line"
        flush = Action(where=target.where, said=f"the union on {self.show(path)}", quiet=False, steps=[])
        self.materialize(path, flush)
        self.actions.append(flush)

    def materialize(self, path: str, action: Action) -> None:
        """Mount a target as its members now say: nothing, a bind or one overlay; then again on
        top what earlier lines mounted inside it and it still shows (see _cover)."""
        target = self.table[path]
        members = target.members
        self.pending.discard(path)
        source = members[0].at if len(members) == 1 else None
        carried = [(p[len(source) :], self.table[p]) for p in self.table.under(source)] if source else []
        kept = self._cover(path, target, source)
        replace = target.mounted
        target.mounted, target.placed, target.shown = False, None, None
        if not (len(members) == 1 and members[0].seed):
            self._mount_members(path, target, action, replace=replace)
        elif replace:
            action.steps.append(Detach(target=path))
        for rest, inside in carried:  # a bind copies what is mounted inside its source, as Plan 9 walks it
            self.table[path.rstrip("/") + rest] = Target(
                members=inside.members, readonly=inside.readonly, where=inside.where, mounted=True, shown=inside.shown
            )
        for inner in kept:
            self.table[inner].mounted = False
            self.table[inner].point = None  # its point is under what now covers it
            self.materialize(inner, action)

    def _mount_members(self, path: str, target: Target, action: Action, *, replace: bool) -> None:
        members = target.members
        target.placed = self.new_slot()
        if len(members) == 1:
            action.steps.append(
                Attach(
                    slot=members[0].slot, target=self.kernel_path(path), readonly=target.readonly, point=target.point,
                    placed=target.placed, replace=replace,
                )
            )
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
                Overlay(
                    target=path, lowers=lowers, upper=upper.slot if upper else None, readonly=target.readonly, members=names, point=target.point, placed=target.placed,
                    replace=replace,
                )
            )
        target.mounted = True
        target.shown = list(members)

    def _cover(self, path: str, target: Target, source: str | None) -> list[str]:
        """What earlier lines mounted inside path that stays when path is mounted again, nearest
        first; the rest is hidden, and forgotten (with a warning, unless it is inside source,
        the path a bind copies, and so comes along).

        As on Plan 9, a mount inside stays when the member that holds its mount
        point is still the one that shows there: an -a member added to a union
        keeps what was mounted inside its first members, a replacement hides it.
        Unions still to be mounted inside path are mounted first."""
        inside = self.table.under(path)
        if not inside:
            return []
        self._flush_each(inside)
        inside = self.table.under(path)
        direct = [p for p in inside if not any(is_under(p, q) for q in inside)]
        kept: list[str] = []
        hidden: list[str] = []
        for other in sorted(direct, key=len):
            rest = other[len(path) :].lstrip("/")
            now = provider(target.members, rest, self.world)
            if target.shown is None:
                stays = now is not None and now.seed
            else:
                before = provider(target.shown, rest, self.world)
                stays = now is not None and before is not None and now.slot == before.slot
            (kept if stays else hidden).append(other)
        lost = [p for p in hidden if self.table[p].where is not None and not (source and is_under(p, source))]
        lines = sorted({w.line for p in lost if (w := self.table[p].where) is not None})
        if lines:
            shown = [self.show(p) for p in sorted(lost)]
            self._warn(
                f"{self.show(path)} now hides what line{'s' if len(lines) > 1 else ''} "
                f"{', '.join(map(str, lines))} mounted inside it ({', '.join(shown)})",
                target.where,
            )
        for other in hidden:
            for gone in [other, *self.table.under(other)]:
                self.forget(gone)
        return kept

    def detach(self, path: str, action: Action, *, every: bool = True) -> None:
        """What is mounted on path goes, what this file mounted inside it too; every: and what
        was there before (`unmount old`), else what was there shows again."""
        action.steps.append(Detach(target=path, every=every))
        for other_path in [path, *self.table.under(path)]:
            self.forget(other_path)

    def forget(self, path: str) -> None:
        del self.table[path]
        self.pending.discard(path)
        self.formed.pop(path, None)



def _quoting_hint(word: Word) -> str:
    """For a path that is not there: a ~ or a \" the file meant as a shell would, or a
    relative path taken from where newns runs."""
    text = "".join(piece for piece in word.pieces if isinstance(piece, str) and not isinstance(piece, Quoted))
    if text.startswith("~"):
        return ": ~ is not special in a namespace file, write $home"
    if '"' in text:
        return ": a namespace file quotes with ' (as rc does), not \""
    first = word.pieces[0]
    if isinstance(first, str) and not first.startswith(("/", "#")):
        return ": a relative path is taken from the directory newns runs in, or the last cd"
    return ""


def _made_below(made: dict[str, str], inside: str) -> dict[str, str]:
    """The mount points made below inside, relative to it."""
    if not inside:
        return dict(made)
    prefix = inside + "/"
    return {path[len(prefix) :]: kind for path, kind in made.items() if path.startswith(prefix)}

