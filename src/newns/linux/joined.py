"""Another process's namespaces, held open and joined (--attach)."""
from __future__ import annotations

import os
import select

from ..diagnostics import NewnsError
from . import libc
from .namespaces import ISOLATING, OVER_THE_NETWORK
from .world import namespace_id, process_status

JOINED = (
    ("user", libc.CLONE_NEWUSER), ("mnt", libc.CLONE_NEWNS), ("net", libc.CLONE_NEWNET), ("ipc", libc.CLONE_NEWIPC),
    ("uts", libc.CLONE_NEWUTS), ("pid", libc.CLONE_NEWPID),
)
"""The namespaces --attach joins, in the order they must be joined."""


class Joined:
    """The namespaces of a running process, held open: whose they are, and a way in.

    The process is held by a pidfd too: what is read of it by its PID afterwards
    (its working directory, its id maps) is read only while it is still alive,
    so a PID reused meanwhile can't stand in for it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fds: dict[str, int] = {}
        self.process: int | None = None
        self.own = {kind: namespace_id("self", kind) for kind in ("user", "pid", "pid_for_children", *ISOLATING)}
        try:
            self.process = libc.pidfd_open(pid)
        except ProcessLookupError:
            raise NewnsError(f"--attach {pid}: no such process") from None
        try:
            for kind, _ in JOINED:
                self.fds[kind] = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        except PermissionError:
            self.close()
            owner = user_name(os.stat(f"/proc/{pid}").st_uid)
            raise NewnsError(f"--attach {pid}: that process belongs to {owner}, not to you: newns joins only your own") from None
        except BaseException:
            self.close()
            raise
        self.owner = libc.namespace_owner(self.fds["user"])

    def alive(self) -> None:
        """Raise unless the process is still there (so what was read by its PID was its own)."""
        if self.process is None or select.select([self.process], [], [], 0)[0]:
            raise NewnsError(f"--attach {self.pid}: the process has ended")

    def mount_namespace(self) -> int:
        """The inode that identifies its mount namespace (as world.namespace_id gives)."""
        return os.fstat(self.fds["mnt"]).st_ino

    def owner_gid(self) -> int:
        """The group the owner's namespace maps, as newns maps it (else the owner's own group)."""
        gid = None
        try:
            with open(f"/proc/{self.pid}/gid_map") as f:
                lines = [line.split() for line in f.read().split("\n") if line.strip()]
            if len(lines) == 1 and lines[0][2] == "1":
                gid = int(lines[0][1])
        except (OSError, IndexError, ValueError):
            pass
        self.alive()
        if gid is not None:
            return gid
        import pwd

        return pwd.getpwuid(self.owner).pw_gid

    def strangers(self) -> dict[int, int]:
        """The users other than the caller with a process in the namespace (any of its uids),
        each with the group of one of their processes there: a namespace in the initial user
        namespace (a set-user-ID tool's) may hold mounts they made."""
        target = os.fstat(self.fds["mnt"])
        found: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                namespace = os.stat(f"/proc/{entry}/ns/mnt")
                status = process_status(entry)
            except OSError:
                continue  # ended meanwhile
            if (namespace.st_ino, namespace.st_dev) != (target.st_ino, target.st_dev):
                continue
            for uid in {int(word) for word in status["Uid"]} - {os.geteuid()}:
                found.setdefault(uid, int(status["Gid"][0]))
        self.alive()
        return found

    def other_pid_namespace(self) -> bool:
        return os.fstat(self.fds["pid"]).st_ino != self.own["pid"]

    def withheld(self) -> tuple[int, ...]:
        """Of the capabilities over a network of newns's rules (OVER_THE_NETWORK), those the
        process is bounded from, when its network namespace is not ours: a command attached
        there as root must not have them either."""
        if os.fstat(self.fds["net"]).st_ino == self.own["net"]:
            return ()
        bounding = int(process_status(self.pid)["CapBnd"][0], 16)
        self.alive()
        return tuple(capability for capability in OVER_THE_NETWORK if not bounding >> capability & 1)

    def enter(self) -> None:
        """Join the user namespace (when it is not ours already), the mount namespace, and
        the network, IPC and UTS ones that are not ours; the PID namespace is joined for the
        children this process makes after."""
        if os.fstat(self.fds["user"]).st_ino != self.own["user"]:
            libc.setns(self.fds["user"], libc.CLONE_NEWUSER)
        libc.setns(self.fds["mnt"], libc.CLONE_NEWNS)
        for kind, flag in ISOLATING.items():
            if os.fstat(self.fds[kind]).st_ino != self.own[kind]:
                try:
                    libc.setns(self.fds[kind], flag)
                except OSError as e:
                    raise NewnsError(
                        f"--attach {self.pid}: can't join its {kind} namespace ({e.strerror}): it belongs to a user "
                        "namespace newns did not join (one above the process's own)"
                    ) from None
        if os.fstat(self.fds["pid"]).st_ino != self.own["pid_for_children"]:
            libc.setns(self.fds["pid"], libc.CLONE_NEWPID)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        if self.process is not None:
            os.close(self.process)
            self.process = None


def user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def shared_mount(mountinfo: str) -> tuple[str, str] | None:
    """A mount whose new mounts propagate elsewhere (propagation shared): its mount point
    and peer group; None when there is none."""
    for line in mountinfo.split("\n"):
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 7:
            continue
        for tag in fields[6 : fields.index("-")]:
            kind, _, group = tag.partition(":")
            if kind == "shared":
                return fields[4], group
    return None
