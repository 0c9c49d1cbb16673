"""Unions on kernels before overlayfs's lowerdir+ (Linux 6.8): one mount(2) whose
option string must hold every layer within a page. Run here on purpose, on a
kernel that has lowerdir+, through the function newns falls back to."""
import sys

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
