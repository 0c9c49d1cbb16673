"""Named namespaces (--post, --posted, --unpost, --attach NAME): Plan 9's /srv for newns.

A posted namespace is kept alive by a holder process inside it; its name is
a record in a directory of the caller's alone ($XDG_RUNTIME_DIR/newns when
that is the caller's, else /run/newns for root and the caller's
$XDG_STATE_HOME/newns, ~/.local/state/newns by default: nowhere another user
can make a directory first). A record holds the holder's PID, start time and
the boot and PID namespace it started in, so that a PID reused by another
process is never taken for it, and a name seen from another PID namespace
or machine (a shared home directory) is left alone, not taken for stale; a name being posted holds the poster's, so that a poster that
died leaves nothing behind. Another user can neither list, join nor end a
caller's names.
"""
from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import time

from ..diagnostics import EXIT_FAILURE, NewnsError, failure, report
from . import libc
from .supervisor import SUPERVISED

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 64
BUILDING = "building"


def valid(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and set(name) <= NAME_CHARS and not name.startswith(".") and not name.isdigit()


def check_name(name: str) -> None:
    if not valid(name):
        raise NewnsError(
            f"{name!r} is not a name for a namespace: 1 to {MAX_NAME} letters, digits, '.', '_' and '-', "
            "not starting with '.', and not digits alone (--attach takes those for a PID)"
        )


def here() -> str:
    """This boot and PID namespace: where a PID means what it meant when it was written."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f"{f.read().strip()}/{os.stat('/proc/self/ns/pid').st_ino}"


def started(pid: int) -> str | None:
    """When the process started (here(), and clock ticks after the boot), None when there is
    no such process or it is not the caller's."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        if os.stat(f"/proc/{pid}").st_uid != os.geteuid():
            return None
        where = here()
    except OSError:
        return None
    return f"{where}/{int(fields[19])}"  # field 22 of stat(5), counted after the command name


class Posted:
    """One record: the holder's PID and start, the file, and when it was posted; or, while
    the name is being posted (building), the poster's PID and start."""

    def __init__(self, name: str, text: str) -> None:
        kind, pid, start, self.file, since = text.split("\0")[:5]
        self.name, self.building = name, kind == BUILDING
        self.pid, self.start, self.since = int(pid), start, float(since)
        self.elsewhere = start.rpartition("/")[0] != here()  # its PID means nothing here

    def alive(self) -> bool:
        return started(self.pid) == self.start


def _record(kind: str, pid: int, file: str) -> bytes:
    start = started(pid)
    if start is None:
        raise NewnsError(f"process {pid} ended before its name was written")
    return f"{kind}\0{pid}\0{start}\0{file}\0{time.time()}\0".encode("utf-8", "surrogateescape")


class Registry:
    """The caller's directory of names, opened so that no one else's directory or link is used."""

    def __init__(self) -> None:
        self.path = _directory()
        try:
            os.makedirs(os.path.dirname(self.path), 0o700, exist_ok=True)
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise NewnsError(
                f"can't make {self.path} for the names of namespaces: {e.strerror}: set XDG_RUNTIME_DIR "
                "(or XDG_STATE_HOME) to a directory of yours"
            ) from None
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
        """The name's record while its holder (or its poster, while building) still runs; a
        stale or unreadable one is removed."""
        check_name(name)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        try:
            text = os.read(fd, 1 << 16).decode("utf-8", "surrogateescape")
        finally:
            os.close(fd)
        try:
            record = Posted(name, text)
        except ValueError:
            record = None
        if record is None or not record.elsewhere and not record.alive():
            self.remove(name)
            return None
        return record

    def reserve(self, name: str, file: str) -> None:
        """Claim the name before building (a record of this poster's), or say who holds it."""
        record = self.get(name)
        if record is not None and record.building:
            raise NewnsError(f"{name!r} is being posted now by another newns (process {record.pid})")
        if record is not None:
            raise NewnsError(f"a namespace is posted as {name!r} already: newns --unpost {name} ends it")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.fd)
        except FileExistsError:
            raise NewnsError(f"{name!r} is being posted now by another newns") from None
        try:
            os.write(fd, _record(BUILDING, os.getpid(), file))
        finally:
            os.close(fd)

    def record(self, name: str, pid: int, file: str) -> None:
        """The name is the holder's now (written whole, then renamed over the claim)."""
        part = f".{name}.{os.getpid()}"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.fd)
        try:
            os.write(fd, _record("held", pid, file))
        except BaseException:
            os.unlink(part, dir_fd=self.fd)
            raise
        finally:
            os.close(fd)
        os.rename(part, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def remove(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def all(self) -> list[Posted]:
        """Every name whose holder still runs, by name."""
        found = []
        for name in sorted(os.listdir(self.fd)):
            if not valid(name):
                continue  # a part written, or a name an older newns allowed
            record = self.get(name)
            if record is not None and not record.building:
                found.append(record)
        return found

    def find(self, name: str) -> Posted:
        record = self.get(name)
        if record is None or record.building:
            raise NewnsError(f"no namespace is posted as {name!r}: newns --posted lists yours")
        return record

    def end(self, name: str) -> None:
        """Kill the holder (by a pidfd, once it is known to be the same process, the caller's)
        and forget the name."""
        record = self.find(name)
        if record.elsewhere:
            raise NewnsError(
                f"{name!r} was posted from another PID namespace or machine, where its holder may live on: "
                "newns --unpost it there"
            )
        try:
            pidfd = libc.pidfd_open(record.pid)
        except ProcessLookupError:
            self.remove(name)
            return
        try:
            if record.alive():
                kill(pidfd)
        finally:
            os.close(pidfd)
        self.remove(name)


def kill(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError as e:
        if e.errno != errno.ESRCH:
            raise


def _directory() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        try:
            info = os.stat(runtime)
        except OSError:
            info = None
        if info and stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not stat.S_IMODE(info.st_mode) & 0o077:
            return os.path.join(runtime, "newns")
    if os.geteuid() == 0:
        return "/run/newns"
    state = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            raise NewnsError("no place for the names of namespaces: set XDG_RUNTIME_DIR, XDG_STATE_HOME or HOME")
        state = os.path.join(home, ".local", "state")
    return os.path.join(state, "newns")


# -- the holder: the process that keeps a posted namespace alive ------------------------


class Holder:
    """The holder's end of its pipe to the poster, which it tells its PID (P), then that the
    namespace is ready (R); and /dev/null (null), which its standard error becomes then."""

    def __init__(self, pipe: int, null: int) -> None:
        self.pipe = pipe
        self.null = null

    def tell(self, pid: int) -> None:
        """The process whose namespaces a later --attach joins (the holder, or the init of its
        PID namespace), by its PID in the poster's PID namespace."""
        os.write(self.pipe, b"P%d\0" % pid)

    def hold(self) -> None:
        """Tell the poster the namespace is ready, let go of its standard error, and keep the
        namespace alive until killed (--unpost); never returns."""
        os.write(self.pipe, b"R\0")
        os.close(self.pipe)
        os.dup2(self.null, 2)
        os.close(self.null)
        signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
        while True:
            signal.sigwait(SUPERVISED)


def start_holder(build: Callable[[Holder], None]) -> int | None:
    """Fork what builds and holds a posted namespace (build, which never returns), in a
    session of its own and with no descriptor of the caller's but /dev/null; its PID once it
    is ready, None when it failed. What it said meanwhile is kept in memory, and written to
    standard error once it is ready or has failed: every process that holds the namespace
    keeps its standard error, which must not be the caller's (a $(newns --post ...) would
    never end)."""
    readable, writable = os.pipe()
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    said = os.memfd_create("newns-post", os.MFD_CLOEXEC)
    child = os.fork()
    if child == 0:
        try:
            os.setsid()  # no terminal, no hangup: it outlives the caller's session
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(said, 2)
            libc.close_all_but((writable, null))
            build(Holder(writable, null))
        except BaseException as exception:
            report(failure(exception))
        finally:
            os._exit(EXIT_FAILURE)
    os.close(writable)
    os.close(null)
    told = b""
    while b"R\0" not in told and (chunk := os.read(readable, 4096)):
        told += chunk
    os.close(readable)
    holder = [int(r[1:]) for r in told.split(b"\0") if r.startswith(b"P")]
    ready = b"R\0" in told and holder
    if not ready:
        os.waitpid(child, 0)
    said_text = os.pread(said, 1 << 20, 0)
    os.close(said)
    sys.stderr.flush()
    os.write(2, said_text)
    return holder[-1] if ready else None


def end_holder(pid: int) -> None:
    """Kill a holder that has no name: it would hold its namespace for ever."""
    pidfd = libc.pidfd_open(pid)
    kill(pidfd)
    os.close(pidfd)
