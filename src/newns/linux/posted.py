"""Named namespaces (--post, --posted, --unpost, --attach NAME): Plan 9's /srv for newns.

A posted namespace is kept alive by a holder process inside it; its name is
a record in a directory of the caller's alone (under $XDG_RUNTIME_DIR, else
/run/newns for root and /tmp/newns-UID for a user), holding the holder's
PID and start time, so that a PID reused by another process is never taken
for it. Another user can neither list, join nor end a caller's names.
"""
from __future__ import annotations

import errno
import os
import signal
import stat
import time

from ..diagnostics import NewnsError
from . import libc

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 64


def check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or not set(name) <= NAME_CHARS or name.startswith("."):
        raise NewnsError(
            f"{name!r} is not a name for a namespace: 1 to {MAX_NAME} letters, digits, '.', '_' and '-', "
            "not starting with '.'"
        )


def started(pid: int) -> int | None:
    """When the process started (clock ticks after boot), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[19])  # field 22 of stat(5), counted after the command name


class Posted:
    """One record: the holder's PID and start time, the file, and when it was posted."""

    def __init__(self, name: str, text: str) -> None:
        pid, start, self.file, since = text.split("\0")[:4]
        self.name, self.pid, self.start, self.since = name, int(pid), int(start), float(since)

    def alive(self) -> bool:
        return started(self.pid) == self.start


class Registry:
    """The caller's directory of names, opened so that no one else's directory or link is used."""

    def __init__(self) -> None:
        self.path = _directory()
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise NewnsError(f"can't make {self.path} for the names of namespaces: {e.strerror}") from None
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise NewnsError(f"can't open {self.path}: {e.strerror}: it must be a directory of yours") from None
        info = os.fstat(self.fd)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
            os.close(self.fd)
            raise NewnsError(
                f"{self.path} is not yours alone (owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o}): "
                "another user could see or change your names there; remove it, or set XDG_RUNTIME_DIR"
            )

    def close(self) -> None:
        os.close(self.fd)

    def get(self, name: str) -> Posted | None:
        """The name's record, when its holder still runs (a stale one is removed)."""
        check_name(name)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        try:
            text = os.read(fd, 1 << 16).decode("utf-8", "surrogateescape")
        finally:
            os.close(fd)
        if not text:
            return None  # being posted
        record = Posted(name, text)
        if not record.alive():
            self.remove(name)
            return None
        return record

    def reserve(self, name: str) -> None:
        """Claim the name before building (an empty record), or say who holds it."""
        if self.get(name) is not None:
            raise NewnsError(f"a namespace is posted as {name!r} already: newns --unpost {name} ends it")
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.fd))
        except FileExistsError:
            raise NewnsError(f"{name!r} is being posted now by another newns") from None

    def record(self, name: str, pid: int, file: str) -> None:
        start = started(pid)
        fd = os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            os.write(fd, f"{pid}\0{start}\0{file}\0{time.time()}\0".encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)

    def remove(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def all(self) -> list[Posted]:
        """Every name whose holder still runs, by name."""
        found = []
        for name in sorted(os.listdir(self.fd)):
            try:
                record = self.get(name)
            except (NewnsError, ValueError):
                continue
            if record is not None:
                found.append(record)
        return found

    def find(self, name: str) -> Posted:
        record = self.get(name)
        if record is None:
            raise NewnsError(f"no namespace is posted as {name!r}: newns --posted lists yours")
        return record

    def end(self, name: str) -> None:
        """Kill the holder (by a pidfd, once it is known to be the same process) and forget the name."""
        record = self.find(name)
        try:
            pidfd = libc.pidfd_open(record.pid)
        except ProcessLookupError:
            self.remove(name)
            return
        try:
            if record.alive():
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise
        finally:
            os.close(pidfd)
        self.remove(name)


def _directory() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        try:
            info = os.stat(runtime)
        except OSError:
            info = None
        if info and stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not stat.S_IMODE(info.st_mode) & 0o077:
            return os.path.join(runtime, "newns")
    return "/run/newns" if os.geteuid() == 0 else f"/tmp/newns-{os.geteuid()}"
