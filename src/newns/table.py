"""Plan 9's mount table as the plan builds it, and what a path holds in it.

Each mounted-on path (a target) has an ordered list of members. Looking a path
up walks the table as Plan 9 does: the nearest target above the path, then its
members in order, the first holding the rest of the path wins. A member is
either a directory of the caller's namespace (checked on disk) or a new
filesystem made by the file (empty but for the mount points newns makes in
it), so most paths can be checked before anything is mounted.
"""
from __future__ import annotations

import os.path

from .diagnostics import Where
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Iterator

    from .world import World


class Member(Record):
    """One member of a target's union."""

    slot: int
    label: str  # the path or source the file named, for `unmount new old` and messages
    origin: str | None  # where its files are in the caller's namespace; None: unknown
    create: bool
    fresh: bool = False  # a new filesystem: holds only what `made` lists
    seed: bool = False  # the target's own directory, from the first -a or -b
    made: dict[str, str] | None = None  # for a new filesystem: path inside -> kind of what newns made there
    at: str | None = None  # the path it was bound from, when what was mounted inside it comes along


class Target(Record):
    """A mounted-on path: its members, and what the plan has mounted there."""

    members: list[Member]
    readonly: bool
    where: Where | None  # the last line that changed it
    mounted: bool = False
    placed: int | None = None  # the slot holding what the plan mounted there
    point: int | None = None  # the slot holding its mount point, when this file made it
    shown: list[Member] | None = None  # the members as the plan last mounted them


class Found(Record):
    """What the table says a path holds."""

    kind: str | None  # 'dir', 'file', 'other' or 'missing'; None: can't tell
    origin: str | None = None  # the same file in the caller's namespace
    fresh: Member | None = None  # the new filesystem holding it
    inside: str = ""  # its path inside that filesystem
    member: Member | None = None  # the union member it was found in


class MountTable(dict[str, Target]):
    """Targets by absolute path."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.unknown: set[str] = set()  # paths whose contents the plan can't tell
        self._below: dict[str, int] = {}  # path -> how many targets are under it
        self._depths: dict[int, int] = {}  # depth -> how many targets are that deep

    def __setitem__(self, path: str, target: Target) -> None:
        if path not in self:
            for above in ancestors(path):
                self._below[above] = self._below.get(above, 0) + 1
            depth = _depth(path)
            self._depths[depth] = self._depths.get(depth, 0) + 1
        super().__setitem__(path, target)

    def __delitem__(self, path: str) -> None:
        super().__delitem__(path)
        for above in ancestors(path):
            self._below[above] -= 1
        depth = _depth(path)
        self._depths[depth] -= 1
        if not self._depths[depth]:
            del self._depths[depth]

    def lookup(self, path: str) -> Found:
        unknown = self.unknown
        if not self and not unknown:
            return Found(kind=self.world.kind(path), origin=path)
        top = 0 if unknown else min(self._depths)  # the walk up from path ends at the shallowest target
        prefix, depth = path, _depth(path)
        while depth >= top:
            if prefix in unknown:
                return Found(kind=None)
            target = self.get(prefix)
            if target is not None:
                return _lookup_in(target, path[len(prefix) :].lstrip("/"), self.world)
            prefix, depth = prefix[: prefix.rindex("/")] or "/", depth - 1
        return Found(kind=self.world.kind(path), origin=path)

    def kind(self, path: str) -> str | None:
        return self.lookup(path).kind

    def holder(self, path: str) -> str | None:
        """The nearest target at or above path."""
        return next((p for p in (path, *ancestors(path)) if p in self), None)

    def mounted_above(self, path: str) -> str | None:
        """The nearest target at or above path that the plan has mounted."""
        return next((p for p in (path, *ancestors(path)) if p in self and self[p].placed is not None), None)

    def under(self, path: str) -> list[str]:
        """Targets strictly under path."""
        if not self._below.get(path):
            return []
        return [p for p in self if is_under(p, path)]


def _lookup_in(target: Target, rest: str, world: World) -> Found:
    """Find rest in a union: the first member that holds it (Plan 9's walk)."""
    for member in target.members:
        if member.fresh:
            kind = "dir" if not rest else (member.made or {}).get(rest)
            if kind:
                return Found(kind=kind, fresh=member, inside=rest, member=member)
            continue
        if member.origin is None:
            return Found(kind=None)
        candidate = os.path.join(member.origin, rest) if rest else member.origin
        kind = world.kind(candidate)
        if kind != "missing":
            return Found(kind=kind, origin=candidate, member=member)
    return Found(kind="missing")


def provider(members: list[Member], rest: str, world: World) -> Member | None:
    """The member of a union that holds rest (a path inside it); None when none does, or
    when that can't be told."""
    return _lookup_in(Target(members=members, readonly=False, where=None), rest, world).member


def ancestors(path: str) -> Iterator[str]:
    """path's directories, nearest first, / last."""
    while path != "/":
        path = path[: path.rindex("/")] or "/"
        yield path


def _depth(path: str) -> int:
    """How many names an absolute path has: 0 for /."""
    return path.count("/") if path != "/" else 0


def is_under(path: str, ancestor: str) -> bool:
    base = ancestor.rstrip("/")
    return path.startswith(base) and path[len(base) : len(base) + 1] == "/" and path != ancestor
