"""The stage (door.Stage): the tmpfs stacked on the root where what newns makes is attached
while a namespace is built. Nothing of it may outlive the build: not in the command's
namespace, not in a namespace --attach -f changed."""
from __future__ import annotations

import os

from helpers import NEWNS, spawn

SAME = 'test "$(ls -A /..)" = "$(ls -A /)" && echo same || { echo stage:; ls -lA /..; }'
"""What the command runs: /.. leads to the topmost mount stacked on the root, where the stage is."""


def test_a_target_reached_through_the_roots_parent_leaves_no_stage(tree):
    """A mount target that resolves through /.. (a symlink another user planted where the file
    mounts) lands on the stage; the stage must still go, and what was mounted read-only stay so."""
    tree.make({"ro/": "", "d/": ""})
    os.symlink("/..", tree / "up")
    ns = tree.ns("mount -r '#tmpfs' $T/ro\nbind $T/d $T/up\n")
    result = tree.newns("-f", str(ns), "sh", "-c", SAME + '; echo x > /../1/x 2>/dev/null; ls "$T/ro"')
    assert result.returncode == 125 or result.stdout == "same\n", result.stdout


def test_an_attach_file_that_fails_when_applied_leaves_no_stage(tree, fuse_open):
    """The rehearsal connects nowhere, so an import that can't connect fails only when
    applied: the target namespace keeps nothing of the stage, and can still be joined."""
    tree.make({"t/": "", "u/": "", "empty.ns": ""})
    watcher = spawn(tree, [NEWNS, "-f", str(tree / "empty.ns"), "sh", "-c", "echo ready; exec sleep 30"])
    try:
        assert watcher.stdout.readline() == "ready\n"
        ns = tree.ns("mount -r '#tmpfs' $T/t\nimport nosuch.invalid /x $T/u\n", "attach.ns")
        failed = tree.newns("--attach", str(watcher.pid), "-f", str(ns))
        assert failed.returncode == 125, failed
        inside = tree.newns("--attach", str(watcher.pid), "/bin/sh", "-c", SAME)
        assert (inside.returncode, inside.stdout) == (0, "same\n"), (inside.stdout, inside.stderr)
    finally:
        watcher.kill()
        watcher.wait()
