"""The host name of another process's UTS namespace: the kernel gives a process only its
own namespace's, so a child made for that alone joins the other one and asks."""
from __future__ import annotations

import os

from . import libc
from .world import namespace_id, sysctl


def host_name(pid: int | str) -> str | None:
    """The host name of pid's UTS namespace; None when the caller may not join it.

    The child joins the UTS namespace directly where it may (root); else it joins the
    user namespace that owns it first, which the kernel allows only to the user who
    owns that one, and only below the caller's own. It joins non-dumpable: nothing in
    that user namespace can trace it and act through it, as the caller in the caller's
    mount namespace. Where joining would make it dumpable again (fs.suid_dumpable=1:
    the kernel sets that on every change of credentials), it does not join."""
    if namespace_id(pid, "uts") == namespace_id("self", "uts"):
        return os.uname().nodename
    try:
        uts = os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        user = libc.owner_namespace(uts)
    except OSError:  # it belongs to a user namespace outside the caller's
        os.close(uts)
        return None
    readable, writable = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        _ask(uts, user, writable)
    os.close(writable)
    os.close(uts)
    os.close(user)
    name = libc.read_to_end(readable)
    os.close(readable)
    _, status = os.waitpid(child, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    return os.fsdecode(name)


def _ask(uts: int, user: int, answer: int) -> None:
    """In the child: join, write the host name to answer and end; end failed when the
    namespace can't be joined."""
    try:
        libc.close_all_but({uts, user, answer})
        libc.prctl(libc.PR_SET_DUMPABLE, 0)
        try:
            libc.setns(uts, libc.CLONE_NEWUTS)
        except PermissionError:
            if os.fstat(user).st_ino == namespace_id("self", "user") or sysctl("fs.suid_dumpable") == "1":
                raise
            libc.setns(user, libc.CLONE_NEWUSER)
            libc.prctl(libc.PR_SET_DUMPABLE, 0)
            libc.setns(uts, libc.CLONE_NEWUTS)
        os.write(answer, os.fsencode(os.uname().nodename))
    except BaseException:
        os._exit(1)
    os._exit(0)
