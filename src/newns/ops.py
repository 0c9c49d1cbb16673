"""Every system call newns makes: reading files, namespaces, mounts, exec.

Mounts use the kernel's new mount API: objects are held as file descriptors
and mounted by descriptor, so a mount lands on exactly the object that was
opened, and an overlay's layers are the objects their lines named, whatever
was mounted over those paths afterwards.
"""
from __future__ import annotations

import _signal as signal  # the signal module's core; the module itself loads enum, slow at every start
import ctypes
import errno
import os
import stat
import sys

from .errors import EXIT_FAILURE, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, NewnsError
from .plan import NEW_ROOT, OLD_ROOT, Attach, Capture, Detach, Devices, MakePoint, NewFs, Overlay, Plan, Release, Reroot, Step

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable

_libc = ctypes.CDLL(None, use_errno=True)

# Numbers from 424 up are the same on every architecture newns runs on.
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 428, 429, 430, 431, 432
SYS_MOUNT_SETATTR = 442
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(os.uname().machine, 155)

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _syscall(number: int, *args: object) -> int:
    return _check(_libc.syscall(number, *args))


_proc = "/proc"
"""Where this process finds /proc: under OLD_ROOT once clear has moved the root."""


def _fd_path(fd: int, rest: str = "") -> str:
    return f"{_proc}/self/fd/{fd}" + (f"/{rest}" if rest else "")


# -- what the interpreter asks about the caller's world ------------------------


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def realpath(path: str) -> str:
    return os.path.realpath(path)


def kind(path: str) -> str | None:
    """'dir', 'file', 'other' or 'missing'; None when it can't be told (no access)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def account() -> tuple[str, str]:
    """The caller's user name and home directory."""
    import pwd

    try:
        entry = pwd.getpwuid(os.getuid())
    except KeyError:
        return str(os.getuid()), "/"
    return entry.pw_name, entry.pw_dir


def working_directory(pwd: str | None) -> str:
    """The caller's working directory as a path, as a shell takes it at start:
    $PWD when it names that directory (keeping the links it went through),
    else the directory's own path; / when it has none."""
    try:
        real = os.getcwd()
    except OSError:
        return "/"
    if pwd and pwd.startswith("/"):
        try:
            if os.path.samestat(os.stat(pwd), os.stat(real)):
                return pwd
        except OSError:
            pass
    return real


# -- entering a namespace -------------------------------------------------------


def setuid() -> bool:
    """Whether this process runs with ids it was not given (set-user-ID or set-group-ID)."""
    return os.getuid() != os.geteuid() or os.getgid() != os.getegid()


def ids() -> tuple[int, int]:
    """The effective user and group ids newns runs with."""
    return os.geteuid(), os.getegid()


def rootless() -> bool:
    return os.geteuid() != 0


def enter_namespace(*, pid: bool = False) -> None:
    """Unshare a mount namespace (in a new user namespace when not root), private;
    with pid, a PID namespace too, which this process's next child starts as init."""
    uid, gid = os.geteuid(), os.getegid()
    extra = CLONE_NEWPID if pid else 0
    if rootless():
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | extra) != 0:
            raise NewnsError(_userns_refusal(ctypes.get_errno()))
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError as e:
            raise NewnsError(_userns_refusal(e.errno, mapping=True)) from None
    elif _libc.unshare(CLONE_NEWNS | extra) != 0:
        err = ctypes.get_errno()
        raise NewnsError(f"can't make a mount namespace: {os.strerror(err)}")
    if _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        err = ctypes.get_errno()
        raise NewnsError(f"can't make the new namespace's mounts private: {os.strerror(err)}")


def namespace_id(pid: int | str, kind: str = "mnt") -> int:
    """The inode that identifies a process's namespace of this kind."""
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def join_namespace(pid: int) -> None:
    """Enter the mount namespace of pid (and its user namespace, when it is not ours)."""
    user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(user).st_ino != namespace_id("self", "user"):
            _check(_libc.setns(user, CLONE_NEWUSER))
        _check(_libc.setns(mnt, CLONE_NEWNS))
    finally:
        os.close(user)
        os.close(mnt)


def process_view(pid: int | str) -> tuple[str, str]:
    """A process's mountinfo and working directory."""
    return read_text(f"/proc/{pid}/mountinfo"), os.readlink(f"/proc/{pid}/cwd")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _sysctl(name: str) -> str | None:
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return None


def _userns_refusal(err: int, *, mapping: bool = False) -> str:
    """Why the kernel refused a user namespace, and how to allow it."""
    start = f"can't make a user namespace ({os.strerror(err)}): "
    if _sysctl("user.max_user_namespaces") == "0":
        return start + "user namespaces are disabled: sysctl -w user.max_user_namespaces=15000, or run newns as root"
    if _sysctl("kernel.unprivileged_userns_clone") == "0":
        return start + "unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1, or run newns as root"
    if _sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
        return start + (
            "AppArmor restricts unprivileged user namespaces: "
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give newns an AppArmor profile "
            "that allows userns, or run it as root"
        )
    if err == errno.EPERM and not mapping:
        return start + "a seccomp filter probably blocks unshare (Docker's default profile does): run with seccomp=unconfined, or as root"
    if err == errno.EINVAL:
        return start + "this process has threads, or the kernel lacks user namespaces (CONFIG_USER_NS)"
    return start + "check the user-namespace sysctls, or run newns as root"


# -- carrying out a plan ------------------------------------------------------


class Mounter:
    """Carries out a plan's steps, holding captured objects as descriptors."""

    def __init__(self, debug: bool, work: WorkDirs | None = None) -> None:
        self.debug = debug
        self.work = work
        self.fds: dict[int, int] = {}
        self.fresh: set[int] = set()
        self.staged: set[int] = set()
        self.userns = rootless()
        self.console: int | None = None

    def run(self, plan: Plan) -> None:
        if os.isatty(0) and any(isinstance(s, Devices) for a in plan.actions for s in a.steps):
            # The terminal, by its path, before anything is mounted over it: a
            # descriptor from the caller's namespace can't be mounted in this one.
            self.console = _open_path(os.readlink(_fd_path(0)))
        for action in plan.actions:
            if self.debug and action.text:
                print(action.text, file=sys.stderr)
            for step in action.steps:
                try:
                    self.step(step)
                except OSError as e:
                    what = action.text or f"the union on {step.target}"
                    problem = NewnsError(f"{what}: {self.explain(step, e)}", action.where)
                    if not action.quiet:
                        raise problem from None
                    if self.debug:
                        print(problem.report("skipped (-q)"), file=sys.stderr)
                    break

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        if self.console is not None:
            os.close(self.console)
        if self.work is not None:
            self.work.close()

    def step(self, step: Step) -> None:
        if isinstance(step, Capture):
            self.fds[step.slot] = _open_path(step.path)
        elif isinstance(step, NewFs):
            self.fds[step.slot] = _new_fs(step.fstype, step.options)
            self.fresh.add(step.slot)
        elif isinstance(step, Attach):
            self._attach(step)
        elif isinstance(step, Overlay):
            self._overlay(step)
        elif isinstance(step, Detach):
            _check(_libc.umount2(step.target.encode(), MNT_DETACH))
        elif isinstance(step, MakePoint):
            _make_point(step.path, step.directory)
        elif isinstance(step, Reroot):
            self.fds[step.slot] = _reroot()
            self.fresh.add(step.slot)
        elif isinstance(step, Release):
            for slot in step.slots:
                if slot in self.fds:
                    os.close(self.fds.pop(slot))
        else:
            self._devices(step)

    def explain(self, step: Step, error: OSError) -> str:
        """The kernel's refusal, with what it means for this step."""
        message = error.strerror
        if isinstance(step, NewFs) and error.errno == errno.ENODEV:
            return f"this kernel has no filesystem type {step.fstype!r} (see /proc/filesystems)"
        if isinstance(step, NewFs) and error.errno == errno.EPERM and self.userns:
            return f"{message}: a user namespace may not mount #{step.fstype}; run newns as root"
        if isinstance(step, Overlay) and error.errno == errno.ELOOP:
            return f"{message}: overlayfs refuses members that contain one another or the target"
        if isinstance(step, Overlay) and error.errno == errno.EINVAL and self.userns:
            crowded = []
            for slot in step.lowers:
                layer = os.readlink(_fd_path(self.fds[slot]))
                if mounts := _mounts_under(layer):
                    crowded.append(f"{layer} has {', '.join(mounts[:3])}{' ...' if len(mounts) > 3 else ''}")
            if crowded:
                return (
                    f"{message}: in a user namespace overlayfs can't use a member with mounts under it "
                    f"({'; '.join(crowded)}): bind the directories you need instead, or run newns as root"
                )
        if isinstance(step, MakePoint):
            return f"can't make the missing mount point: {message}"
        if isinstance(step, Detach) and error.errno == errno.EINVAL and self.userns:
            return (
                f"{message}: mounts inherited from the caller are locked in a user namespace; "
                "bind or mount something over it instead, or run newns as root"
            )
        return message

    def _devices(self, step: Devices) -> None:
        """A /dev of the caller's harmless devices, and a pts and shm of its own."""
        for name, slot in step.nodes:
            _make_point(os.path.join(step.target, name), directory=False)
            _bind_object(self.fds[slot], os.path.join(step.target, name))
        if self.console is not None:
            _make_point(os.path.join(step.target, "console"), directory=False)
            _bind_object(self.console, os.path.join(step.target, "console"))
        for name, fstype, options in (("pts", "devpts", "newinstance,ptmxmode=0666,mode=0620"), ("shm", "tmpfs", "mode=1777")):
            path = os.path.join(step.target, name)
            os.mkdir(path, 0o755)
            _place(_new_fs(fstype, options), path)
        for name, link in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                           ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(link, os.path.join(step.target, name))

    def _attach(self, step: Attach) -> None:
        flags = AT_EMPTY_PATH | OPEN_TREE_CLONE | AT_RECURSIVE | OPEN_TREE_CLOEXEC
        _place(_syscall(SYS_OPEN_TREE, self.fds[step.slot], b"", flags), step.target, step.readonly)

    def _overlay(self, step: Overlay) -> None:
        layers = [_fd_path(self.fds[slot]) for slot in step.lowers]
        options: list[tuple[str, str | None]] = []
        if step.upper is not None:
            upper, work = self._upper(step.upper)
            options += [("upperdir", upper), ("workdir", work)]
        if self.userns:
            options.append(("userxattr", None))
        options += [("index", "off"), ("xino", "off")]
        source = union_source(step.members)
        try:
            mnt = _new_overlay(layers, options, source)
        except OSError as e:
            if "lowerdir+" not in (e.strerror or ""):
                raise
            _old_overlay(layers, options, source, step.target)
            if step.readonly:
                _place_readonly(step.target)
            return
        _place(mnt, step.target, step.readonly)

    def _upper(self, slot: int) -> tuple[str, str]:
        """The upper and work directories for a member that takes creations."""
        fd = self.fds[slot]
        if slot in self.fresh:
            if slot not in self.staged:
                os.mkdir("upper", 0o755, dir_fd=fd)
                os.mkdir("work", 0o700, dir_fd=fd)
                self.staged.add(slot)
            return _fd_path(fd, "upper"), _fd_path(fd, "work")
        assert self.work is not None, "the plan asks for work directories"
        return _fd_path(fd), self.work.make(fd)


UNION_SOURCE = "newns:"


def union_source(members: tuple[tuple[str, bool], ...]) -> str:
    """A union's members as an overlay mount's source: newns:[+]label[\\n[+]label...], + taking creations."""
    return UNION_SOURCE + "\n".join(("+" if create else "") + label for label, create in members)


def _new_overlay(layers: list[str], options: list[tuple[str, str | None]], source: str) -> int:
    """An overlay, detached, its layers given one by one (lowerdir+, Linux 6.8)."""
    fs = _syscall(SYS_FSOPEN, b"overlay", FSOPEN_CLOEXEC)
    try:
        for layer in layers:
            _config(fs, "lowerdir+", layer)
        for key, value in options:
            _config(fs, key, value)
        if len(os.fsencode(source)) < 256:
            _config(fs, "source", source)
        _config(fs, None, None, FSCONFIG_CMD_CREATE)
        return _syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, 0)
    finally:
        os.close(fs)


def _old_overlay(layers: list[str], options: list[tuple[str, str | None]], source: str, target: str) -> None:
    """An overlay mounted with mount(2), for kernels before lowerdir+.

    mount(2) takes the layers as one option string and cuts it at a page,
    silently: each layer is named by its descriptor, relative to the
    directory of descriptors, so that 500 of them fit."""
    fds = f"{_proc}/self/fd/"
    words = ["lowerdir=" + ":".join(layer.removeprefix(fds) for layer in layers)]
    words += [key if value is None else f"{key}={value.removeprefix(fds)}" for key, value in options]
    data = ",".join(words).encode()
    if len(data) >= 4096:
        raise OSError(errno.E2BIG, "too many members for this kernel's overlayfs (Linux 6.8 takes up to 500)")
    dest = _open_path(target)
    back = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(fds)
        _check(_libc.mount(os.fsencode(source), str(dest).encode(), b"overlay", 0, data))
    finally:
        os.fchdir(back)
        os.close(back)
        os.close(dest)


def _place_readonly(target: str) -> None:
    """Make the mount on target read-only, with everything under it."""
    mnt = _open_path(target)
    try:
        _set_readonly(mnt)
    finally:
        os.close(mnt)


def _new_fs(fstype: str, options: str | None) -> int:
    """A new, detached filesystem; options as for mount -o."""
    fs = _syscall(SYS_FSOPEN, fstype.encode(), FSOPEN_CLOEXEC)
    try:
        for option in (options or "").split(","):
            if option:
                key, equals, value = option.partition("=")
                _config(fs, key, value if equals else None)
        _config(fs, None, None, FSCONFIG_CMD_CREATE)
        return _syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, 0)
    finally:
        os.close(fs)


def _config(fs: int, key: str | None, value: str | None, cmd: int | None = None) -> None:
    if cmd is None:
        cmd = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
    result = _libc.syscall(
        SYS_FSCONFIG, fs, cmd, key.encode() if key else None, value.encode() if value is not None else None, 0
    )
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, _fs_log(fs) or os.strerror(err))


def _bind_object(fd: int, target: str) -> None:
    """Mount the object held by fd, without what is mounted under it, onto target."""
    _place(_syscall(SYS_OPEN_TREE, fd, b"", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), target)


def _make_point(path: str, directory: bool) -> None:
    """A missing mount point: a directory, or an empty file, with its parents."""
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if directory:
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))


def _pivot_root(new_root: str, put_old: str) -> None:
    _syscall(SYS_PIVOT_ROOT, new_root.encode(), put_old.encode())


def _reroot() -> int:
    """Move to a hidden tmpfs root holding the old root at OLD_ROOT and an
    empty new one at NEW_ROOT (bubblewrap's way).

    Returns the new root's filesystem as a detached mount, which stays usable
    (as a union's upper layer, say) when NEW_ROOT is later mounted over."""
    stage = "/tmp" if kind("/tmp") == "dir" else "/mnt"
    base = _new_fs("tmpfs", "mode=0755")
    try:
        os.mkdir(OLD_ROOT.lstrip("/"), 0o755, dir_fd=base)
        os.mkdir(NEW_ROOT.lstrip("/"), 0o755, dir_fd=base)
        _move(base, stage)
    finally:
        os.close(base)
    root = _new_fs("tmpfs", "mode=0755")
    _bind_object(root, os.path.join(stage, NEW_ROOT.lstrip("/")))
    os.chdir(stage)
    _pivot_root(".", OLD_ROOT.lstrip("/"))
    os.chdir("/")
    global _proc
    _proc = OLD_ROOT + "/proc"
    return root


def _pivot_into(new_root: str) -> None:
    """Make new_root the root, and detach everything else (the old root with it)."""
    os.chdir(new_root)
    _pivot_root(".", ".")
    _check(_libc.umount2(b".", MNT_DETACH))
    os.chdir("/")


def _place(mnt: int, target: str, readonly: bool = False) -> None:
    """Mount a detached mount onto target (read-only, recursively, if asked), and let go of it."""
    try:
        if readonly:
            _set_readonly(mnt)
        _move(mnt, target)
    finally:
        os.close(mnt)


def _move(mnt: int, target: str) -> None:
    """Mount a detached mount onto the object now at target."""
    dest = _open_path(target)
    try:
        _syscall(SYS_MOVE_MOUNT, mnt, b"", dest, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(dest)


def _mounts_under(path: str) -> list[str]:
    """Mount points strictly under path in this namespace."""
    prefix = path.rstrip("/") + "/"
    with open(f"{_proc}/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return list(dict.fromkeys(p for p in points if p.startswith(prefix) and p != path))


class WorkDirs:
    """overlayfs's work directories for unions that create in a real directory.

    overlayfs wants an empty directory on the same mount as the directory that
    takes creations. newns makes one per overlay under CACHE/newns (CACHE is
    $XDG_CACHE_HOME or ~/.cache), outside the user's files, tells the waiting
    parent its name, and the parent removes it when the command is done. Ones
    left by a newns that was killed are removed by the next run.
    """

    def __init__(self, base: str, report: int, owner: int) -> None:
        self.base = base
        self.report = report
        self.owner = owner  # the waiting newns that removes them
        os.makedirs(base, 0o700, exist_ok=True)
        self.fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        _remove_stale(base)

    def make(self, upper: int) -> str:
        if _mount_id(upper) != _mount_id(self.fd):
            raise OSError(
                errno.EXDEV,
                f"overlayfs needs its work directory on the same mount as the directory taking creations, "
                f"and {self.base} is not: set XDG_CACHE_HOME to a directory on that filesystem, "
                "or take creations in a #tmpfs member",
            )
        name = f"work-{self.owner}-{os.urandom(4).hex()}"
        os.mkdir(name, 0o700, dir_fd=self.fd)
        os.write(self.report, b"W" + os.fsencode(os.path.join(self.base, name)) + b"\0")
        return _fd_path(self.fd, name)

    def close(self) -> None:
        os.close(self.fd)


def cache_dir(env: dict[str, str]) -> str:
    cache = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or account()[1], ".cache")
    return os.path.join(cache, "newns")


def _mount_id(fd: int) -> int | None:
    with open(f"{_proc}/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    return None


def _remove_stale(base: str) -> None:
    """Remove work directories whose newns has gone."""
    for name in os.listdir(base):
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "work" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            try:
                remove_tree(os.path.join(base, name))
            except OSError:
                pass  # gone already (another newns cleaned it), or not ours to remove: leave it
        except OSError:
            pass


def remove_tree(path: str) -> None:
    """rm -rf, including overlayfs's mode-0 work/work directory."""
    import shutil

    for root, dirs, _ in os.walk(path):
        for name in dirs:
            inner = os.path.join(root, name)
            if not os.path.islink(inner):
                os.chmod(inner, 0o700)
    shutil.rmtree(path)


def _open_path(path: str) -> int:
    try:
        return os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise OSError(e.errno, f"{path}: {e.strerror}") from None


def _set_readonly(mnt: int) -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    _syscall(SYS_MOUNT_SETATTR, mnt, b"", AT_EMPTY_PATH | AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))


def _fs_log(fs: int) -> str:
    """The kernel's own messages about a filesystem being set up."""
    messages = []
    while True:
        try:
            line = os.read(fs, 1024).decode(errors="replace").strip()
        except OSError:
            break
        if not line:
            break
        messages.append(line[2:] if line[1:2] == " " else line)
    return "; ".join(messages)


# -- running the command --------------------------------------------------------


def chdir(path: str) -> bool:
    try:
        os.chdir(path)
        return True
    except OSError:
        return False


def find_command(name: str, env: dict[str, str]) -> str:
    """The file a shell would run for name; exits 127 or 126 as a shell does."""
    if "/" in name:
        return name
    denied = None
    for directory in env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            mode = os.stat(candidate).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            continue
        if os.access(candidate, os.X_OK):
            return candidate
        denied = denied or candidate
    if denied:
        fail(f"{denied}: permission denied", EXIT_NOT_EXECUTABLE)
    fail(f"{name}: command not found", EXIT_NOT_FOUND)


def execute(argv: list[str], env: dict[str, str]) -> None:
    """Replace newns with the command; exits 126/127 when it can't be run."""
    path = find_command(argv[0], env)
    try:
        os.execve(path, argv, env)
    except OSError as e:
        code = EXIT_NOT_FOUND if e.errno in (errno.ENOENT, errno.ENOTDIR) else EXIT_NOT_EXECUTABLE
        fail(f"{argv[0]}: {e.strerror}", code)


def fail(message: str, code: int = EXIT_FAILURE) -> None:
    sys.stderr.write(f"newns: {message}\n")
    sys.stderr.flush()
    os._exit(code)


def launch(plan: Plan, argv: list[str], env: dict[str, str], cwd: str, debug: bool) -> None:
    """Build the plan's namespace and run the command in it; never returns.

    newns execs the command in place unless it must stay as its parent: to
    remove overlay work directories afterwards (it then waits outside the
    namespace), or as init of a PID namespace for #proc.
    """
    if plan.work_dirs:
        owner = os.getpid()
        supervise(lambda records: _enter(plan, argv, env, cwd, debug, (records, owner)))
    _enter(plan, argv, env, cwd, debug, None)


def _enter(
    plan: Plan, argv: list[str], env: dict[str, str], cwd: str, debug: bool, records: tuple[int, int] | None
) -> None:
    """records: the pipe on which to name work directories, and the pid of the newns that removes them."""
    enter_namespace(pid=plan.pid_namespace)
    if plan.pid_namespace:
        supervise(lambda status: _build(plan, argv, env, cwd, debug, records, init_status=status))
    _build(plan, argv, env, cwd, debug, records, init_status=None)


def _build(
    plan: Plan,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    debug: bool,
    records: tuple[int, int] | None,
    init_status: int | None,
) -> None:
    work = WorkDirs(cache_dir(env), *records) if records is not None else None
    mounter = Mounter(debug, work)
    try:
        mounter.run(plan)
    finally:
        mounter.close()
    if plan.cleared:
        _pivot_into(NEW_ROOT)
    if plan.cwd_where is not None:
        try:
            os.chdir(plan.cwd)
        except OSError as e:
            raise NewnsError(f"cd {plan.cwd}: {e.strerror} (in the new namespace)", plan.cwd_where) from None
        env["PWD"] = plan.cwd
    elif not chdir(cwd):
        chdir("/")
        env["PWD"] = "/"
    if init_status is None:
        execute(argv, env)
    _be_init(argv, env, init_status)


def supervise(child: Callable[[int], None]) -> None:
    """Run child(records) in a forked process, wait for it, and exit as it did.

    On the records pipe the child (or its descendants, until they exec) may
    write b"W" + a work directory to remove afterwards, or b"S" + the wait
    status of the command, when the child is an init that can't die of a
    signal itself; records end in NUL. Meanwhile signals are passed on.
    """
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(readable)
        try:
            child(writable)
        except NewnsError as error:
            fail(str(error).removeprefix("newns: "))
        except OSError as error:
            fail(f"{error.filename + ': ' if error.filename else ''}{error.strerror}")
        except BaseException as error:
            fail(f"internal error, please report it: {type(error).__name__}: {error}")
    os.close(writable)
    _pass_signals_to(pid)
    data = b""
    while chunk := os.read(readable, 65536):
        data += chunk
    os.close(readable)
    _, status = os.waitpid(pid, 0)
    for record in data.split(b"\0"):
        if record.startswith(b"W"):
            name = os.fsdecode(record[1:])
            try:
                remove_tree(name)
            except OSError as e:
                sys.stderr.write(f"newns: can't remove work directory {name}: {e.strerror}\n")
        elif record.startswith(b"S"):
            status = int(record[1:])
    exit_like(status)


def _be_init(argv: list[str], env: dict[str, str], status_fd: int) -> None:
    """As PID 1 of a new PID namespace: run the command, reap orphans, report its status.

    The terminal's foreground process group is newns's, which the namespace
    can't see, and shells that hand the terminal back on exit fail on it; so a
    command that has the terminal gets it in a process group of its own."""
    foreground = os.isatty(0) and os.tcgetpgrp(0) == 0
    pid = os.fork()
    if pid == 0:
        if foreground:
            os.setpgid(0, 0)
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            os.tcsetpgrp(0, os.getpgrp())
            signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        execute(argv, env)
    _pass_signals_to(pid)
    while True:
        done, status = os.waitpid(-1, 0)
        if done == pid:
            os.write(status_fd, b"S%d\0" % status)
            os._exit(0)


def _pass_signals_to(pid: int) -> None:
    """Pass signals on to pid; those a terminal sends reach it by themselves, and are ignored here."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCONT, signal.SIGWINCH):
        signal.signal(sig, lambda number, _frame: os.kill(pid, number))
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)


def exit_like(status: int) -> None:
    """Exit as a child with this wait status did: same code, or same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else EXIT_FAILURE)


def names_newns(path: str) -> bool:
    """Whether path is a file whose #! line runs newns (a namespace file run as a script)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    words = [os.path.basename(w) for w in first[2:].split()]
    return bool(words) and (words[0] == b"newns" or words[0] == b"env" and b"newns" in words[1:])
