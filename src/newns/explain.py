"""--explain: the Linux operations a plan stands for, one a line, for a person."""
from __future__ import annotations

from .diagnostics import printable
from .plan import (
    NEW_ROOT, OLD_ROOT, Attach, Capture, Detach, Devices, Import, MakePoint, NewFs, Overlay, Plan, Release, Reroot,
    Step,
)
from .record import dispatch

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable
    from typing import Any

    from .network import Network, Resolver


def explain(plan: Plan, *, rootless: bool, uid: int, gid: int, resolver: Resolver | None = None) -> list[str]:
    """The lines, made printable: paths are shown as the file's words are; resolver: the
    caller's, for a plan with net lines."""
    return [printable(line) for line in _lines(plan, rootless=rootless, uid=uid, gid=gid, resolver=resolver)]


def _onto(target: str, point: int | None) -> str:
    return target if point is None else f"{target} (#{point})"


ISOLATING = {"net": "CLONE_NEWNET", "ipc": "CLONE_NEWIPC", "uts": "CLONE_NEWUTS"}


def _lines(plan: Plan, *, rootless: bool, uid: int, gid: int, resolver: Resolver | None) -> list[str]:
    user = ["CLONE_NEWUSER"] if rootless else []
    user += [ISOLATING[kind] for kind in plan.settings.isolated]
    maps = [f"write uid_map '{uid} {uid} 1', setgroups 'deny', gid_map '{gid} {gid} 1'"] if rootless else []
    if plan.settings.hostname is not None:
        maps.append(f"sethostname {plan.settings.hostname!r}")
    if "net" in plan.settings.isolated:
        maps.append("bring lo up (SIOCSIFFLAGS IFF_UP): the new network namespace has nothing else")
    lines = []
    if plan.settings.network is not None:
        lines.append("fork: the engine's starter, in the caller's namespaces (names resolved), dies with newns")
        maps += _network(plan.settings.network, rootless, resolver)
    if plan.work_dirs:
        lines.append("make a locked run directory for overlay work directories in the cache (XDG_CACHE_HOME/newns)")
    if plan.pid_namespace:
        lines.append(f"unshare({'|'.join(user + ['CLONE_NEWPID'])})")
        lines += maps
        lines.append("fork: newns stays as the parent; the child is PID 1 of the new PID namespace, and dies with newns")
        lines.append("unshare(CLONE_NEWNS)")
    elif plan.work_dirs or plan.settings.network is not None:
        lines.append("fork: newns stays as the parent; the child dies with newns")
        lines.append(f"unshare({'|'.join(user + ['CLONE_NEWNS'])})")
        lines += maps
    else:
        lines.append(f"unshare({'|'.join(user + ['CLONE_NEWNS'])})")
        lines += maps
    lines.append("mount --make-rprivate /")
    held: dict[int, str] = {}
    for action in plan.actions:
        text = action.text if action.op is not None else f"{action.text}, changed by this line, mounted now"
        lines.append(f"# {action.where}: {text}")
        lines.extend("  " + _step(step, held) for step in action.steps)
    if plan.cleared:
        lines.append(f"pivot_root {NEW_ROOT} (chdir {NEW_ROOT}; pivot_root . .; umount -l .): the rest, {OLD_ROOT} too, is detached")
    if plan.settings.network is not None and resolver is not None and resolver.conf is not None:
        conf = "; ".join(resolver.conf.splitlines())
        lines.append(
            f"where /etc/resolv.conf asks a name server on the loopback, or leads nowhere: fsopen tmpfs, fsmount, "
            f"write a file of it '{conf}', open_tree(OPEN_TREE_CLONE) of that file alone, read-only, move_mount onto "
            "/etc/resolv.conf itself (a symlink there is covered, not followed)"
        )
    lines.append(f"chdir {plan.cwd}")
    if plan.pid_namespace:
        lines.append("fork: the command, a child of PID 1, which reaps orphans")
    if plan.settings.env is not None:
        names = " ".join(sorted(plan.settings.env))
        lines.append(f"the command's environment, as the file's lines left it, with PWD and NEWNS set: {names}")
    if plan.settings.ids is not None and rootless:
        lines.append(
            f"unshare(CLONE_NEWUSER|CLONE_NEWNS), write uid_map '{plan.settings.ids[0]} {uid} 1', setgroups 'deny', "
            f"gid_map '{plan.settings.ids[1]} {gid} 1': the mounts above are locked for the command"
        )
    elif plan.settings.ids is not None and plan.settings.ids[0] == 0:
        lines.append(f"setgroups [], setresgid {plan.settings.ids[1]}: uid 0 stays root, with every capability")
    elif plan.settings.ids is not None:
        lines.append(
            f"drop every capability (bounding, ambient, inheritable), setgroups [], setresgid {plan.settings.ids[1]}, "
            f"setresuid {plan.settings.ids[0]}, close-on-exec every descriptor but 0-2"
        )
    if plan.settings.network is not None and not rootless:
        lines.append("drop CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE (bounding, inheritable, ambient)")
    privileges = "" if plan.settings.setuid_allowed else "no_new_privs, "
    lines.append(f"{privileges}a seccomp filter refusing TIOCSTI and TIOCLINUX, exec the command")
    return lines


def _network(network: Network, rootless: bool, resolver: Resolver | None) -> list[str]:
    """The rules set in the new network namespace (names as the file gives them: resolved when
    the namespace is built) and the engine attached to it."""
    from .network import DNS_FORWARD, ENGINE, engine_arguments, ruleset

    assert resolver is not None, "a plan with net lines is explained with the caller's resolver"
    allowed = [(dest, dest.networks or (f"{{ {dest.name} }}",)) for dest in network.allowed]
    rules = ruleset(allowed, resolver).rstrip("\n").split("\n")
    capability = " with CAP_NET_ADMIN alone (ambient)" if rootless else ""
    arguments = engine_arguments(
        network, "/proc/PID/ns/net", "/proc/PID/ns/user" if rootless else None, dns_forward=resolver.conf is not None
    )
    if resolver.conf is not None:
        dns = f"DNS to {DNS_FORWARD}, which {ENGINE} forwards to /etc/resolv.conf's name server on the host's loopback"
    else:
        dns = "DNS to the name servers of /etc/resolv.conf"
    return [
        f"nft -f -{capability}, {dns}:", *("  " + rule for rule in rules),
        f"the starter execs {ENGINE} {' '.join(arguments)}; newns waits for its default route",
    ]


def _replacing(replace: bool, target: str) -> str:
    return f", umount -l {target}" if replace else ""


def _step(step: Step, held: dict[int, str]) -> str:
    """The step's line; held, what each slot holds so far, is kept up to date."""
    return dispatch(_STEPS, step, held, of="--explain")


def _capture(step: Capture, held: dict[int, str]) -> str:
    held[step.slot] = step.path
    return f"open {step.path} (O_PATH) -> #{step.slot}"


def _new_fs(step: NewFs, held: dict[int, str]) -> str:
    held[step.slot] = f"new {step.fstype} #{step.slot}"
    options = f" -o {step.options}" if step.options else ""
    return f"fsopen {step.fstype}{options}, fsmount -> #{step.slot}"


def _import(step: Import, held: dict[int, str]) -> str:
    held[step.slot] = f"{step.host}:{step.remote}"
    return (
        f"open /dev/fuse, fsopen fuse (rootmode=40000, user_id, group_id: the caller's), fsmount -> #{step.slot}; "
        f"beside newns, in the caller's namespaces and as the caller: sshfs -o BatchMode=yes (without a terminal) "
        f"{step.host}:{step.remote} /dev/fd/N, serving it"
    )


def _attach(step: Attach, held: dict[int, str]) -> str:
    mode = ", then read-only, recursively (mount_setattr)" if step.readonly else ""
    held[step.placed] = step.target
    return (
        f"mount --rbind {held.get(step.slot, f'#{step.slot}')} {_onto(step.target, step.point)} "
        f"(open_tree{_replacing(step.replace, step.target)}, move_mount){mode} -> #{step.placed}"
    )


def _overlay(step: Overlay, held: dict[int, str]) -> str:
    layers = ", ".join(f"{held.get(s, f'#{s}')}" for s in step.lowers)
    upper = f"; upperdir {held.get(step.upper, f'#{step.upper}')}" if step.upper is not None else "; read-only"
    mode = "; read-only" if step.readonly and step.upper is not None else ""
    held[step.placed] = step.target
    return (
        f"mount -t overlay {_onto(step.target, step.point)}: lowerdir+ {layers}{upper}{mode}"
        f"{_replacing(step.replace, step.target)} -> #{step.placed}"
    )


def _detach(step: Detach, held: dict[int, str]) -> str:
    return f"umount -l {step.target}" + (", again while something is mounted there" if step.every else "")


def _make_point(step: MakePoint, held: dict[int, str]) -> str:
    what = "mkdir" if step.directory else "touch"
    return f"{what} {step.path} -> #{step.slot} (a mount point in a new filesystem, made beneath #{step.base}, no symlink followed)"


def _release(step: Release, held: dict[int, str]) -> str:
    return "close " + " ".join(f"#{slot}" for slot in step.slots)


def _reroot(step: Reroot, held: dict[int, str]) -> str:
    held[step.slot] = f"the new root #{step.slot}"
    held[step.placed] = NEW_ROOT
    return (
        f"mount a hidden tmpfs root, pivot_root into it: the namespace so far at {OLD_ROOT}, "
        f"a new empty tmpfs -> #{step.slot}, a copy at {NEW_ROOT} -> #{step.placed}"
    )


def _devices(step: Devices, held: dict[int, str]) -> str:
    names = " ".join(name for name, _ in step.nodes)
    return (
        f"fill {step.target}: bind {names} from the caller's /dev; devpts (newinstance) on pts; "
        "tmpfs on shm; console from the terminal; links ptmx fd stdin stdout stderr"
    )


_STEPS: dict[type, Callable[[Any, dict[int, str]], str]] = {
    Capture: _capture, NewFs: _new_fs, Import: _import, Attach: _attach, Overlay: _overlay, Detach: _detach,
    MakePoint: _make_point, Release: _release, Reroot: _reroot, Devices: _devices,
}
