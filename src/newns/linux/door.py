"""The door to the kernel: carries out a plan's steps, the only way newns mounts anything.

Mounts use the kernel's new mount API: objects are held as descriptors and
mounted by descriptor, so a mount lands on exactly the object that was
opened, and an overlay's layers are the objects their lines named, whatever
was mounted over those paths afterwards. What newns makes (mount points,
/dev's contents) is made relative to the descriptor of the filesystem it
belongs to, one name at a time, following no symlink.
"""
from __future__ import annotations

import errno
import os
import stat
import sys

from ..diagnostics import NewnsError, printable
from ..labels import union_source
from ..mountinfo import mount_points
from ..plan import (
    NEW_ROOT, OLD_ROOT, Action, Attach, Capture, Detach, Devices, Import, MakePoint, NewFs, Overlay, Plan, Release, Reroot,
    Step,
)
from ..record import dispatch
from . import libc

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: typing costs every start of newns
    from collections.abc import Callable
    from typing import Any

    from .sshfs import Importer
    from .workdirs import WorkArea

DEVICE_LINKS = (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))
DEVICE_MOUNTS = (("pts", "devpts", "newinstance,ptmxmode=0666,mode=0620"), ("shm", "tmpfs", "mode=1777"))


KERNEL_OWN = {
    0x9FA0: "proc", 0x62656572: "sysfs", 0x63677270: "cgroup2", 0x27E0EB: "cgroup", 0x64626720: "debugfs",
    0x74726163: "tracefs", 0x73636673: "securityfs", 0x1CD1: "devpts", 0xCAFE4A11: "bpf", 0x42494E4D: "binfmt_misc",
}
"""Filesystems of the kernel's own, by statfs's f_type, that overlayfs takes no layer from."""


class Refused(Exception):
    """The kernel refused a step of action: the problem, at the action's line."""

    def __init__(self, action: Action, problem: NewnsError) -> None:
        super().__init__(str(problem))
        self.action = action
        self.problem = problem


class Door:
    """Carries out a plan's steps, holding captured objects as descriptors in numbered slots."""

    def __init__(
        self, *, debug: bool, rootless: bool, work: WorkArea | None = None, importer: Importer | None = None,
        rehearsal: bool = False,
    ) -> None:
        """rehearsal (--check): in a namespace that is thrown away, and writing nothing that
        outlives it: a filesystem that is not one of the kernel's own in memory (a disk, an
        overlay named by its options) and a real directory that takes a union's creations
        are stood in for by a tmpfs."""
        self.debug = debug
        self.rehearsal = rehearsal
        self.stand_ins: list[int] = []  # a rehearsal's tmpfs uppers
        self.importer = importer
        self.rootless = rootless
        self.work = work
        self.work_run: int | None = None  # the run's work directory, as this namespace sees it
        self.fds: dict[int, int] = {}
        self.fresh: set[int] = set()  # slots holding a filesystem this plan made
        self.uppers_made: set[int] = set()  # fresh slots with upper and work directories made in them
        self.console: int | None = None
        self.stage = Stage(self._mount_id)
        self.proc = "/proc"  # where this process finds /proc: under OLD_ROOT once clear moved the root
        self._steps: dict[type, Callable[[Any], None]] = {
            Capture: self._capture, NewFs: self._new_fs, Import: self._import, Attach: self._attach, Overlay: self._overlay,
            Detach: self._detach, MakePoint: self._make_point, Reroot: self._reroot, Devices: self._devices,
            Release: self._release,
        }

    def run(self, plan: Plan) -> None:
        """Every action in order; the first the kernel refuses raises Refused."""
        if os.isatty(0) and any(isinstance(s, Devices) for a in plan.actions for s in a.steps):
            self.console = _terminal(self.proc)
        try:
            for action in plan.actions:
                if self.debug and action.text and action.op is not None:
                    print(printable(action.text), file=sys.stderr)
                self.act(action)
        except BaseException:
            try:
                self.stage.remove()  # in a namespace --attach -f changes, which stays
            except OSError:
                pass
            raise
        self.stage.remove()

    def act(self, action: Action) -> None:
        for step in action.steps:
            try:
                self.step(step)
            except OSError as e:
                what = action.text or "a step"
                raise Refused(action, NewnsError(f"{what}: {self.explain(step, e)}", action.where)) from None

    def step(self, step: Step) -> None:
        dispatch(self._steps, step, of="the door")

    def close(self) -> None:
        self.stage.close()
        for fd in [*self.fds.values(), *self.stand_ins]:
            os.close(fd)
        self.fds.clear()
        self.stand_ins.clear()
        for held in (self.console, self.work_run):
            if held is not None:
                os.close(held)
        self.console = self.work_run = None

    def fd_path(self, fd: int, rest: str = "") -> str:
        return f"{self.proc}/self/fd/{fd}" + (f"/{rest}" if rest else "")

    # -- the steps ---------------------------------------------------------------

    def _capture(self, step: Capture) -> None:
        self.fds[step.slot] = self._outside_stage(_open_path(step.path), step.path)

    def _new_fs(self, step: NewFs) -> None:
        if self.rehearsal and step.fstype not in REHEARSED:
            if step.fstype not in _known_filesystems(self.proc):
                raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
            self.fds[step.slot] = self.stage.attach(new_fs("tmpfs", None))
        else:
            self.fds[step.slot] = self.stage.attach(new_fs(step.fstype, step.options))
        self.fresh.add(step.slot)

    def _import(self, step: Import) -> None:
        assert self.importer is not None, "a plan with import lines is carried out with an Importer"
        mnt = self.importer.mount(step.host, step.remote)
        if mnt is None:  # a rehearsal: an empty directory stands in
            mnt = new_fs("tmpfs", None)
        self.fds[step.slot] = self.stage.attach(mnt)
        os.stat(self.fd_path(mnt))  # sshfs's first answer: the remote directory's owner and mode

    def _attach(self, step: Attach) -> None:
        mnt = libc.open_tree_clone(self.fds[step.slot], recursive=True)
        self._place(mnt, step.target, step.point, step.readonly, step.replace)
        self.fds[step.placed] = mnt

    def _detach(self, step: Detach) -> None:
        target = os.fsencode(step.target)
        libc.umount_detach(target)
        while step.every and step.target in self._mount_points():
            libc.umount_detach(target)

    def _release(self, step: Release) -> None:
        for slot in step.slots:
            if slot in self.fds:
                os.close(self.fds.pop(slot))

    def _make_point(self, step: MakePoint) -> None:
        self.fds[step.slot] = make_beneath(self.fds[step.base], step.inside, directory=step.directory)

    def _overlay(self, step: Overlay) -> None:
        layers = [self.fds[slot] for slot in step.lowers]
        options: list[tuple[str, str | None]] = []
        if step.upper is not None and self.rehearsal and step.upper not in self.fresh:
            stand_in = self.stage.attach(new_fs("tmpfs", None))
            self.stand_ins.append(stand_in)
            os.mkdir("upper", 0o755, dir_fd=stand_in)
            os.mkdir("work", 0o700, dir_fd=stand_in)
            options += [("upperdir", self.fd_path(stand_in, "upper")), ("workdir", self.fd_path(stand_in, "work"))]
        elif step.upper is not None:
            upper, work = self._upper(step.upper, layers[0] if layers else None)
            options += [("upperdir", upper), ("workdir", work)]
        if self.rootless:
            options.append(("userxattr", None))
        options += [("index", "off"), ("xino", "off")]
        source = union_source(step.members)
        try:
            mnt = _new_overlay(layers, self.fd_path, options, source)
        except OSError as e:
            if "lowerdir+" not in (e.strerror or ""):
                raise
            self.fds[step.placed] = self._old_overlay([self.fd_path(fd) for fd in layers], options, source, step)
            return
        self._place(mnt, step.target, step.point, step.readonly, step.replace)
        self.fds[step.placed] = mnt

    def _upper(self, slot: int, top: int | None) -> tuple[str, str]:
        """The upper and work directories for a member that takes creations. A new upper
        directory takes the owner and mode of the union's top layer (top), whose root it
        becomes: a checkout stays its owner's to write in."""
        fd = self.fds[slot]
        if slot in self.fresh:
            if slot not in self.uppers_made:
                os.mkdir("upper", 0o755, dir_fd=fd)
                os.mkdir("work", 0o700, dir_fd=fd)
                if top is not None:
                    _same_owner_and_mode("upper", fd, os.stat(self.fd_path(top)))
                self.uppers_made.add(slot)
            return self.fd_path(fd, "upper"), self.fd_path(fd, "work")
        if self.work is None:
            raise AssertionError("the plan asks for work directories, and none were made")
        if self.work_run is None:
            self.work_run = self.work.reopen(os.geteuid())
        if self._mount_id(fd) != self._mount_id(self.work_run):
            raise OSError(
                errno.EXDEV,
                f"overlayfs needs its work directory on the same mount as the directory taking creations, "
                f"and {self.work.path} is not: set XDG_CACHE_HOME to a directory on that filesystem, "
                "or take creations in a #tmpfs member",
            )
        return self.fd_path(fd), self.fd_path(self.work_run, self.work.make(self.work_run))

    def _old_overlay(self, layers: list[str], options: list[tuple[str, str | None]], source: str, step: Overlay) -> int:
        """An overlay mounted with mount(2), for kernels before lowerdir+; what was mounted.

        mount(2) takes the layers as one option string and cuts it at a page,
        silently: each layer is named by its descriptor, relative to the
        directory of descriptors, so that 500 of them fit."""
        fds = f"{self.proc}/self/fd/"
        words = ["lowerdir=" + ":".join(layer.removeprefix(fds) for layer in layers)]
        words += [key if value is None else f"{key}={value.removeprefix(fds)}" for key, value in options]
        data = ",".join(words).encode("utf-8", "surrogateescape")
        if len(data) >= 4096:
            raise OSError(errno.E2BIG, "too many members for this kernel's overlayfs (Linux 6.8 takes up to 500)")
        if step.replace:
            libc.umount_detach(os.fsencode(step.target))
        dest = self.fds[step.point] if step.point is not None else self._outside_stage(_open_path(step.target), step.target)
        back = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(fds)
            libc.mount(os.fsencode(source), str(dest).encode(), b"overlay", data)
        finally:
            os.fchdir(back)
            os.close(back)
            if step.point is None:
                os.close(dest)
        mnt = _open_path(step.target)
        if step.readonly:
            libc.set_readonly(mnt)
        return mnt

    def _reroot(self, step: Reroot) -> None:
        """Move to a hidden tmpfs root holding the old root at OLD_ROOT and an empty new one
        at NEW_ROOT (bubblewrap's way). The slot holds the new root, in the stage, which stays
        usable (as a union's upper layer, say) when NEW_ROOT is unmounted to be mounted over."""
        place = "/tmp" if os.path.isdir("/tmp") else "/mnt"
        base = new_fs("tmpfs", "mode=0755")
        try:
            os.mkdir(OLD_ROOT.lstrip("/"), 0o755, dir_fd=base)
            os.mkdir(NEW_ROOT.lstrip("/"), 0o755, dir_fd=base)
            self._place(base, place, None, False)
            self.stage.stack_on(base)
            root = self.stage.attach(new_fs("tmpfs", "mode=0755"))
            self.fds[step.slot] = root
            self.fresh.add(step.slot)
            point = os.open(NEW_ROOT.lstrip("/"), os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=base)
            try:
                self.fds[step.placed] = libc.open_tree_clone(root, recursive=False)
                libc.move_mount(self.fds[step.placed], point)
            finally:
                os.close(point)
            os.fchdir(base)
        finally:
            os.close(base)
        libc.pivot_root(b".", OLD_ROOT.lstrip("/").encode())
        os.chdir("/")
        self.proc = OLD_ROOT + "/proc"

    def _devices(self, step: Devices) -> None:
        """A /dev of the caller's harmless devices, and a pts and shm of its own."""
        base = self.fds[step.base]
        nodes = [(name, self.fds[slot]) for name, slot in step.nodes]
        if self.console is not None:
            nodes.append(("console", self.console))
        for name, node in nodes:
            point = make_beneath(base, name, directory=False)
            try:
                copy = libc.open_tree_clone(node, recursive=False)
                try:
                    libc.move_mount(copy, point)
                finally:
                    os.close(copy)
            finally:
                os.close(point)
        for name, fstype, options in DEVICE_MOUNTS:
            point = make_beneath(base, name, directory=True)
            mnt = new_fs(fstype, options)
            try:
                libc.move_mount(mnt, point)
            finally:
                os.close(mnt)
                os.close(point)
        for name, link in DEVICE_LINKS:
            os.symlink(link, name, dir_fd=base)

    # -- helpers ---------------------------------------------------------------

    def _place(self, mnt: int, target: str, point: int | None, readonly: bool, replace: bool = False) -> None:
        """Mount the detached mount mnt onto the mount point held in point, or else onto the
        object now at target; read-only, every mount in it, if asked; replace: in place of
        what is mounted on target."""
        if readonly:
            libc.set_readonly(mnt)
        if replace:
            libc.umount_detach(os.fsencode(target))
        if point is not None:
            libc.move_mount(mnt, self.fds[point])
            return
        dest = self._outside_stage(_open_path(target), target)
        try:
            libc.move_mount(mnt, dest)
        finally:
            os.close(dest)

    def _outside_stage(self, fd: int, path: str) -> int:
        """fd (path, opened), unless it leads into the stage (through /.., say): closed, and refused."""
        if self.stage.holds(fd):
            os.close(fd)
            raise OSError(errno.EXDEV, f"{path} leads (through /..) to where newns keeps what it makes while it builds")
        return fd

    def _mount_id(self, fd: int) -> int | None:
        with open(f"{self.proc}/self/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("mnt_id:"):
                    return int(line.split()[1])
        return None

    def explain(self, step: Step, error: OSError) -> str:
        """The kernel's refusal, with what it means for this step."""
        message = error.strerror or os.strerror(error.errno or 0)
        if isinstance(step, NewFs) and error.errno == errno.ENODEV:
            return f"this kernel has no filesystem type {step.fstype!r} (see /proc/filesystems)"
        if isinstance(step, NewFs) and error.errno == errno.EPERM and self.rootless:
            return f"{message}: a user namespace may not mount #{step.fstype}; run newns as root"
        if isinstance(step, Overlay) and error.errno == errno.ELOOP:
            return f"{message}: overlayfs refuses members that contain one another or the target"
        if isinstance(step, Overlay) and error.errno == errno.EINVAL:
            for slot in (*step.lowers, *([step.upper] if step.upper is not None else [])):
                kind = KERNEL_OWN.get(libc.filesystem_type(self.fds[slot]))
                if kind is not None:
                    layer = _as_named(os.readlink(self.fd_path(self.fds[slot])))
                    return (
                        f"{message}: {layer} is in a {kind} filesystem, which overlayfs can't take as a union's "
                        "member (the kernel's own filesystems make no layers): bind the files you need instead"
                    )
        if isinstance(step, Overlay) and error.errno == errno.EINVAL and self.rootless:
            crowded = []
            for slot in step.lowers:
                layer = os.readlink(self.fd_path(self.fds[slot]))
                if mounts := self._mounts_under(layer):
                    shown = [_as_named(p) for p in mounts[:3]]
                    crowded.append(f"{_as_named(layer)} has {', '.join(shown)}{' ...' if len(mounts) > 3 else ''}")
            if crowded:
                return (
                    f"{message}: in a user namespace overlayfs can't use a member with mounts under it "
                    f"({'; '.join(crowded)}): bind the directories you need instead, or run newns as root"
                )
        if isinstance(step, MakePoint):
            if error.errno == errno.ELOOP:
                message = "a symlink is in the way, and newns follows none where it makes mount points"
            return f"can't make the missing mount point {step.path}: {message}"
        if isinstance(step, (Attach, Overlay)) and error.errno == errno.ENOENT:
            return f"{message}; the mount point must exist: newns makes missing ones only in a #tmpfs, #dev or after clear"
        if isinstance(step, Detach) and error.errno == errno.EINVAL and step.target not in self._mount_points():
            return f"nothing is mounted on {step.target}"
        if isinstance(step, Detach) and error.errno == errno.EINVAL and self.rootless:
            return (
                f"{message}: mounts inherited from the caller are locked in a user namespace; "
                "bind or mount something over it instead, or run newns as root"
            )
        return message

    def _mounts_under(self, path: str) -> list[str]:
        """Mount points strictly under path in this namespace."""
        prefix = path.rstrip("/") + "/"
        return list(dict.fromkeys(p for p in self._mount_points() if p.startswith(prefix) and p != path))

    def _mount_points(self) -> list[str]:
        """This namespace's mount points, as seen from this process's root."""
        with open(f"{self.proc}/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            return mount_points(f.read())


def enter_new_root() -> None:
    """Make NEW_ROOT the root (clear), once the namespace is built: the rest, OLD_ROOT with
    it, is detached."""
    os.chdir(NEW_ROOT)
    libc.pivot_root(b".", b".")
    libc.umount_detach(b".")
    os.chdir("/")


def mount_file(text: bytes, target: str, source: str) -> None:
    """Mount a file holding text, read-only, on target itself (not where a symlink there leads):
    the file made in a tmpfs of its own (named source, for --ns), detached, and cloned alone
    from it, so that nothing is written to a disk and nothing of the tmpfs but the file is
    ever mounted."""
    stage = Stage()
    fs = stage.attach(new_fs("tmpfs", f"mode=0755,source={source}"))
    try:
        fd = os.open("file", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fs)
        try:
            libc.write_all(fd, text)
        finally:
            os.close(fd)
        held = os.open("file", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fs)
        try:
            mnt = libc.open_tree_clone(held, recursive=False)
        finally:
            os.close(held)
    finally:
        os.close(fs)
        stage.remove()
    try:
        libc.set_readonly(mnt)
        point = os.open(target, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            libc.move_mount(mnt, point)
        finally:
            os.close(point)
    finally:
        os.close(mnt)


class Stage:
    """Where, on kernels before Linux 6.15, each filesystem newns makes is attached as it is
    made, before anything is cloned from it or layered on it: they clone no detached mount, nor
    take an overlay layer from one (only mounts of the caller's namespace). The stage is a tmpfs
    stacked on this process's root: a path leads to it only through /.. (a walk from the root
    starts on the root mount, under it), which the door refuses to mount on or bind from; it is
    unmounted once the namespace is built, or the build failed. What was cloned from it stays
    where it was mounted. Newer kernels need no stage."""

    def __init__(self, mount_id: Callable[[int], int | None] | None = None) -> None:
        """mount_id: how to read a descriptor's mount ID, for holds(); without it, nothing is
        refused (a stage only for mounting one object whose path was opened before)."""
        self.mount_id = mount_id or (lambda fd: None)
        self.fd: int | None = None
        self.count = 0
        self.mounts: set[int | None] = set()  # the stage's mount ID, and those of what it holds

    def attach(self, mnt: int) -> int:
        """mnt, a filesystem just made (detached), attached in the stage where the kernel needs
        it; the same descriptor."""
        if clones_detached(mnt):
            return mnt
        if self.fd is None:
            root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.stack_on(root)
            finally:
                os.close(root)
        assert self.fd is not None
        self.count += 1
        name = str(self.count)
        os.mkdir(name, 0o700, dir_fd=self.fd)
        point = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            libc.move_mount(mnt, point)
        except BaseException:
            os.close(mnt)
            raise
        finally:
            os.close(point)
        self.mounts.add(self.mount_id(mnt))
        return mnt

    def holds(self, fd: int) -> bool:
        """Whether fd is in the stage, or in a mount it holds."""
        return self.fd is not None and self.mount_id(fd) in self.mounts

    def stack_on(self, root: int) -> None:
        """Stack the stage, made if missing, on root (the root mount, or a mount about to become
        it), with what it holds: left on an old root, it would cover its place under the new."""
        if self.fd is not None:
            libc.move_mount(self.fd, root)
            return
        stage = new_fs("tmpfs", "mode=0700")
        try:
            libc.move_mount(stage, root)
        except BaseException:
            os.close(stage)
            raise
        self.fd = stage
        self.mounts.add(self.mount_id(stage))

    def remove(self) -> None:
        """Unmount the stage, from inside it: this namespace may have no /proc to name it by."""
        if self.fd is None:
            return
        back = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fchdir(self.fd)
            libc.umount_detach(b".")
        finally:
            os.fchdir(back)
            os.close(back)
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.mounts.clear()


_clones_detached: bool | None = None  # until a kernel says


def clones_detached(mnt: int) -> bool:
    """Whether this kernel clones a detached mount (Linux 6.15), tried once on mnt, one."""
    global _clones_detached
    if _clones_detached is None:
        try:
            os.close(libc.open_tree_clone(mnt, recursive=False))
            _clones_detached = True
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            _clones_detached = False
    return _clones_detached


def _as_named(path: str) -> str:
    """A path of the namespace being built as a namespace file names it."""
    for root, named in ((NEW_ROOT, ""), (OLD_ROOT, "#old")):
        if path == root or path.startswith(root + "/"):
            return named + path[len(root) :] or "/"
    return path


def new_fs(fstype: str, options: str | None) -> int:
    """A new, detached filesystem; options as for mount -o."""
    fs = libc.fsopen(os.fsencode(fstype))
    try:
        for option in (options or "").split(","):
            if option:
                key, equals, value = option.partition("=")
                libc.fsconfig(fs, os.fsencode(key), os.fsencode(value) if equals else None)
        return libc.fscreate(fs)
    finally:
        os.close(fs)


def _same_owner_and_mode(name: str, base: int, like: os.stat_result) -> None:
    """Give name (in base, just made: no symlink) like's owner, where this namespace maps
    it, and mode."""
    try:
        os.chown(name, like.st_uid, like.st_gid, dir_fd=base, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EPERM):
            raise
    os.chmod(name, stat.S_IMODE(like.st_mode), dir_fd=base)


REHEARSED = frozenset(("tmpfs", "ramfs", "proc", "sysfs", "mqueue", "devpts", "cgroup2", "hugetlbfs"))
"""Filesystems --check really mounts: the kernel's own, in memory, writing nothing to a disk."""


def _known_filesystems(proc: str) -> set[str]:
    """The filesystem types this kernel has (/proc/filesystems, proc being where /proc is)."""
    with open(f"{proc}/filesystems") as f:
        return {line.split()[-1] for line in f if line.strip()}


_layers_by_fd = True  # until a kernel says otherwise


def _new_overlay(
    layers: list[int], fd_path: Callable[[int], str], options: list[tuple[str, str | None]], source: str
) -> int:
    """An overlay, detached, its layers given one by one (lowerdir+, Linux 6.8): by their
    descriptors where the kernel takes them (Linux 6.13), else by /proc/self/fd paths."""
    global _layers_by_fd
    fs = libc.fsopen(b"overlay")
    try:
        for index, layer in enumerate(layers):
            if _layers_by_fd:
                try:
                    libc.fsconfig_fd(fs, b"lowerdir+", layer)
                    continue
                except OSError as e:
                    if index or e.errno not in (errno.EINVAL, errno.EBADF, errno.EOPNOTSUPP):
                        raise
                    _layers_by_fd = False
            libc.fsconfig(fs, b"lowerdir+", os.fsencode(fd_path(layer)))
        for key, value in options:
            libc.fsconfig(fs, os.fsencode(key), None if value is None else os.fsencode(value))
        encoded = os.fsencode(source)
        if len(encoded) < 256:
            libc.fsconfig(fs, b"source", encoded)
        return libc.fscreate(fs)
    finally:
        os.close(fs)


def make_beneath(base: int, inside: str, *, directory: bool) -> int:
    """Make inside (a relative path) below the directory held in base, with the directories
    it needs, one name at a time, following no symlink; the made object, held (O_PATH)."""
    fd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=base)
    try:
        parts = [p for p in inside.split("/") if p]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last and not directory:
                os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd))
                inner = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            else:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    if last:
                        raise
                inner = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _terminal(proc: str) -> int | None:
    """The terminal on standard input, held by a path of this namespace, before anything is
    mounted over it (a descriptor from the caller's namespace can't be mounted in this one):
    where it was opened, or, in a #dev, /dev/console; checked to be that very terminal, since
    a name of another devpts instance may name another program's. None when no path leads to it."""
    terminal = os.fstat(0)
    for path in (os.readlink(f"{proc}/self/fd/0"), "/dev/console"):
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        found = os.fstat(fd)
        if (found.st_dev, found.st_ino) == (terminal.st_dev, terminal.st_ino):
            return fd
        os.close(fd)
    return None


def _open_path(path: str) -> int:
    try:
        return os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise OSError(e.errno, f"{path}: {e.strerror}") from None
