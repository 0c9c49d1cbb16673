"""Named namespaces: --post, --posted, --attach NAME, --unpost, as root and rootless, and
what another user can't do with them."""
from __future__ import annotations

import os
import shutil
import time

import pytest
from helpers import HANG, NEWNS, ROOT, needs_root, other_user

HELD = "mount -c '#tmpfs' $T/shared\n"


@pytest.fixture
def named(tree):
    """A unique name, unposted after the test whatever happened."""
    name = f"t{os.getpid()}-{time.monotonic_ns() % 10**9}"
    yield name
    tree.newns("--unpost", name)


def holder_of(tree, name: str) -> int:
    """The PID of the process holding a posted namespace, found by its namespace."""
    listing = tree.newns("--posted")
    assert name in listing.stdout, listing
    attached = tree.newns("--attach", name, "readlink", "/proc/self/ns/mnt")
    inode = attached.stdout.strip()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == inode and os.stat(f"/proc/{pid}").st_uid == tree.caller.uid:
                return int(pid)
        except OSError:
            continue
    raise AssertionError("no process holds the namespace")


def test_post_attach_list_unpost(tree, named):
    tree.make({"shared/": ""})
    ns = tree.ns(HELD)
    posted = tree.newns("--post", named, "-f", str(ns))
    assert (posted.returncode, posted.stdout, posted.stderr) == (0, "", "")
    wrote = tree.newns("--attach", named, "sh", "-c", f"echo kept > {tree / 'shared/file'}")
    assert wrote.returncode == 0, wrote.stderr
    read = tree.newns("--attach", named, "cat", str(tree / "shared/file"))
    assert (read.returncode, read.stdout) == (0, "kept\n"), read.stderr
    assert not (tree / "shared/file").exists()  # the tmpfs is the namespace's, not the host's
    listing = tree.newns("--posted")
    line = next(line for line in listing.stdout.splitlines() if line.startswith(named + "\t"))
    assert line.split("\t")[1] == str(ns) and line.split("\t")[2].startswith("since ")
    holder = holder_of(tree, named)
    ended = tree.newns("--unpost", named)
    assert ended.returncode == 0, ended.stderr
    deadline = time.monotonic() + HANG
    while os.path.exists(f"/proc/{holder}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{holder}") or open(f"/proc/{holder}/stat").read().split(") ")[1][0] == "Z"
    gone = tree.newns("--attach", named, "true")
    assert gone.returncode == 125 and f"no namespace is posted as '{named}'" in gone.stderr
    assert named not in tree.newns("--posted").stdout


def test_a_posted_namespace_outlives_the_shell_that_posted_it(tree, named):
    tree.make({"shared/": ""})
    ns = tree.ns(HELD + "mount '#proc' /proc\n")
    shell = tree.caller.run(["sh", "-c", f'"$BIN" --post {named} -f {ns}; echo posted $?'], cwd=tree.base,
                            env={"BIN": NEWNS, "T": str(tree.base)}, timeout=HANG)
    assert shell.stdout == "posted 0\n", shell.stderr
    attached = tree.newns("--attach", named, "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'")
    assert attached.returncode == 0, attached.stderr
    pid, count = attached.stdout.split()
    assert int(pid) > 1 and int(count) >= 2  # the namespace's init and holder, and this shell


def test_posting_a_name_in_use_or_a_broken_file_fails_and_keeps_nothing(tree, named):
    tree.make({"shared/": ""})
    assert tree.newns("--post", named, "-f", str(tree.ns(HELD))).returncode == 0
    again = tree.newns("--post", named, "-f", str(tree.ns(HELD, "again.ns")))
    assert again.returncode == 125 and f"a namespace is posted as '{named}' already" in again.stderr
    broken = tree.ns("bind $T/missing $T/shared\n", "broken.ns")
    failed = tree.newns("--post", named + "x", "-f", str(broken))
    assert failed.returncode == 125 and "broken.ns:1:6: bind: " in failed.stderr, failed.stderr
    assert named + "x" not in tree.newns("--posted").stdout
    refused = tree.newns("--post", named + "y", "-f", str(tree.ns("mount '#nosuchfs' $T/shared\n", "refused.ns")))
    assert refused.returncode == 125 and "refused.ns:1:" in refused.stderr, refused.stderr
    assert named + "y" not in tree.newns("--posted").stdout


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "x" * 65, "sp ace"])
def test_a_bad_name_is_refused(tree, name):
    result = tree.newns("--post", name, "-f", str(tree.ns("")))
    assert result.returncode == 125 and "is not a name for a namespace" in result.stderr


@needs_root("a second user attacks the first")
def test_another_user_can_neither_see_join_nor_end_a_name(tree, named):
    tree.make({"shared/": ""})
    assert tree.newns("--post", named, "-f", str(tree.ns(HELD))).returncode == 0
    holder = holder_of(tree, named)
    attacker = other_user()
    for args in (["--posted"], ["--attach", named, "true"], ["--unpost", named], ["--attach", str(holder), "true"]):
        result = attacker.newns(*args, cwd="/", env={"XDG_RUNTIME_DIR": ""})
        assert named not in result.stdout
        if args != ["--posted"]:
            assert result.returncode == 125, (args, result)
    assert tree.newns("--attach", named, "true").returncode == 0


@needs_root("root and a user post under the same name")
def test_roots_names_and_a_users_are_apart(tree, named):
    from helpers import ROOT_CALLER, unprivileged

    tree.make({"shared/": ""})
    ns = tree.ns(HELD)
    others = [c for c in (ROOT_CALLER, unprivileged()) if c != tree.caller]
    assert tree.newns("--post", named, "-f", str(ns)).returncode == 0
    for caller in others:
        theirs = caller.newns("--post", named, "-f", str(ns), cwd="/", env={"T": str(tree.base)})
        try:
            assert theirs.returncode == 0, theirs.stderr
            me = tree.newns("--attach", named, "id", "-u")
            them = caller.newns("--attach", named, "id", "-u", cwd="/")
            assert (me.stdout, them.stdout) == (f"{tree.caller.uid}\n", f"{caller.uid}\n")
        finally:
            caller.newns("--unpost", named, cwd="/")


@pytest.mark.skipif(not ROOT, reason="root makes the other user's directory")
def test_a_names_directory_another_user_made_first_is_refused(user_tree):
    from helpers import unprivileged

    victim = unprivileged()
    attacker = other_user()
    path = f"/tmp/newns-{victim.uid}"
    aside = path + ".aside"
    if os.path.lexists(path):
        os.rename(path, aside)
    os.mkdir(path, 0o777)
    os.chown(path, attacker.uid, attacker.gid)
    try:
        result = user_tree.newns("--post", "x", "-f", str(user_tree.ns("")), env={"XDG_RUNTIME_DIR": ""})
        assert result.returncode == 125 and f"{path} is not yours alone" in result.stderr, result.stderr
        assert os.listdir(path) == []
    finally:
        shutil.rmtree(path)
        if os.path.lexists(aside):
            os.rename(aside, path)
