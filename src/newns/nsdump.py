"""--ns: a process's mount namespace as a namespace file, as Plan 9's ns(1) prints one.

Read from /proc/PID/mountinfo, in mount order: a filesystem's first mount is
`mount '#type' path` (or a comment, for a disk, which a namespace file can't
mount); later mounts of the same filesystem are binds from where its files are
already seen; unions newns built are their bind -a/-b/-c lines, from the
member list newns gives each overlay as its source.
"""
from __future__ import annotations

import re

from .interp import quote
from .ops import UNION_SOURCE
from .record import Record

KERNEL_FILESYSTEMS = frozenset(
    "tmpfs proc sysfs devpts mqueue cgroup cgroup2 securityfs debugfs tracefs pstore bpf "
    "hugetlbfs configfs fusectl binfmt_misc efivarfs ramfs devtmpfs autofs".split()
)


class Mountinfo(Record):
    device: str
    root: str
    point: str
    options: str
    fstype: str
    source: str


def parse(text: str) -> list[Mountinfo]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        tail = fields.index("-")
        mounts.append(
            Mountinfo(
                fields[2], _unescape(fields[3]), _unescape(fields[4]), fields[5], fields[tail + 1], _unescape(fields[tail + 2])
            )
        )
    return mounts


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def namespace_lines(mountinfo: str, cwd: str) -> list[str]:
    lines = []
    seen: list[Mountinfo] = []
    for mount in parse(mountinfo):
        lines.extend(_lines(mount, seen))
        seen.append(mount)
    lines.append(f"cd {quote(cwd)}")
    return lines


def _lines(mount: Mountinfo, seen: list[Mountinfo]) -> list[str]:
    readonly = "ro" in mount.options.split(",")
    if mount.fstype == "overlay" and mount.source.startswith(UNION_SOURCE):
        return union_lines(mount.source[len(UNION_SOURCE) :].split("\n"), mount.point, readonly)
    for earlier in reversed(seen):
        if earlier.device == mount.device and (mount.root + "/").startswith(earlier.root.rstrip("/") + "/"):
            source = earlier.point.rstrip("/") + mount.root[len(earlier.root.rstrip("/")) :]
            return [f"bind{' -r' if readonly else ''} {quote(source or '/')} {quote(mount.point)}"]
    if mount.fstype in KERNEL_FILESYSTEMS and mount.root == "/":
        return [f"mount{' -r' if readonly else ''} {quote('#' + mount.fstype)} {quote(mount.point)}"]
    return [f"# {mount.point}: {mount.fstype} {mount.source}, its {mount.root}"]


def union_lines(members: list[str], target: str, readonly: bool) -> list[str]:
    """Lines that build a union with these members in this order ('+' marks creation).

    The first -a or -b onto the target seeds the union with the target itself,
    so the members after it are added with -a in order, then those before it
    with -b from the nearest."""
    names = [m.removeprefix("+") for m in members]
    creates = [m.startswith("+") for m in members]
    seed = names.index(target) if target in names else None
    if seed is None:
        order = [(0, "")] + [(i, "-a") for i in range(1, len(names))]
    else:
        order = [(i, "-a") for i in range(seed + 1, len(names))] + [(i, "-b") for i in range(seed - 1, -1, -1)]
    lines = []
    for i, flag in order:
        flags = flag + ("c" if creates[i] else "") + ("r" if readonly and not lines else "")
        flags = ("-" + flags.lstrip("-")) if flags else ""
        verb = "mount" if names[i].startswith("#") else "bind"
        lines.append(" ".join(w for w in (verb, flags, quote(names[i]), quote(target)) if w))
    return lines
