"""The stage (door.Stage): the tmpfs stacked on the root where what newns makes is attached
while a namespace is built. Nothing of it may outlive the build: not in the command's
namespace, not in a namespace --attach -f changed."""
from __future__ import annotations

import os

import pytest
from helpers import NEWNS, NEWNS_BEFORE_6_15, spawn

KERNELS = pytest.mark.parametrize("newns", [[NEWNS], NEWNS_BEFORE_6_15], ids=["this-kernel", "before-6.15"])

SAME = 'test "$(ls -A /..)" = "$(ls -A /)" && echo same || { echo stage:; ls -lA /..; }'
"""What the command runs: /.. leads to the topmost mount stacked on the root, where the stage is."""


@KERNELS
def test_a_target_reached_through_the_roots_parent_leaves_no_stage(tree, newns):
    """A mount target that resolves through /.. (a symlink another user planted where the file
    mounts) would land on the stage: refused there, and without a stage it is the file's own
    mount on the root's parent; either way nothing of a stage is left, and what was mounted
    read-only stays so."""
    tree.make({"ro/": "", "d/": ""})
    os.symlink("/..", tree / "up")
    ns = tree.ns("mount -r '#tmpfs' $T/ro\nbind $T/d $T/up\n")
    script = 'test -e /../1 && echo stage-seen; echo x > /../1/x 2>/dev/null; ls "$T/ro"'
    result = tree.caller.run([*newns, "-f", str(ns), "sh", "-c", script], cwd=tree.base, env={"T": str(tree.base)})
    assert result.returncode == 125 or (result.returncode, result.stdout) == (0, ""), result


@KERNELS
def test_an_attach_file_that_fails_when_applied_leaves_no_stage(tree, fuse_open, newns):
    """The rehearsal connects nowhere, so an import that can't connect fails only when
    applied: the target namespace keeps nothing of the stage, and can still be joined."""
    tree.make({"t/": "", "u/": "", "empty.ns": ""})
    watcher = spawn(tree, [NEWNS, "-f", str(tree / "empty.ns"), "sh", "-c", "echo ready; exec sleep 30"])
    try:
        assert watcher.stdout.readline() == "ready\n"
        ns = tree.ns("mount -r '#tmpfs' $T/t\nimport nosuch.invalid /x $T/u\n", "attach.ns")
        failed = tree.caller.run([*newns, "--attach", str(watcher.pid), "-f", str(ns)], cwd=tree.base, env={"T": str(tree.base)})
        assert failed.returncode == 125, failed
        inside = tree.newns("--attach", str(watcher.pid), "/bin/sh", "-c", SAME)
        assert (inside.returncode, inside.stdout) == (0, "same\n"), (inside.stdout, inside.stderr)
    finally:
        watcher.kill()
        watcher.wait()
