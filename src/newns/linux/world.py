"""Questions about the caller's world: what a path holds, who the caller is, which
namespaces a process is in (what else newns reads of other processes, for --ns and
--attach, is processes.py's). Nothing here changes anything."""
from __future__ import annotations

import errno
import os
import stat

from ..mountinfo import mount_points
from . import libc

MAX_FILE = 16 << 20
"""The largest namespace file newns reads (16 MiB): a file is text a person wrote."""

INIT_KEEPS = 100
"""The descriptor at which newns's init, PID 1 of a PID namespace newns made, keeps the /proc
directory of the newns that started it, in the caller's namespace: the namespace its own was
built from, for --ns inside, which sees no process outside (close-on-exec: not the command's)."""


class NotRegular(OSError):
    """A namespace file that is a device, a socket or (for an include) a FIFO."""


class Host:
    """The caller's world, as the interpreter asks about it (newns.world.World). Each answer is
    kept: a plan made again (when the kernel refused a -q line) sees the world the first
    one saw."""

    def __init__(self) -> None:
        self.kinds: dict[str, str | None] = {}
        self.mounts: list[str] | None = None

    def kind(self, path: str) -> str | None:
        known = self.kinds.get(path, "")
        if known == "":
            known = self.kinds[path] = kind(path)
        return known

    def writable(self, path: str) -> bool:
        return os.access(path, os.W_OK | os.X_OK)

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def read(self, path: str, *, pipe_allowed: bool) -> str:
        return read_namespace_file(path, pipe_allowed=pipe_allowed)

    def account(self) -> tuple[str, str]:
        return account()

    def mount_points(self) -> list[str]:
        if self.mounts is None:
            self.mounts = mount_points(read_mountinfo("/proc/self"))
        return self.mounts


def kind(path: str) -> str | None:
    """'dir', 'file', 'other' or 'missing'; None when it can't be told (no access)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):
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
        except (OSError, ValueError):
            pass
    return real


KERNEL_INTERFACES = frozenset((
    0x9FA0, 0x62656572, 0x64626720, 0x74726163, 0x73636673, 0x62656570, 0x27E0EB, 0x63677270, 0xCAFE4A11,
    0x6165676C, 0xDE5E81E4,
))
"""Filesystems whose files are the kernel talking (statfs(2) magic numbers): proc, sysfs,
debugfs, tracefs, securityfs, configfs, cgroup, cgroup2, bpf, pstore, efivarfs."""


def read_namespace_file(path: str, *, pipe_allowed: bool) -> str:
    """A namespace file's text (bytes that are not UTF-8 kept as surrogates).

    It must be a regular file, or with pipe_allowed a pipe (`-f <(...)`). What
    path names is held first (O_PATH) and looked at, then opened through that
    hold: a device is never opened, even when the name is swapped meanwhile.
    Raises NotRegular, or OSError as open does; ValueError when it is larger
    than MAX_FILE."""
    held = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        mode = os.fstat(held).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not (stat.S_ISREG(mode) or pipe_allowed and stat.S_ISFIFO(mode)):
            raise NotRegular(0, "not a regular file", path)
        if libc.filesystem_type(held) in KERNEL_INTERFACES:
            raise NotRegular(0, "a file of the kernel's (proc, sys, ...), whose reading may block or change it", path)
        fd = os.open(f"/proc/self/fd/{held}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    finally:
        os.close(held)
    try:
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FILE:
                raise ValueError(f"larger than {MAX_FILE >> 20} MiB")
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def names_newns(path: str) -> bool:
    """Whether path is a namespace file run as a script: a path with a /, as the kernel
    passes a script to its #! interpreter, naming a regular, executable file whose
    first line runs newns. Nothing but a regular file is opened."""
    if "/" not in path or not os.access(path, os.X_OK):
        return False
    try:
        held = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return False
    try:
        if not stat.S_ISREG(os.fstat(held).st_mode):
            return False
        fd = os.open(f"/proc/self/fd/{held}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            first = os.read(fd, 256).split(b"\n", 1)[0]
        finally:
            os.close(fd)
    except OSError:
        return False
    finally:
        os.close(held)
    if not first.startswith(b"#!"):
        return False
    words = [os.path.basename(w) for w in first[2:].split()]
    return bool(words) and (words[0] == b"newns" or words[0] == b"env" and b"newns" in words[1:])


def find_executable(name: str, path: str) -> tuple[str | None, str | None]:
    """name in the directories of path (a PATH), as a shell looks: the first regular file
    there that may be executed, and the first one that may not (None for either not met)."""
    denied = None
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            mode = os.stat(candidate).st_mode
        except (OSError, ValueError):
            continue
        if not stat.S_ISREG(mode):
            continue
        if os.access(candidate, os.X_OK):
            return candidate, denied
        denied = denied or candidate
    return None, denied


def read_mountinfo(proc: str) -> str:
    """The mountinfo of the process whose /proc directory proc is."""
    fd = os.open(f"{proc}/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return libc.read_to_end(fd).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)


def command_line(pid: str) -> list[str]:
    """A process's arguments; none when they can't be read."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="surrogateescape").split("\0")[:-1]
    except OSError:
        return []


def process_status(pid: int | str) -> dict[str, list[str]]:
    """/proc/PID/status: the words of each field, by its name."""
    with open(f"/proc/{pid}/status") as f:
        return {name: value.split() for name, _, value in (line.partition(":") for line in f)}


def namespace_id(pid: int | str, kind: str = "mnt") -> int:
    """The inode that identifies a process's namespace of this kind."""
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def sysctl(name: str) -> str | None:
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return None
