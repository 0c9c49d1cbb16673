"""Other processes, as newns sees them through /proc for --ns and --attach: what each
sees, the namespace it was built from, the namespaces it has of its own, its ids and its
environment. Nothing here changes anything."""
from __future__ import annotations

import os

from ..diagnostics import NewnsError
from ..mountinfo import mount_ids
from . import libc
from .world import INIT_KEEPS, command_line, namespace_id, process_status, read_mountinfo


def process_view(pid: int | str) -> tuple[str, str | None]:
    """A process's mountinfo, and its working directory (None when it can't be read)."""
    try:
        cwd: str | None = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = None
    return read_mountinfo(f"/proc/{pid}"), cwd


def let_go(held: int | None) -> None:
    """Close what origin held, if it held anything."""
    if held is not None:
        os.close(held)


PROC_MAGIC = 0x9FA0
INITIAL_USER_NAMESPACE = 0xEFFFFFFD
INITIAL_PID_NAMESPACE = 0xEFFFFFFC
"""The inodes that identify the initial user and PID namespaces (the kernel's PROC_USER_INIT_INO
and PROC_PID_INIT_INO)."""


def origin(pid: int | str, mountinfo: str) -> int | None:
    """The namespace pid's (whose mountinfo is given) was built from: a descriptor of the
    /proc directory of a process in it, read as /proc/self/fd/N. That is the nearest of pid's
    ancestors in another mount namespace (the caller of the newns that built it), else PID 1
    when it is in another one, else what PID 1 keeps at INIT_KEEPS when it is newns's init
    (its interpreter, run by this user); None when none can be read (pid's namespace is the
    initial one, or its /proc shows no process outside it). A namespace is told by its mounts'
    IDs, which no two namespaces share; an ancestor is held open before its child is asked
    again whether it is still its parent, so that no process reusing a PID can stand in for it."""
    own = mount_ids(mountinfo)
    child = str(pid)
    while (parent := _parent(child)) > 0:
        if parent == 1:
            _reachable_init()
        held = _held(f"/proc/{parent}", own)
        if held is not None and _init_made_by_parent(held):
            os.close(held)  # its namespace is a step of the build: the one built from is above it
            held = None
        if held is None:
            child = str(parent)
        elif _parent(child) == parent:
            return _before_pid_namespace(held)
        else:
            os.close(held)  # the parent ended meanwhile: ask its child again
    _reachable_init()
    held = _held("/proc/1", own)
    if held is None and _newns_init():
        held = _held(f"/proc/1/fd/{INIT_KEEPS}", own)
    return None if held is None else _before_pid_namespace(held)


def _init_made_by_parent(held: int) -> bool:
    """Whether held (a /proc directory) is PID 1 of a PID namespace its parent made, as
    newns's init is: it built the namespace, which a command with a `user` line (rootless)
    goes on in a copy of."""
    proc = f"/proc/self/fd/{held}"
    try:
        if process_status(f"self/fd/{held}")["NSpid"][-1] != "1":
            return False
        above = _parent(f"self/fd/{held}")
        return above > 0 and os.stat(f"{proc}/../{above}/ns/pid_for_children").st_ino == os.stat(f"{proc}/ns/pid").st_ino
    except (OSError, KeyError, IndexError):
        return False


def _before_pid_namespace(held: int) -> int:
    """held (a /proc directory), or its process's parent's when that process made a PID
    namespace and its parent is in the same mount namespace. newns makes a PID namespace
    in its own process, with the network, IPC and UTS namespaces the file asks for, and
    its init builds the mounts: the namespaces those were made beside are its parent's."""
    proc = f"self/fd/{held}"
    try:
        if os.stat(f"/proc/{proc}/ns/pid_for_children").st_ino == os.stat(f"/proc/{proc}/ns/pid").st_ino:
            return held
        ppid = _parent(proc)
        above = os.open(f"/proc/{proc}/../{ppid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return held
    try:
        same = mount_ids(read_mountinfo(f"/proc/self/fd/{above}")) == mount_ids(read_mountinfo(f"/proc/{proc}"))
        if same and ppid > 0 and _parent(proc) == ppid:  # (not another process that took the PID)
            os.close(held)
            return above
    except OSError:
        pass
    os.close(above)
    return held


def _parent(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _newns_init() -> bool:
    """Whether PID 1 runs this process's interpreter, as this user."""
    try:
        return os.stat("/proc/1").st_uid == os.geteuid() and os.path.samestat(
            os.stat("/proc/1/exe"), os.stat("/proc/self/exe")
        )
    except OSError:
        return False


def _reachable_init() -> None:
    """Raise NewnsError when PID 1 is newns's init, seen from inside its PID namespace by a
    process that may not read it: the init keeps the namespace built from, and a command with
    a `user` line (another user namespace, or other ids) may not read it, nor act through it.
    The init is told by running what this process runs (its command line's interpreter and
    script); that it can't be read, by its namespaces."""
    try:
        if namespace_id("self", "pid") == INITIAL_PID_NAMESPACE:
            return
        os.stat("/proc/1/ns/mnt")
        return
    except PermissionError:
        pass
    except OSError:
        return
    if command_line("1")[:2] != command_line("self")[:2]:
        return
    raise NewnsError(
        "--ns: the namespace this one was built from is out of reach: newns's init, PID 1 here, keeps it, and "
        "this process may not read the init (a command with a user line never may, so that it can't act through "
        "it); run newns --ns PID outside the namespace, with the command's PID there"
    )


def _held(path: str, own: set[str]) -> int | None:
    """path, a process's /proc directory, held open when that process's mount namespace is
    another than the one whose mount IDs are own, and its mountinfo can be read."""
    try:
        held = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if libc.filesystem_type(held) == PROC_MAGIC and not mount_ids(read_mountinfo(f"/proc/self/fd/{held}")) & own:
            return held
    except OSError:
        pass
    os.close(held)
    return None


def process_environment(pid: int) -> dict[str, str]:
    """The environment a process was started with (/proc/PID/environ)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        data = f.read()
    pairs = (entry.partition(b"=") for entry in data.split(b"\0") if b"=" in entry)
    return {os.fsdecode(name): os.fsdecode(value) for name, _, value in pairs}


def isolation(pid: int | str, origin: str) -> tuple[list[str], tuple[int, int] | None]:
    """Which of the network, IPC and UTS namespaces of pid are not those of origin (a process,
    as process_view names one); and the ids a `user` line gives when the caller replays it:
    those its own user namespace maps the caller to (from inside, those it maps the ids it
    was made from to), else the ids it runs with, when they are not the caller's (real,
    effective, saved and file-system ids all one, and not root's: a dump never makes a
    replay root). Inside, a command root dropped to other ids runs as the caller does: no
    user line."""
    return [kind for kind in ("net", "ipc", "uts") if _own(pid, origin, kind)], _ids(pid)


def _own(pid: int | str, origin: str, kind: str) -> bool:
    """Whether pid's namespace of this kind is another than origin's. Where origin's can't be
    read (another user's, or another user namespace's): from outside pid's mount namespace,
    whether it is another than the caller's, who replays the lines; from inside, whether
    pid's user namespace owns it (made it), unless that is the initial one, which owns every
    namespace the machine started with (a command root dropped to other ids can't tell)."""
    try:
        return namespace_id(pid, kind) != namespace_id(origin, kind)
    except PermissionError:
        if namespace_id(pid) != namespace_id("self"):
            return namespace_id(pid, kind) != namespace_id("self", kind)
        if namespace_id(pid, "user") == INITIAL_USER_NAMESPACE:
            return False
    fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return libc.owning_user_namespace(fd) == namespace_id(pid, "user")
    except PermissionError:
        return False
    finally:
        os.close(fd)


def _ids(pid: int | str) -> tuple[int, int] | None:
    inside = namespace_id(pid) == namespace_id("self")
    if namespace_id(pid, "user") != namespace_id("self", "user"):
        mapped = _mapped(pid)
        if mapped is not None and mapped[1] == (os.geteuid(), os.getegid()):
            return None if mapped[0] == mapped[1] else mapped[0]
    elif inside and namespace_id(pid, "user") != INITIAL_USER_NAMESPACE:
        mapped = _mapped(pid)  # its user namespace, seen from within: outer ids are its parent's
        if mapped is not None and mapped[0] != mapped[1]:
            return mapped[0]
    ids = _running(pid)
    return None if ids is None or ids == (os.geteuid(), os.getegid()) or ids[0] == 0 else ids


def _mapped(pid: int | str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The uid and gid pid's user namespace maps, and those they are outside it, when it maps
    one of each."""
    maps = []
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}") as f:
            maps.append(f.read().split())
    if not all(len(fields) == 3 and fields[2] == "1" for fields in maps):
        return None
    return (int(maps[0][0]), int(maps[1][0])), (int(maps[0][1]), int(maps[1][1]))


def _running(pid: int | str) -> tuple[int, int] | None:
    """The uid and gid a process runs with; None for a set-user-ID program, or one between ids
    (real, effective, saved and file-system ids not all one): nothing it runs as is its own."""
    fields = process_status(pid)
    uids, gids = set(fields["Uid"]), set(fields["Gid"])
    if len(uids) != 1 or len(gids) != 1:
        return None
    return int(uids.pop()), int(gids.pop())
