"""import: a remote directory over SSH, served by sshfs from beside newns.

newns makes the FUSE mount itself, inside the namespace it builds (so it
works rootless, where fusermount3's set-user-ID bit means nothing), and hands
the /dev/fuse descriptor to sshfs as the mount point /dev/fd/N (libfuse 3.3
and later). sshfs runs in a process started before newns left the caller's
namespaces: as the caller, with the caller's ssh configuration and agent,
never as the root a user namespace makes of it. Its first process exits once
it is connected and has found the remote directory (status 0), or failed; the
one serving the mount ends when the mount does, with the namespace.
"""
from __future__ import annotations

import errno
import os
import socket

from . import libc
from .world import find_executable

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable

PACKAGE_HINT = "sshfs is not installed: apt install sshfs (Debian, Ubuntu), dnf install fuse-sshfs (Fedora)"
FUSE_HINT = (
    "can't open /dev/fuse ({}): FUSE is not open to you here: chmod 0666 /dev/fuse (Debian's default; "
    'a udev rule KERNEL=="fuse", MODE="0666" keeps it), or run newns as root'
)
CACHING = ("-o", "auto_cache")
"""A file's pages stay in this kernel's cache from one open to the next while its size and
time (SFTP's, to the second) are unchanged, instead of a round trip for every read (a walk
that reads files takes half the time through /mnt/term). What changed at the far end shows
when sshfs's cache of its attributes expires (20 s), as names and times already did; a
file rewritten within the same second at the same size keeps its old pages."""


class Importer:
    """Mounts for import lines. rehearsal (--check): nothing is connected; what can be known
    without connecting is checked (sshfs, /dev/fuse), and an empty tmpfs stands in."""

    def __init__(self, env: dict[str, str], *, rehearsal: bool) -> None:
        """env: what sshfs and ssh run with (the caller's, as the caller started newns)."""
        self.rehearsal = rehearsal
        self.sshfs = find_executable("sshfs", env.get("PATH", "/usr/local/bin:/usr/bin:/bin"))[0]
        self.batch = not has_terminal()
        self.sock: socket.socket | None = None
        if not rehearsal and self.sshfs is not None:
            self.sock = _start_server(self.sshfs, env)

    def mount(self, host: str, remote: str) -> int | None:
        """A detached FUSE mount of remote on host, served; None in a rehearsal."""
        if self.sshfs is None:
            raise OSError(errno.ENOENT, PACKAGE_HINT)
        try:
            fuse = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise OSError(e.errno, FUSE_HINT.format(e.strerror)) from None
        try:
            if self.rehearsal:
                return None
            mnt = fuse_mount(fuse, f"{host}:{remote}")
            return served(self.sock, "\0".join((host, remote, "batch" if self.batch else "")), fuse, mnt)
        finally:
            os.close(fuse)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def fuse_mount(fuse: int, source: str, *, others: bool = False) -> int:
    """A detached FUSE mount served on fuse; others: open to every uid (allow_other, root's only),
    the kernel checking each file's mode against the ids of whoever opens it (default_permissions):
    sshfs serves every request with its server's rights, whatever ids made it."""
    fs = libc.fsopen(b"fuse")
    try:
        for key, value in (
            ("fd", str(fuse)), ("rootmode", "40000"), ("user_id", str(os.geteuid())), ("group_id", str(os.getegid())),
            ("source", source), ("subtype", "sshfs"),
        ):
            libc.fsconfig(fs, key.encode(), os.fsencode(value))
        if others:
            libc.fsconfig(fs, b"allow_other", None)
            libc.fsconfig(fs, b"default_permissions", None)
        return libc.fscreate(fs, libc.MOUNT_ATTR_NOSUID | libc.MOUNT_ATTR_NODEV)
    finally:
        os.close(fs)


def _start_server(sshfs: str, env: dict[str, str]) -> socket.socket:
    """The process that runs sshfs for the door, in the caller's namespaces, holding no
    descriptor of newns's but its socket and 0-2; not newns's child (the command newns becomes
    must not find it among its own), and gone when the socket is."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    first = os.fork()
    if first == 0:
        try:
            if os.fork() == 0:
                libc.close_all_but((theirs.fileno(),))
                _serve(theirs, sshfs, env)
        finally:
            os._exit(0)
    os.waitpid(first, 0)
    theirs.close()
    return ours


def _serve(sock: socket.socket, sshfs: str, env: dict[str, str]) -> None:
    """Run sshfs for each request (host, remote, batch); end when newns closes its end."""

    def run(message: str, fuse: int) -> str:
        host, remote, batch = message.split("\0")
        return _run(sshfs, env, host, remote, fuse, bool(batch))

    serve(sock, run)
    os._exit(0)


def served(sock: socket.socket | None, message: str, fuse: int, mnt: int) -> int:
    """mnt, the FUSE mount on fuse, once the server at sock (serve) has started sshfs on fuse
    for message; closed, and OSError, when it could not."""
    assert sock is not None
    socket.send_fds(sock, [message.encode("utf-8", "surrogateescape")], [fuse])
    reply = sock.recv(65536).decode("utf-8", "surrogateescape")
    if reply != "ok":
        os.close(mnt)
        raise OSError(errno.EIO, reply or "sshfs ended unexpectedly")
    return mnt


def serve(sock: socket.socket, run: Callable[[str, int], str]) -> None:
    """Answer each request on sock, a message and a /dev/fuse descriptor, with what run makes
    of them ("ok", or why sshfs could not start), until the other end closes."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 65536, 1)
        except OSError:
            break
        if not data:
            break
        try:
            reply = run(data.decode("utf-8", "surrogateescape"), fds[0]) if fds else "no /dev/fuse descriptor came"
        except OSError as e:
            reply = f"can't run sshfs: {e.strerror}"
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(reply.encode("utf-8", "surrogateescape"))


def _run(sshfs: str, env: dict[str, str], host: str, remote: str, fuse: int, batch: bool) -> str:
    said = os.memfd_create("sshfs", os.MFD_CLOEXEC)
    try:
        argv = [sshfs, *CACHING, "-o", "idmap=user", "-o", "sshfs_verbose", "-o", "ConnectTimeout=30"]  # verbose: ssh's own errors
        if batch:
            argv += ["-o", "BatchMode=yes"]
        argv += [f"{host}:{remote}", f"/dev/fd/{fuse}"]
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(said, 1)
                os.dup2(said, 2)
                os.set_inheritable(fuse, True)
                os.execve(sshfs, argv, env)
            finally:
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        if status == 0:
            return "ok"
        lines = [line.strip() for line in os.pread(said, 4096, 0).decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line and line != "read: Connection reset by peer"]  # ssh ended: says nothing
        return "sshfs: " + ("; ".join(lines) or f"failed with status {status}")
    finally:
        os.close(said)


def has_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDONLY | os.O_CLOEXEC))
        return True
    except OSError:
        return False
