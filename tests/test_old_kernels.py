"""What kernels older than this one refuse, tried on this one: unions on kernels before
overlayfs's lowerdir+ (Linux 6.8), one mount(2) whose option string must hold every layer
within a page, run on purpose through the function newns falls back to; and clones and
layers of detached mounts (before Linux 6.15), which newns must never ask for."""
import re
import shutil
import sys

import pytest
from helpers import NEWNS_BEFORE_6_15

SCRIPT = """
import os, sys
from newns.linux import libc, namespaces
from newns.linux.door import Door
from newns.plan import Overlay
target, count = sys.argv[1], int(sys.argv[2])
namespaces.unshare(libc.CLONE_NEWNS)
namespaces.make_mounts_private()
door = Door(debug=False, rootless=namespaces.rootless())
layers = [door.fd_path(os.open(f"{target}/../l{i}", os.O_PATH)) for i in range(count)]
options = ([("userxattr", None)] if door.rootless else []) + [("index", "off"), ("xino", "off")]
door._old_overlay(layers, options, "newns:old", Overlay(target, (), None, True, (), None, 0))
print(len(os.listdir(target)), open(f"{target}/same").read())
try:
    open(f"{target}/new", "w")
except OSError as e:
    print(e.strerror)
"""


def test_an_old_kernel_gets_500_layers_in_one_page(tree):
    tree.make({f"l{i}/f{i}": "" for i in range(500)} | {f"l{i}/same": f"{i}" for i in range(500)} | {"t/": ""})
    result = tree.caller.run([sys.executable, "-c", SCRIPT, str(tree / "t"), "500"], cwd=tree.base)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["501 0", "Read-only file system"]


# -- what newns makes is attached before it is used ----------------------------------------

def detached_uses(trace: str) -> list[str]:
    """The lines of an strace -f trace that clone, or give overlayfs as a layer, a mount still
    detached: one fsmount or open_tree(OPEN_TREE_CLONE) returned and no move_mount has moved."""
    detached: dict[tuple[str, str], bool] = {}
    pending: dict[str, str] = {}
    found = []
    for line in trace.splitlines():
        pid, _, call = line.partition(" ")
        call = call.strip()
        if call.endswith("<unfinished ...>"):
            pending[pid] = call.removesuffix("<unfinished ...>")
            continue
        if call.startswith("<... "):
            call = pending.pop(pid, "") + call.split("resumed>", 1)[1]
        name, _, rest = call.partition("(")
        ended = re.search(r"\)\s+=\s+(\S+)", rest)
        args, result = (rest[: ended.start()], ended.group(1)) if ended else (rest, "")
        first = args.split(",")[0].strip()
        used = []
        if name == "open_tree" and "OPEN_TREE_CLONE" in args:
            used.append(first)
        elif name == "fsconfig" and "FSCONFIG_SET_FD" in args:
            used.append(args.rsplit(",", 1)[1].strip())
        elif name == "fsconfig" and "/proc/self/fd/" in args:
            used.append(args.split("/proc/self/fd/", 1)[1].split("/")[0].split('"')[0])
        found += [line for fd in used if detached.get((pid, fd))]
        if name == "move_mount" and "MOVE_MOUNT_F_EMPTY_PATH" in args:
            detached[(pid, first)] = False
        elif name == "close":
            detached.pop((pid, first), None)
        if name in ("fsmount", "open_tree") and result.isdigit():
            detached[(pid, result)] = name == "fsmount" or "OPEN_TREE_CLONE" in args
    return found


def test_detached_uses_are_found():
    trace = "\n".join([
        "7 fsmount(3, FSMOUNT_CLOEXEC, 0) = 4",
        '7 fsconfig(5, FSCONFIG_SET_STRING, "upperdir", "/proc/self/fd/4/upper", 0) = 0',
        "7 open_tree(4, \"\", OPEN_TREE_CLONE|AT_EMPTY_PATH) = 6",
        "7 fsconfig(5, FSCONFIG_SET_FD, \"lowerdir+\", NULL, 6 <unfinished ...>",
        "7 <... fsconfig resumed>) = 0",
        '7 move_mount(4, "", 3, "", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH) = 0',
        "7 open_tree(4, \"\", OPEN_TREE_CLONE|AT_EMPTY_PATH) = 8",
    ])
    lines = trace.splitlines()
    assert detached_uses(trace) == [lines[1], lines[2], lines[4]]


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is missing (apt install strace)")
@pytest.mark.parametrize("text", [
    "mount '#tmpfs' $T/t\nbind $T/t $T/u\n",
    "mount -bc '#tmpfs' $T/a\n",
    "mount '#dev' $T/t\n",
    "clear\nbind '#old/' /\nmount '#tmpfs' $T/t\nmount -bc '#tmpfs' $T/a\nbind $T/a $T/u\n",
], ids=["tmpfs", "union", "dev", "clear"])
@pytest.mark.parametrize("mode", [(), ("--check",)], ids=["run", "check"])
def test_what_newns_makes_is_attached_before_it_is_cloned_or_layered(tree, text, mode):
    """Kernels before Linux 6.15 clone no detached mount (open_tree(OPEN_TREE_CLONE) of one is
    EINVAL) and take no overlay layer from one: what newns makes (fsmount) or clones
    (open_tree) is attached (move_mount) before it is cloned or layered, in a run and in a
    --check."""
    tree.make({"a/f": "", "t/": "", "u/": ""})
    ns = tree.ns(text)
    trace = tree.base / "trace"
    command = [] if mode else ["/usr/bin/ls", str(tree / "u")]
    result = tree.caller.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=fsmount,open_tree,move_mount,fsconfig,close",
         *NEWNS_BEFORE_6_15, *mode, "-f", str(ns), *command],
        cwd=tree.base, env={"T": str(tree.base)},
    )
    assert result.returncode == 0, result.stderr
    assert "fsmount" in trace.read_text()
    assert detached_uses(trace.read_text()) == []
