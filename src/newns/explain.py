"""--explain: the Linux operations a plan stands for, one a line, for a person."""
from __future__ import annotations

from .plan import NEW_ROOT, OLD_ROOT, Attach, Capture, Detach, MakePoint, NewFs, Overlay, Plan, Release, Reroot, Step


def explain(plan: Plan, *, rootless: bool, uid: int, gid: int) -> list[str]:
    flags = "CLONE_NEWUSER|CLONE_NEWNS" if rootless else "CLONE_NEWNS"
    if plan.pid_namespace:
        flags += "|CLONE_NEWPID"
    lines = [f"unshare({flags})"]
    if rootless:
        lines.append(f"write uid_map '{uid} {uid} 1', setgroups 'deny', gid_map '{gid} {gid} 1'")
    lines.append("mount --make-rprivate /")
    if plan.work_dirs:
        lines.insert(0, "fork: newns waits outside the namespace, to remove overlay work directories afterwards")
    if plan.pid_namespace:
        lines.append("fork: the child is PID 1 of the new PID namespace; it stays as the command's init")
    held: dict[int, str] = {}
    for action in plan.actions:
        lines.append(f"# {action.where}: {action.text or 'the union changed here, mounted now'}")
        lines.extend("  " + _step(step, held) for step in action.steps)
    if plan.cleared:
        lines.append(f"pivot_root {NEW_ROOT} (chdir {NEW_ROOT}; pivot_root . .; umount -l .): the rest, {OLD_ROOT} too, is detached")
    lines.append(f"chdir {plan.cwd}")
    lines.append("exec the command")
    return lines


def _step(step: Step, held: dict[int, str]) -> str:
    if isinstance(step, Capture):
        held[step.slot] = step.path
        return f"open {step.path} (O_PATH) -> #{step.slot}"
    if isinstance(step, NewFs):
        held[step.slot] = f"new {step.fstype} #{step.slot}"
        options = f" -o {step.options}" if step.options else ""
        return f"fsopen {step.fstype}{options}, fsmount -> #{step.slot}"
    if isinstance(step, Attach):
        mode = ", then read-only, recursively (mount_setattr)" if step.readonly else ""
        return f"mount --rbind {held.get(step.slot, f'#{step.slot}')} {step.target} (open_tree, move_mount){mode}"
    if isinstance(step, Overlay):
        layers = ", ".join(f"{held.get(s, f'#{s}')}" for s in step.lowers)
        upper = f"; upperdir {held.get(step.upper, f'#{step.upper}')}" if step.upper is not None else "; read-only"
        mode = "; read-only" if step.readonly and step.upper is not None else ""
        return f"mount -t overlay {step.target}: lowerdir+ {layers}{upper}{mode}"
    if isinstance(step, Detach):
        return f"umount -l {step.target}"
    if isinstance(step, MakePoint):
        return f"{'mkdir -p' if step.directory else 'touch'} {step.path} (a mount point in a new filesystem)"
    if isinstance(step, Release):
        return "close " + " ".join(f"#{slot}" for slot in step.slots)
    if isinstance(step, Reroot):
        held[step.slot] = f"the new root #{step.slot}"
        return (
            f"mount a hidden tmpfs root, pivot_root into it: the namespace so far at {OLD_ROOT}, "
            f"a new empty tmpfs at {NEW_ROOT} -> #{step.slot}"
        )
    names = " ".join(name for name, _ in step.nodes)
    return (
        f"fill {step.target}: bind {names} from the caller's /dev; devpts (newinstance) on pts; "
        "tmpfs on shm; console from the terminal; links ptmx fd stdin stdout stderr"
    )
