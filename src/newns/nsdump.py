"""--ns: a process's mount namespace as the lines that build it from the one it was built
from (the origin, where they are replayed), as Plan 9's ns(1) prints one.

The process's mounts (its /proc/PID/mountinfo) are taken in mount order, each
after the mount it is on. Where the process keeps the origin's root, the
origin's mounts it keeps need no line and those it lacks are unmounted; where
its root is another, the lines start with clear, and the origin is #old. A
mount of a filesystem the lines so far show (or #old does), showing the same
files, is a bind from where it shows; as newns binds recursively, the mounts
under it come along and need no line of their own (those the process lacks are
unmounted). A union newns built is its bind -a/-b/-c lines, from the member
list newns gives each overlay as its source; a /dev newns built is mount
'#dev'; another kernel filesystem is `mount '#type' path` with the options a
file can give back; an sshfs is an import line; a disk, or anything else, is a
comment. The working directory is the last line.
"""
from __future__ import annotations

from .diagnostics import printable
from .labels import RESOLV_CONF_SOURCE, union_members
from .mountinfo import unescape
from .nsfile import quote
from .interp import DEVICE_NODES
from .record import Record

KERNEL_FILESYSTEMS = frozenset(
    "tmpfs proc sysfs devpts mqueue cgroup cgroup2 securityfs debugfs tracefs pstore bpf "
    "hugetlbfs configfs fusectl binfmt_misc efivarfs ramfs devtmpfs autofs".split()
)
HOLDING_FILES = frozenset(("tmpfs", "ramfs"))
"""Kernel filesystems that hold what a command writes: a writable one is `mount -c`, as Plan 9's
ns(1) prints a mount that takes creations (in newns, -c on a plain mount changes nothing)."""
KEPT_OPTIONS = {
    "tmpfs": frozenset("size nr_inodes mode uid gid huge inode32 inode64 noswap".split()),
    "ramfs": frozenset(["mode"]),
    "devpts": frozenset("mode ptmxmode uid gid max newinstance".split()),
    "proc": frozenset("hidepid subset gid".split()),
    "cgroup2": frozenset(
        "nsdelegate favordynmods memory_localevents memory_recursiveprot memory_hugetlb_accounting "
        "pids_localevents".split()
    ),
    "hugetlbfs": frozenset("pagesize size min_size nr_inodes mode uid gid".split()),
    "bpf": frozenset("mode uid gid delegate_cmds delegate_maps delegate_progs delegate_attachs".split()),
    "debugfs": frozenset("mode uid gid".split()),
    "tracefs": frozenset("mode uid gid".split()),
}
"""The options of a superblock that a mount line gives back, for each type; a cgroup (v1) keeps
all but its release agent: its controllers, its name."""
DEV_MADE = frozenset(DEVICE_NODES) | {"console", "pts", "shm"}
"""What newns mounts in a #dev."""
DEV_OPTIONS = "size=64k,mode=755"
"""The options of the tmpfs of a #dev, as the kernel shows them, when its line gave none."""


class Mountinfo(Record):
    ident: str
    parent: str
    device: str
    root: str
    point: str
    options: str
    fstype: str
    source: str
    super_options: str

    def readonly(self) -> bool:
        return "ro" in self.options.split(",")

    def layers(self) -> tuple[int, bool]:
        """An overlay's lower layers, counted, and whether it has an upper one."""
        options = self.super_options.split(",")
        lowers = sum(1 for o in options if o.startswith("lowerdir+="))
        lowers += sum(len(o.split("=", 1)[1].split(":")) for o in options if o.startswith("lowerdir="))
        return lowers, any(o.startswith("upperdir=") for o in options)

    def kept_options(self) -> str:
        """The superblock's options a mount line can give back."""
        options = [o for o in self.super_options.split(",") if o not in ("", "rw", "ro")]
        if self.fstype == "cgroup":
            return ",".join(o for o in options if not o.startswith("release_agent="))
        kept = KEPT_OPTIONS.get(self.fstype, frozenset())
        return ",".join(o for o in options if o.partition("=")[0] in kept)


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
                fields[0], fields[1], fields[2], unescape(fields[3]), unescape(fields[4]), fields[5],
                fields[tail + 1], unescape(fields[tail + 2]), " ".join(fields[tail + 3 :]),
            )
        )
    return mounts


class Tree:
    """Mounts as the kernel holds them: each mount's children, and what a path shows."""

    def __init__(self, mounts: list[Mountinfo]) -> None:
        self.children: dict[str, list[Mountinfo]] = {}
        self.root: Mountinfo | None = None
        listed = {mount.ident for mount in mounts}
        for mount in mounts:
            self.add(mount, root=mount.parent not in listed and self.root is None)

    def add(self, mount: Mountinfo, *, root: bool = False) -> None:
        self.children.setdefault(mount.parent, []).append(mount)
        if root:
            self.root = mount

    def remove(self, mount: Mountinfo) -> None:
        """mount and the mounts on it."""
        self.children[mount.parent].remove(mount)
        for child in list(self.children.get(mount.ident, [])):
            self.remove(child)

    def shows(self, path: str) -> Mountinfo | None:
        """The mount whose files path leads into: from the root, the topmost mount on each
        directory of path that is a mount point."""
        mount = self.root
        for prefix in _prefixes(path):
            while mount is not None:
                above = [m for m in self.children.get(mount.ident, []) if m.point == prefix]
                if not above:
                    break
                mount = above[-1]
        return mount

    def under(self, mount: Mountinfo, path: str) -> list[Mountinfo]:
        """mount's children at path or below it."""
        return [m for m in self.children.get(mount.ident, []) if _at_or_under(m.point, path)]


def namespace_lines(mountinfo: str, cwd: str | None, origin: str) -> list[str]:
    """The lines that build a process's namespace (its mountinfo) from the one it was built
    from (origin's mountinfo, where the lines are replayed); the cd line only when the
    process's working directory could be read."""
    lines = Rebuild(parse(mountinfo), parse(origin)).lines()
    if cwd is not None:
        lines.append(f"cd {quote(cwd)}")
    return lines


class Rebuild:
    """The lines that build a namespace's mounts (mounts) from the origin's (old): on the
    origin's own root when the namespace keeps it, else after clear."""

    def __init__(self, mounts: list[Mountinfo], old: list[Mountinfo]) -> None:
        self.target = Tree(mounts)
        self.old = Tree(old)
        self.order = _parents_first(mounts)
        self.rebuilt: set[str] = set()
        self.kept: set[str] = set()  # the process's mounts that are the origin's, untouched
        self.built_as: dict[str, str] = {}  # each rebuilt mount's ident in built
        root, old_root = self.order[0], self.old.root
        self.cleared = old_root is None or _fs(root) != _fs(old_root)
        # the mounts the lines so far build, as the replay will have them
        self.built = Tree([]) if self.cleared else Tree(old)
        if not self.cleared and old_root is not None:
            self._keep(root, old_root.ident)

    def lines(self) -> list[str]:
        out = ["clear"] if self.cleared else []
        for mount in self.order:
            if mount.ident in self.kept:
                out += self._claim(mount)
            elif mount.ident not in self.rebuilt:
                out += self._rebuild(mount)
        return out

    def _keep(self, mount: Mountinfo, ident: str) -> None:
        self.kept.add(mount.ident)
        self.rebuilt.add(mount.ident)
        self.built_as[mount.ident] = ident

    def _claim(self, mount: Mountinfo) -> list[str]:
        """The origin's mounts on a kept one that the process keeps too, each taken for its
        own; unmounts of the others, which it lacks."""
        left = list(self.built.children.get(self.built_as[mount.ident], []))
        for child in self.target.children.get(mount.ident, []):
            same = next((m for m in left if m.point == child.point and _fs(m) == _fs(child)), None)
            if same is not None:
                left.remove(same)
                self._keep(child, same.ident)
        for extra in left:
            self.built.remove(extra)
        return [_words("unmount -q", extra.point) for extra in left]

    def _rebuild(self, mount: Mountinfo) -> list[str]:
        lines = self._bind(mount) or self._union(mount) or [self._mount(mount)]
        if mount.ident not in self.rebuilt:
            self._built(mount)
        return lines

    def _bind(self, mount: Mountinfo) -> list[str]:
        """A bind from where mount's files show: in #old after clear, else in what the lines
        so far build; then unmounts of what came with it that the process does not have."""
        sources = ((self.old, "#old"), (self.built, "")) if self.cleared else ((self.built, ""),)
        for tree, prefix in sources:
            found = _shown(tree, mount)
            if found is not None:
                shown, path = found
                brought = tree.under(shown, path)
                self._built(mount)
                extra = self._came_with(tree, brought, path, mount)
                bind = _words("bind -r" if mount.readonly() else "bind", prefix + path, mount.point)
                return [bind] + [_words("unmount -q", point) for point in extra]
        return []

    def _union(self, mount: Mountinfo) -> list[str]:
        """A union newns built, as lines; none for any other mount."""
        members = union_members(mount.source) if mount.fstype == "overlay" and mount.root == "/" else None
        if members is None or not _consistent(members, mount):
            return []
        named = [(_member_name(name, mount.point), create) for name, create in members]
        if any(name is None for name, _ in named):
            return []
        given = [(name, create) for name, create in named if name is not None]
        return union_lines(given, mount.point, mount.readonly())

    def _mount(self, mount: Mountinfo) -> str:
        """A new kernel filesystem as a mount line, a /dev newns built as mount '#dev'; a comment
        for anything else."""
        options = mount.kept_options()
        if self._is_dev(mount):
            self._built(mount)
            for made in self.target.children.get(mount.ident, []):
                self._built(made)
            return _words("mount", "#dev", mount.point, options if options != DEV_OPTIONS else "")
        if mount.fstype in KERNEL_FILESYSTEMS and mount.root == "/":
            flag = "-r" if mount.readonly() else "-c" if mount.fstype in HOLDING_FILES else ""
            return _words(f"mount {flag}".rstrip(), "#" + mount.fstype, mount.point, options)
        if mount.fstype == "tmpfs" and mount.source == RESOLV_CONF_SOURCE:
            return f"# {printable(mount.point)}: the resolv.conf the net lines give (naming the engine's DNS forward)"
        host, colon, remote = mount.source.partition(":")
        if mount.fstype == "fuse.sshfs" and colon and mount.root == "/" and host and not host.startswith("-"):
            return _words("import", host, remote or ".", mount.point)
        return (
            f"# {printable(mount.point)}: {printable(mount.fstype)} {printable(mount.source)}, "
            f"its {printable(mount.root)}"
        )

    def _built(self, mount: Mountinfo) -> None:
        """mount, as the line just printed makes it in built: on the rebuilt mount its own
        is on."""
        ident = "+" + mount.ident
        parent = self.built_as.get(mount.parent, "")
        made = Mountinfo(
            ident, parent, mount.device, mount.root, mount.point, mount.options, mount.fstype, mount.source,
            mount.super_options,
        )
        self.built.add(made, root=mount is self.order[0])
        self.built_as[mount.ident] = ident
        self.rebuilt.add(mount.ident)

    def _came_with(self, tree: Tree, brought: list[Mountinfo], path: str, mount: Mountinfo) -> list[str]:
        """A bind of path onto mount's point brings the mounts under path (brought) along:
        each is taken for the process's mount it stands for (now rebuilt). The mount points
        of those that stand for none, to unmount."""
        extra = []
        for below in brought:
            where = _join(mount.point, below.point[len(path.rstrip("/")) :])
            twin = next(
                (
                    m for m in self.target.children.get(mount.ident, [])
                    if m.ident not in self.rebuilt and (m.point, m.device, m.root) == (where, below.device, below.root)
                ),
                None,
            )
            if twin is None:
                extra.append(where)
                continue
            self._built(twin)
            extra += self._came_with(tree, tree.under(below, below.point), below.point, twin)
        return extra

    def _is_dev(self, mount: Mountinfo) -> bool:
        """Whether mount is a /dev newns built: a tmpfs holding the device nodes, a devpts
        and a shm of its own."""
        if mount.fstype != "tmpfs" or mount.root != "/":
            return False
        inside = len(mount.point.rstrip("/")) + 1
        made = {m.point[inside:]: m.fstype for m in self.target.children.get(mount.ident, [])}
        return made.get("pts") == "devpts" and made.get("shm") == "tmpfs" and set(made) <= DEV_MADE


def _shown(tree: Tree, mount: Mountinfo) -> tuple[Mountinfo, str] | None:
    """A mount in tree of mount's filesystem, holding mount's files where that path shows them:
    it and the path."""
    for mounts in tree.children.values():
        for candidate in mounts:
            if candidate is mount or candidate.device != mount.device or not _at_or_under(mount.root, candidate.root):
                continue
            path = _join(candidate.point, mount.root[len(candidate.root.rstrip("/")) :])
            if tree.shows(path) is candidate:
                return candidate, path
    return None


def _parents_first(mounts: list[Mountinfo]) -> list[Mountinfo]:
    """The mounts in mount order, each after the mount it is on."""
    by_ident = {mount.ident: mount for mount in mounts}
    order: list[Mountinfo] = []
    placed: set[str] = set()
    for mount in mounts:
        chain: list[Mountinfo] = []
        below: Mountinfo | None = mount
        while below is not None and below.ident not in placed:
            chain.append(below)
            placed.add(below.ident)
            below = by_ident.get(below.parent)
        order += reversed(chain)
    return order


def _fs(mount: Mountinfo) -> tuple[str, str, str]:
    """What a mount shows: its filesystem and the directory of it at its root."""
    return mount.device, mount.root, mount.fstype


def _prefixes(path: str) -> list[str]:
    """/, then each directory down to path."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _at_or_under(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def _join(point: str, rest: str) -> str:
    """point, then rest (a path below it, or /: point itself)."""
    return point.rstrip("/") + rest.rstrip("/") or "/"


def _is_old(name: str) -> bool:
    return name == "#old" or name.startswith("#old/")


def _words(command: str, *words: str) -> str:
    """A line: the command (with its flags), then the words that are not empty, quoted."""
    return " ".join([command] + [quote(word) for word in words if word])


def _member_name(name: str, target: str) -> str | None:
    """A union member's name as the rebuilding file gives it: the root after clear is the
    rebuilt root itself; None for a name the file can't give."""
    if name == "clear":
        return "/" if target == "/" else None
    return name


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
        verb = "bind" if _is_old(names[i]) or not names[i].startswith("#") else "mount"
        lines.append(" ".join(w for w in (verb, flags, quote(names[i]), quote(target)) if w))
    return lines
