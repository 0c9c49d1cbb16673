"""--ns: a process's mount namespace as a namespace file, as Plan 9's ns(1) prints one.

Read from /proc/PID/mountinfo, in mount order: a filesystem's first mount is
`mount '#type' path` (or a comment, for a disk, which a namespace file can't
mount); later mounts of the same filesystem are binds from where its files are
already seen; unions newns built are their bind -a/-b/-c lines, from the
member list newns gives each overlay as its source.
"""
from __future__ import annotations

from .diagnostics import printable
from .labels import union_members
from .nsfile import quote
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
    super_options: str

    def layers(self) -> tuple[int, bool]:
        """An overlay's lower layers, counted, and whether it has an upper one."""
        options = self.super_options.split(",")
        lowers = sum(1 for o in options if o.startswith("lowerdir+="))
        lowers += sum(len(o.split("=", 1)[1].split(":")) for o in options if o.startswith("lowerdir="))
        return lowers, any(o.startswith("upperdir=") for o in options)


def parse(text: str) -> list[Mountinfo]:
    """/proc/PID/mountinfo's lines: only a newline ends one, only a space separates fields."""
    mounts = []
    for line in text.split("\n"):
        fields = line.split(" ")
        if "-" not in fields[6:] or len(fields) < 10:
            continue
        tail = fields.index("-", 6)
        mounts.append(
            Mountinfo(
                fields[2], _unescape(fields[3]), _unescape(fields[4]), fields[5], fields[tail + 1],
                _unescape(fields[tail + 2]), " ".join(fields[tail + 3 :]),
            )
        )
    return mounts


def _unescape(text: str) -> str:
    """The kernel writes a space, tab, newline and backslash in a field as \\ooo."""
    if "\\" not in text:
        return text
    out, pos = [], 0
    while pos < len(text):
        digits = text[pos + 1 : pos + 4]
        if text[pos] == "\\" and len(digits) == 3 and set(digits) <= set("01234567"):
            out.append(chr(int(digits, 8)))
            pos += 4
        else:
            out.append(text[pos])
            pos += 1
    return "".join(out)


def namespace_lines(mountinfo: str, cwd: str | None) -> list[str]:
    """The lines; the cd line only when the process's working directory could be read."""
    lines = []
    seen: list[Mountinfo] = []
    for mount in parse(mountinfo):
        lines.extend(_lines(mount, seen))
        seen.append(mount)
    if cwd is not None:
        lines.append(f"cd {quote(cwd)}")
    return lines


def _lines(mount: Mountinfo, seen: list[Mountinfo]) -> list[str]:
    readonly = "ro" in mount.options.split(",")
    members = union_members(mount.source) if mount.fstype == "overlay" else None
    if members is not None and _consistent(members, mount):
        return union_lines(members, mount.point, readonly)
    for earlier in reversed(seen):
        if earlier.device == mount.device and (mount.root + "/").startswith(earlier.root.rstrip("/") + "/"):
            source = earlier.point.rstrip("/") + mount.root[len(earlier.root.rstrip("/")) :]
            return [f"bind{' -r' if readonly else ''} {quote(source or '/')} {quote(mount.point)}"]
    if mount.fstype in KERNEL_FILESYSTEMS and mount.root == "/":
        return [f"mount{' -r' if readonly else ''} {quote('#' + mount.fstype)} {quote(mount.point)}"]
    return [f"# {printable(mount.point)}: {printable(mount.fstype)} {printable(mount.source)}, its {printable(mount.root)}"]


def _consistent(members: list[tuple[str, bool]], mount: Mountinfo) -> bool:
    """Whether an overlay's member list agrees with its layers. Whoever mounts an overlay
    chooses its source; a list that does not fit is not believed (the mount is printed as
    a comment), nor is a union of one member, which is no union newns makes."""
    lowers, upper = mount.layers()
    creating = sum(1 for _, create in members if create)
    return len(members) >= 2 and creating == int(upper) and lowers + creating == len(members)


def union_lines(members: list[tuple[str, bool]], target: str, readonly: bool) -> list[str]:
    """Lines that build a union with these members (name, takes creations) in this order.

    The first -a or -b onto the target seeds the union with the target itself,
    so the members after it are added with -a in order, then those before it
    with -b from the nearest."""
    names = [name for name, _ in members]
    creates = [create for _, create in members]
    seed = names.index(target) if target in names else None
    if seed is None:
        order = [(0, "")] + [(i, "-a") for i in range(1, len(names))]
    else:
        order = [(i, "-a") for i in range(seed + 1, len(names))] + [(i, "-b") for i in range(seed - 1, -1, -1)]
    lines: list[str] = []
    for i, flag in order:
        flags = flag + ("c" if creates[i] else "") + ("r" if readonly and not lines else "")
        flags = ("-" + flags.lstrip("-")) if flags else ""
        verb = "mount" if names[i].startswith("#") else "bind"
        lines.append(" ".join(w for w in (verb, flags, quote(names[i]), quote(target)) if w))
    return lines
