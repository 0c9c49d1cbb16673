"""System calls Python's os module lacks, through ctypes's C core: the only way to C in newns.

ctypes's own module costs a start of newns about 3 ms (struct, and some forty types it
defines); newns needs a handful, made here from _ctypes as ctypes makes them, as newns
takes _signal for signal. Each wrapper raises OSError with the kernel's errno, as os does."""
from __future__ import annotations

import os
import sys
from _ctypes import FUNCFLAG_CDECL, FUNCFLAG_USE_ERRNO, CFuncPtr

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: typing costs every start of newns
    from collections.abc import Collection
    from ctypes import addressof, byref, c_char, c_int, c_long, c_uint32, c_uint64, c_ulong
    from ctypes import get_errno, sizeof
    from typing import Any

    def dlopen(name: str | None, mode: int, /) -> int: ...
else:
    from _ctypes import _SimpleCData, addressof, byref, dlopen, get_errno, sizeof

    c_char, c_int, c_uint32, c_long, c_ulong, c_uint64 = (
        type(name, (_SimpleCData,), {"_type_": code})
        for name, code in (("c_char", "c"), ("c_int", "i"), ("c_uint32", "I"), ("c_long", "l"), ("c_ulong", "L"),
                           ("c_uint64", "Q"))
    )


class _Function(CFuncPtr):
    """A function of libc's returning int, its errno kept (what ctypes.CDLL(None, use_errno=True) gives)."""

    _flags_ = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class _Libc:
    """libc's functions, by name: the C library this process already has (dlopen(NULL))."""

    def __init__(self) -> None:
        self._handle = dlopen(None, os.RTLD_NOW)

    def __getattr__(self, name: str) -> Any:
        function = _Function((name, self))  # type: ignore[arg-type]  # any object with a _handle, as a CDLL is
        setattr(self, name, function)
        return function


_libc = _Libc()
_libc.getauxval.restype = c_ulong
_libc.getauxval.argtypes = [c_ulong]

MACHINE = os.uname().machine
# Numbers from 424 up are the same on every architecture newns runs on.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(MACHINE, 155)
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219}.get(MACHINE, 250)
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 428, 429, 430, 431, 432
SYS_PIDFD_OPEN = 434
SYS_MOUNT_SETATTR = 442
SYS_CLOSE_RANGE = 436
CLOSE_RANGE_CLOEXEC = 4

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_FD = 5
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4

KEYCTL_JOIN_SESSION_KEYRING = 1

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
SECCOMP_MODE_FILTER = 2
AT_SECURE = 23
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1)
NS_GET_OWNER_UID = 0xB704  # _IO(0xb7, 0x4)
AF_INET, SOCK_DGRAM, SOCK_CLOEXEC = 2, 2, 0o2000000
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1


def _check(result: int) -> int:
    if result < 0:
        err = get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _syscall(number: int, *args: object) -> int:
    return _check(_libc.syscall(number, *args))


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype))


def make_private(path: bytes) -> None:
    """mount --make-rprivate path."""
    _check(_libc.mount(None, path, None, MS_REC | MS_PRIVATE, None))


def mount(source: bytes, target: bytes, fstype: bytes, data: bytes) -> None:
    """mount(2), for overlays on kernels before lowerdir+."""
    _check(_libc.mount(source, target, fstype, 0, data))


def umount_detach(target: bytes) -> None:
    _check(_libc.umount2(target, MNT_DETACH))


def pivot_root(new_root: bytes, put_old: bytes) -> None:
    _syscall(SYS_PIVOT_ROOT, new_root, put_old)


def open_tree_clone(fd: int, *, recursive: bool) -> int:
    """A detached copy of the mount tree at fd (the mount at fd alone, unless recursive)."""
    flags = AT_EMPTY_PATH | OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _syscall(SYS_OPEN_TREE, fd, b"", flags)


def move_mount(mnt: int, target: int) -> None:
    """Attach the detached mount mnt onto the object held by target."""
    _syscall(SYS_MOVE_MOUNT, mnt, b"", target, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)


def fsopen(fstype: bytes) -> int:
    return _syscall(SYS_FSOPEN, fstype, 1)  # FSOPEN_CLOEXEC


def fsconfig(fs: int, key: bytes | None, value: bytes | None) -> None:
    """Set a flag (value None) or a string option; raises OSError with the kernel's own words."""
    cmd = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
    if _libc.syscall(SYS_FSCONFIG, fs, cmd, key, value, 0) < 0:
        err = get_errno()
        raise OSError(err, _fs_log(fs) or os.strerror(err))


def fsconfig_fd(fs: int, key: bytes, fd: int) -> None:
    """Set an option to an open file (a layer of an overlay, by its descriptor: Linux 6.13)."""
    if _libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_SET_FD, key, None, fd) < 0:
        err = get_errno()
        raise OSError(err, _fs_log(fs) or os.strerror(err))


def fscreate(fs: int, attributes: int = 0) -> int:
    """Create the filesystem configured on fs and return it as a detached mount."""
    if _libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0) < 0:
        err = get_errno()
        raise OSError(err, _fs_log(fs) or os.strerror(err))
    return _syscall(SYS_FSMOUNT, fs, 1, attributes)  # FSMOUNT_CLOEXEC


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


def set_readonly(mnt: int) -> None:
    """Make the mount tree at mnt read-only, every mount in it."""
    attr = (c_uint64 * 4)(MOUNT_ATTR_RDONLY, 0, 0, 0)  # struct mount_attr: attr_set, attr_clr, propagation, userns_fd
    _syscall(SYS_MOUNT_SETATTR, mnt, b"", AT_EMPTY_PATH | AT_RECURSIVE, byref(attr), sizeof(attr))


def pidfd_open(pid: int) -> int:
    """A descriptor of process pid that becomes readable when it ends (with no PID to reuse)."""
    return _syscall(SYS_PIDFD_OPEN, pid, 0)


def prctl(option: int, value: int, more: int = 0) -> None:
    _check(_libc.prctl(option, value, more, 0, 0))


def clear_capabilities() -> None:
    """Empty this process's effective, permitted and inheritable capability sets (capset)."""
    header = (c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (c_uint32 * 6)()
    _check(_libc.capset(header, data))


def keep_capability(capability: int) -> None:
    """Keep only this capability (of those below 32), and across exec: raised in the
    ambient set, as a non-root uid's exec drops the rest."""
    header = (c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    bit = 1 << capability
    data = (c_uint32 * 6)(bit, bit, bit, 0, 0, 0)
    _check(_libc.capset(header, data))
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability)


def lower_capabilities(capabilities: Collection[int]) -> None:
    """Take these capabilities (each below 32) out of this process's effective and permitted
    sets, and empty its inheritable set."""
    header = (c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (c_uint32 * 6)()
    _check(_libc.capget(header, data))
    mask = ~sum(1 << capability for capability in capabilities) & 0xFFFFFFFF
    data[0] &= mask
    data[1] &= mask
    data[2] = data[5] = 0
    _check(_libc.capset(header, data))


def cloexec_from(first: int) -> None:
    """Mark every descriptor from first up close-on-exec (close_range)."""
    _syscall(SYS_CLOSE_RANGE, first, c_uint32(0xFFFFFFFF), CLOSE_RANGE_CLOEXEC)


def close_all_but(keep: Collection[int]) -> None:
    """Close every descriptor but 0-2 and keep (close_range), for a process that goes on
    without exec: nothing of its parent's stays open in it."""
    first = 3
    for fd in sorted(set(keep)):
        if fd >= first:
            if fd > first:
                _syscall(SYS_CLOSE_RANGE, first, fd - 1, 0)
            first = fd + 1
    _syscall(SYS_CLOSE_RANGE, first, c_uint32(0xFFFFFFFF), 0)


def write_all(fd: int, data: bytes) -> None:
    """Write all of data to fd, however little each write takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_to_end(fd: int) -> bytes:
    """Everything fd gives until its end (a pipe's writers all closed); fd stays open."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def join_new_session_keyring() -> None:
    """A new, empty session keyring for this process, owned by its uid, instead of the one it
    inherited (keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL), as pam_keyinit gives a login)."""
    _syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)


def death_signal() -> int:
    """The signal this process gets when its parent dies (PR_SET_PDEATHSIG), 0 for none."""
    sig = c_int()
    _check(_libc.prctl(PR_GET_PDEATHSIG, byref(sig), 0, 0, 0))
    return sig.value


def install_filter(program: bytes) -> None:
    """A seccomp filter (classic BPF, 8 bytes an instruction) for this process and its children."""
    buffer = (c_char * len(program)).from_buffer_copy(program)
    fields = (len(program) // 8).to_bytes(2, sys.byteorder) + bytes(6) + addressof(buffer).to_bytes(8, sys.byteorder)
    prog = (c_char * 16).from_buffer_copy(fields)  # struct sock_fprog, 64-bit: an unsigned short, a pointer at 8
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, byref(prog), 0, 0))


def secure_exec() -> bool:
    """Whether the kernel ran this program with privileges its caller lacks (AT_SECURE):
    set-user-ID, set-group-ID or file capabilities."""
    return bool(_libc.getauxval(AT_SECURE))


def filesystem_type(fd: int) -> int:
    """The magic number of the filesystem fd is on (fstatfs's f_type)."""
    buffer = (c_long * 16)()  # struct statfs: f_type first
    _check(_libc.fstatfs(fd, buffer))
    return int(buffer[0]) & 0xFFFFFFFF


def sethostname(name: bytes) -> None:
    _check(_libc.sethostname(name, len(name)))


def interface_up(name: bytes) -> None:
    """Bring a network interface up (ip link set NAME up), as SIOCSIFFLAGS does."""
    # struct ifreq: the name, then a union whose first field is the flags
    request = (c_char * 40).from_buffer_copy(name.ljust(16, b"\0") + bytes(24))
    sock = _check(_libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0))
    try:
        _check(_libc.ioctl(sock, SIOCGIFFLAGS, request))
        flags = int.from_bytes(request.raw[16:18], sys.byteorder) | IFF_UP
        request.raw = request.raw[:16] + flags.to_bytes(2, sys.byteorder) + request.raw[18:]
        _check(_libc.ioctl(sock, SIOCSIFFLAGS, request))
    finally:
        os.close(sock)


def namespace_owner(fd: int) -> int:
    """The uid that owns the user namespace held by fd."""
    uid = c_uint32()
    _check(_libc.ioctl(fd, NS_GET_OWNER_UID, byref(uid)))
    return uid.value


def owner_namespace(fd: int) -> int:
    """A descriptor (close-on-exec) of the user namespace that owns the namespace held by fd;
    PermissionError when that is outside the caller's user namespace."""
    return _check(_libc.ioctl(fd, NS_GET_USERNS))


def owning_user_namespace(fd: int) -> int:
    """The inode of the user namespace that owns the namespace held by fd; PermissionError
    when that is outside the caller's user namespace."""
    owner = owner_namespace(fd)
    try:
        return os.fstat(owner).st_ino
    finally:
        os.close(owner)


class SignalFd:
    """Signals read as data (signalfd(2)): the signals must be blocked."""

    def __init__(self, signals: Collection[int]) -> None:
        mask = c_uint64(sum(1 << (sig - 1) for sig in signals))
        self.fd = _check(_libc.signalfd(-1, byref(mask), os.O_CLOEXEC | os.O_NONBLOCK))

    def read(self) -> list[int]:
        """The signals that arrived, in order (none when none did)."""
        found: list[int] = []
        while True:
            try:
                data = os.read(self.fd, 128 * 16)
            except BlockingIOError:
                return found
            found += [int.from_bytes(data[start : start + 4], sys.byteorder) for start in range(0, len(data), 128)]

    def close(self) -> None:
        os.close(self.fd)
