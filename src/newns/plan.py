"""The kernel steps the interpreter plans and ops.py carries out.

Objects are held in numbered slots: a Capture opens a path when its step
runs, so a member of a union is the object that was there when its line ran,
whatever is mounted over that path later (Plan 9's bind by object).
"""
from __future__ import annotations


from .errors import NewnsError, Where
from .record import Record


class Capture(Record):
    """Hold the file or directory now at path."""

    slot: int
    path: str


class NewFs(Record):
    """Hold a fresh, unattached kernel filesystem of type fstype."""

    slot: int
    fstype: str
    options: str | None


class Attach(Record):
    """Mount a copy of the tree held in slot (with its submounts) onto target."""

    slot: int
    target: str
    readonly: bool


class Overlay(Record):
    """Mount one overlay on target: lowers top first, upper takes creations.

    members names the union's members in Plan 9 order, each as the file
    named it and whether it takes creations; the mount carries them as its
    source, so that --ns can print the union back as lines."""

    target: str
    lowers: tuple[int, ...]
    upper: int | None
    readonly: bool
    members: tuple[tuple[str, bool], ...] = ()


class Detach(Record):
    """Unmount what is mounted on target, with everything under it."""

    target: str


class MakePoint(Record):
    """Make a missing mount point inside a filesystem this file made."""

    path: str
    directory: bool


class Reroot(Record):
    """Start an empty namespace (clear): from here on, the namespace built so
    far is at OLD_ROOT, and the new one is an empty tmpfs at NEW_ROOT, held in
    slot; the command gets NEW_ROOT as its root, and can't reach OLD_ROOT."""

    slot: int


class Devices(Record):
    """Fill a fresh /dev at target: the caller's device nodes held in slots,
    the caller's terminal as console, a devpts of its own, a tmpfs for shm,
    the usual links."""

    target: str
    nodes: tuple[tuple[str, int], ...]


class Release(Record):
    """Let go of objects no later step uses (so a long file holds few descriptors)."""

    slots: tuple[int, ...]


Step = Capture | NewFs | Attach | Overlay | Detach | MakePoint | Reroot | Devices | Release


def slots_used(step: Step) -> tuple[int, ...]:
    """The slots a step makes or reads."""
    if isinstance(step, (Capture, NewFs, Attach, Reroot)):
        return (step.slot,)
    if isinstance(step, Overlay):
        return step.lowers if step.upper is None else (*step.lowers, step.upper)
    if isinstance(step, Devices):
        return tuple(slot for _, slot in step.nodes)
    return ()

OLD_ROOT = "/oldroot"
NEW_ROOT = "/newroot"


class Action(Record):
    """The steps of one line (text is the line after expansion, for -d)."""

    where: Where
    text: str | None
    quiet: bool
    steps: list[Step]


class Plan(Record):
    actions: list[Action]
    cwd: str
    cwd_where: Where | None
    warnings: list[NewnsError]
    work_dirs: bool = False  # an overlay writes to a real directory: newns must clean up after it
    cleared: bool = False  # the command's root is NEW_ROOT
    pid_namespace: bool = False  # a #proc of its own: newns stays as the command's init
