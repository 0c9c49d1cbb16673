"""The kernel steps the interpreter plans and linux/door.py carries out.

Objects are held in numbered slots: a Capture opens a path when its step
runs, so a member of a union is the object that was there when its line ran,
whatever is mounted over that path later (Plan 9's bind by object).
"""
from __future__ import annotations

from .diagnostics import Diagnostic, Where
from .record import Record, dispatch

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable
    from typing import Any

    from .network import Network


class Capture(Record):
    """Hold the file or directory now at path."""

    slot: int
    path: str


class NewFs(Record):
    """Hold a fresh, unattached kernel filesystem of type fstype."""

    slot: int
    fstype: str
    options: str | None


class Import(Record):
    """Hold a new FUSE filesystem served by sshfs: remote on host, over SSH."""

    slot: int
    host: str
    remote: str


class Attach(Record):
    """Mount a copy of the tree held in slot (with its submounts) onto target, or onto the
    mount point held in point; hold what was mounted in placed. replace: unmount what the
    plan mounted on target first, once the copy is made (it may be a copy of what is inside it)."""

    slot: int
    target: str
    readonly: bool
    point: int | None
    placed: int
    replace: bool = False


class Overlay(Record):
    """Mount one overlay on target: lowers top first, upper takes creations.

    members names the union's members in Plan 9 order, each as the file
    named it and whether it takes creations; the mount carries them as its
    source, so that --ns can print the union back as lines."""

    target: str
    lowers: tuple[int, ...]
    upper: int | None
    readonly: bool
    members: tuple[tuple[str, bool], ...]
    point: int | None
    placed: int
    replace: bool = False  # as Attach's


class Detach(Record):
    """Unmount what is mounted on target, with everything under it; every: also what was
    mounted there before it, down to the directory (an unmount line)."""

    target: str
    every: bool = False


class MakePoint(Record):
    """Make a missing mount point (path) inside a filesystem this file made: inside, a
    relative path, below the mount held in base, made one name at a time and following no
    symlink; hold what was made in slot. Nothing is made by walking a path from the root,
    whose directories others may change."""

    slot: int
    base: int
    inside: str
    directory: bool
    path: str


class Reroot(Record):
    """Start an empty namespace (clear): from here on, the namespace built so
    far is at OLD_ROOT, and the new one is an empty tmpfs, held in slot (to be
    a union's member), mounted at NEW_ROOT (what was mounted held in placed);
    the command gets NEW_ROOT as its root, and can't reach OLD_ROOT."""

    slot: int
    placed: int


class Devices(Record):
    """Fill the fresh tmpfs held in base, mounted at target, as a /dev: the caller's device
    nodes held in slots, the caller's terminal as console, a devpts of its own, a tmpfs for
    shm, the usual links."""

    base: int
    target: str
    nodes: tuple[tuple[str, int], ...]


class Release(Record):
    """Let go of objects no later step uses (so a long file holds few descriptors)."""

    slots: tuple[int, ...]


Step = Capture | NewFs | Import | Attach | Overlay | Detach | MakePoint | Reroot | Devices | Release


def slots_used(step: Step) -> tuple[int, ...]:
    """The slots a step makes or reads."""
    return dispatch(_SLOTS_USED, step, of="slots_used")


_SLOTS_USED: dict[type, Callable[[Any], tuple[int, ...]]] = {
    Capture: lambda step: (step.slot,),
    NewFs: lambda step: (step.slot,),
    Import: lambda step: (step.slot,),
    Reroot: lambda step: (step.slot, step.placed),
    Attach: lambda step: _present(step.slot, step.point, step.placed),
    Overlay: lambda step: _present(*step.lowers, step.upper, step.point, step.placed),
    MakePoint: lambda step: (step.slot, step.base),
    Devices: lambda step: (step.base, *(slot for _, slot in step.nodes)),
    Detach: lambda step: (),
    Release: lambda step: (),
}


def _present(*slots: int | None) -> tuple[int, ...]:
    return tuple(slot for slot in slots if slot is not None)

OLD_ROOT = "/oldroot"
NEW_ROOT = "/newroot"


class Action(Record):
    """The steps of one line; op is the line's place in the file's operations, None for a
    union mounted on behalf of earlier lines. said: the line after expansion (text, for -d
    and messages), or how to make it: most runs never show it."""

    where: Where
    said: str | Callable[[], str] | None
    quiet: bool
    steps: list[Step]
    op: int | None = None

    @property
    def text(self) -> str | None:
        if callable(self.said):
            self.said = self.said()
        return self.said


class Settings(Record):
    """What the command gets beyond its mounts: namespaces of its own, ids, environment."""

    isolated: tuple[str, ...] = ()  # namespaces of the command's own beyond mounts: "net", "ipc", "uts"
    hostname: str | None = None
    ids: tuple[int, int] | None = None  # `user`: the uid and gid the command runs with
    user_line: Where | None = None  # where ids came from
    env: dict[str, str] | None = None  # the command's environment, when the file changed it
    setuid_allowed: bool = False  # `allow setuid`: no no_new_privs for the command
    network: Network | None = None  # net lines: a network of the command's own, through an engine


class Plan(Record):
    """A whole file as kernel steps (its actions, in order), with what the command gets besides."""

    actions: list[Action]
    cwd: str
    cwd_where: Where | None
    warnings: list[Diagnostic]
    settings: Settings
    work_dirs: Where | None = None  # the first union that creates in a real directory: it needs work directories
    cleared: bool = False  # the command's root is NEW_ROOT
    pid_namespace: bool = False  # a #proc of its own: newns stays as the command's init
    imports: bool = False  # an import: sshfs is started beside newns, in the caller's namespaces
