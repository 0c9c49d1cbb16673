"""Entering new namespaces, and dropping privileges in them (another process's namespaces,
joined, are joined.py's)."""
from __future__ import annotations

import errno
import os

from ..diagnostics import NewnsError
from . import libc
from .world import process_status, sysctl

ISOLATING = {"net": libc.CLONE_NEWNET, "ipc": libc.CLONE_NEWIPC, "uts": libc.CLONE_NEWUTS}
"""A plan's namespaces beyond mounts (clear net, clear ipc, hostname), as unshare flags."""

def rootless() -> bool:
    return os.geteuid() != 0


def unshare(flags: int) -> None:
    """Unshare these namespaces, in a new user namespace first when not root: one that maps
    only the caller's own uid and gid, to themselves. A death signal set for this process
    holds across (the kernel drops it when credentials change, as they do here)."""
    if not rootless():
        try:
            libc.unshare(flags)
        except OSError as e:
            raise NewnsError(f"can't make a new namespace: {e.strerror}{_refused_kinds(flags)}") from None
        return
    uid, gid, parent, death = os.geteuid(), os.getegid(), os.getppid(), libc.death_signal()
    try:
        libc.unshare(libc.CLONE_NEWUSER | flags)
    except OSError as e:
        raise NewnsError(userns_refusal(e.errno or 0) + _refused_kinds(flags)) from None
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as e:
        raise NewnsError(userns_refusal(e.errno or 0, mapping=True)) from None
    if death:
        libc.prctl(libc.PR_SET_PDEATHSIG, death)
        if os.getppid() != parent:
            raise NewnsError("the process that started newns has ended")


def _refused_kinds(flags: int) -> str:
    kinds = [kind for kind, flag in ISOLATING.items() if flags & flag]
    return f" (with new {', '.join(kinds)} namespaces: the kernel may allow only some kinds)" if kinds else ""


def isolate(kinds: tuple[str, ...], hostname: str | None) -> None:
    """Set up the namespaces beyond mounts just made: the host name, and the loopback
    interface of a new network namespace up (it starts down)."""
    try:
        if hostname is not None:
            libc.sethostname(hostname.encode("utf-8", "surrogateescape"))
    except OSError as e:
        raise NewnsError(f"can't set the host name {hostname!r}: {e.strerror}") from None
    try:
        if "net" in kinds:
            libc.interface_up(b"lo")
    except OSError as e:
        raise NewnsError(f"can't bring up lo in the new network namespace: {e.strerror}") from None


def unshare_more(flags: int) -> None:
    """Unshare these namespaces from within a user namespace newns made already."""
    try:
        libc.unshare(flags)
    except OSError as e:
        raise NewnsError(f"can't make a new namespace: {e.strerror}") from None


def keep_copy() -> int:
    """Keep this mount namespace as it is (a descriptor of it) and go on in a copy of it."""
    kept = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    unshare_more(libc.CLONE_NEWNS)
    return kept


def start_over(kept: int) -> None:
    """Leave the mount namespace built so far for a new copy of the one kept (keep_copy);
    the root and working directory go back to the kept namespace's root."""
    try:
        libc.setns(kept, libc.CLONE_NEWNS)
    except OSError as e:
        raise NewnsError(f"can't go back to the namespace kept to start again: {e.strerror}") from None
    unshare_more(libc.CLONE_NEWNS)


def make_mounts_private() -> None:
    """No mount made here reaches another namespace, and none made elsewhere arrives."""
    try:
        libc.make_private(b"/")
    except OSError as e:
        raise NewnsError(f"can't make the new namespace's mounts private: {e.strerror}") from None


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def userns_refusal(err: int, *, mapping: bool = False) -> str:
    """Why the kernel refused a user namespace, and how to allow it."""
    start = f"can't make a user namespace ({os.strerror(err)}): "
    if sysctl("user.max_user_namespaces") == "0":
        return start + "user namespaces are disabled: sysctl -w user.max_user_namespaces=15000, or run newns as root"
    if sysctl("kernel.unprivileged_userns_clone") == "0":
        return start + "unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1, or run newns as root"
    if sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
        return start + (
            "AppArmor restricts unprivileged user namespaces: give newns an AppArmor profile that allows "
            'userns (README, "Ubuntu 24.04"), or turn the restriction off for every program: '
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0; or run newns as root"
        )
    if err == errno.EPERM and not mapping:
        return start + "a seccomp filter probably blocks unshare (Docker's default profile does): run with seccomp=unconfined, or as root"
    if err == errno.EINVAL:
        return start + "this process has threads, or the kernel lacks user namespaces (CONFIG_USER_NS)"
    return start + "check the user-namespace sysctls, or run newns as root"


def become(uid: int, gid: int) -> None:
    """Drop from root to uid and gid for good, as setpriv --reuid --regid --clear-groups
    --inh-caps=-all --bounding-set=-all does: no supplementary groups, no capability in any
    set (whatever securebits or ambient capabilities the caller left), no_new_privs, no
    descriptor of root's but 0-2 past the next exec, and a session keyring of its own (root's
    holds root's keys). Raises NewnsError unless all of it held."""
    libc.cloexec_from(3)
    try:
        libc.prctl(libc.PR_SET_SECUREBITS, 0)  # no SECBIT_NO_SETUID_FIXUP or KEEP_CAPS: setuid clears
        libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
        for capability in range(int(sysctl("kernel.cap_last_cap") or "-1") + 1):
            libc.prctl(libc.PR_CAPBSET_DROP, capability)
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        libc.join_new_session_keyring()
        libc.clear_capabilities()
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    except OSError as e:
        raise NewnsError(f"can't drop to uid {uid}, gid {gid}: {e.strerror}") from None
    status = process_status("self")
    left = [k for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb") if int(status[k][0], 16)]
    ids = [status["Uid"], status["Gid"]]
    if left or ids != [[str(uid)] * 4, [str(gid)] * 4] or status["Groups"] or status["NoNewPrivs"] != ["1"]:
        raise NewnsError(f"dropping to uid {uid}, gid {gid} left privileges: {', '.join(left) or 'ids or groups'}")


OVER_THE_NETWORK = (12, 21, 19, 16)
"""CAP_NET_ADMIN (the rules), CAP_SYS_ADMIN (another network namespace), CAP_SYS_PTRACE
(newns or the engine, in the caller's) and CAP_SYS_MODULE: what a command root runs with a
network of newns's rules must not have."""


def drop(capabilities: tuple[int, ...]) -> None:
    """Drop these capabilities for good: from the bounding set (root's exec takes them back
    from it), the inheritable and ambient sets, and this process's."""
    try:
        for capability in capabilities:
            libc.prctl(libc.PR_CAPBSET_DROP, capability)
        libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
        libc.lower_capabilities(capabilities)
    except OSError as e:
        raise NewnsError(f"can't drop the capabilities over the network's rules: {e.strerror}") from None


def nested_user(uid: int, gid: int) -> None:
    """Rootless `user`: go on in a user namespace (and a mount namespace) of its own that
    maps the caller to uid and gid. The mounts newns made become locked there, as
    bubblewrap's are: a command that is root in it can't unmount what hides a secret."""
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    try:
        libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNS)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {outer_uid} 1")
        _write("/proc/self/gid_map", f"{gid} {outer_gid} 1")
    except OSError as e:
        raise NewnsError(f"can't map you to uid {uid}, gid {gid} in a user namespace: {e.strerror}") from None
