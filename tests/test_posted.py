"""Named namespaces: --post, --posted, --attach NAME, --unpost, as root and rootless, and
what another user can't do with them."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from helpers import HANG, NEWNS, needs_root, other_user

from newns.linux.posted import here

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
    from helpers import ROOT_CALLER, make_tree, remove_tree, unprivileged

    tree.make({"shared/": ""})
    ns = tree.ns(HELD)
    other = next(c for c in (ROOT_CALLER, unprivileged()) if c != tree.caller)
    assert tree.newns("--post", named, "-f", str(ns)).returncode == 0
    home = make_tree(other)  # the other's names live in their own home
    try:
        theirs = other.newns("--post", named, "-f", str(ns), cwd=home.base, env={"T": str(tree.base)})
        assert theirs.returncode == 0, theirs.stderr
        me = tree.newns("--attach", named, "id", "-u")
        them = other.newns("--attach", named, "id", "-u", cwd=home.base)
        assert (me.stdout, them.stdout) == (f"{tree.caller.uid}\n", f"{other.uid}\n")
    finally:
        other.newns("--unpost", named, cwd=home.base)
        remove_tree(home)


@needs_root("a second user attacks the first")
def test_another_users_directories_neither_block_nor_receive_the_names(user_tree):
    from helpers import unprivileged

    victim, attacker = unprivileged(), other_user()
    lure = f"/tmp/newns-{victim.uid}"  # where a name directory might have been looked for
    theirs = user_tree.base.parent / f"newns-attacker-{os.getpid()}"
    made = []
    for path in (lure, str(theirs)):
        if not os.path.lexists(path):
            os.mkdir(path, 0o700)
            os.chown(path, attacker.uid, attacker.gid)
            made.append(path)
    name = f"a{os.getpid()}"
    try:
        env = {"XDG_RUNTIME_DIR": str(theirs)}
        posted = user_tree.newns("--post", name, "-f", str(user_tree.ns("")), env=env)
        assert posted.returncode == 0, posted.stderr
        assert user_tree.newns("--attach", name, "true", env=env).returncode == 0
        assert os.listdir(theirs) == [] and (not os.path.isdir(lure) or os.listdir(lure) == [])
        user_tree.make({"state/": ""})
        os.mkdir(user_tree / "state/newns", 0o700)  # made first by the other user, in a directory they could write
        os.chown(user_tree / "state/newns", attacker.uid, attacker.gid)
        refused = user_tree.newns("--posted", env={"XDG_STATE_HOME": str(user_tree / "state")})
        assert refused.returncode == 125 and "of yours" in refused.stderr, refused
    finally:
        user_tree.newns("--unpost", name)
        for path in made:
            shutil.rmtree(path)


def test_a_name_whose_poster_died_while_building_can_be_posted_again(tree, named):
    state = tree / ".local/state/newns" if tree.caller.uid else "/run/newns"
    os.makedirs(state, 0o700, exist_ok=True)
    if tree.caller.uid:
        tree.own()
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = os.path.join(state, named)
    with open(record, "w") as f:
        f.write(f"building\0{dead.pid}\0{here()}/1\0/f\0{time.time()}\0")
    if tree.caller.uid:
        os.chown(record, tree.caller.uid, tree.caller.gid)
    posted = tree.newns("--post", named, "-f", str(tree.ns("")))
    assert posted.returncode == 0, posted.stderr


def test_a_file_with_a_user_line_is_not_posted(tree, named):
    ns = tree.ns("user 0 0\n")
    result = tree.newns("--post", named, "-f", str(ns))
    assert result.returncode == 125 and f"newns: {ns}:1:1: --post: the file has a user line" in result.stderr
    assert named not in tree.newns("--posted").stdout


def test_the_namespace_holds_no_descriptor_of_the_posters(tree, named):
    ns = tree.ns("mount '#proc' /proc\n")
    script = f'"$BIN" --post {named} -f {ns} 3>&1 7</dev/null | cat; echo done'
    shell = tree.caller.run(["sh", "-c", script], cwd=tree.base, env={"BIN": NEWNS, "T": str(tree.base)}, timeout=HANG)
    assert shell.stdout == "done\n", shell


def test_a_name_seen_from_another_pid_namespace_is_not_taken_for_stale(tree, named):
    """Its PID means nothing there: --posted must not remove it while its holder lives on,
    nor --unpost remove the name and leave the holder nameless."""
    tree.make({"shared/": ""})
    assert tree.newns("--post", named, "-f", str(tree.ns(HELD))).returncode == 0
    proc = str(tree.ns("mount '#proc' /proc\n", "proc.ns"))
    inside = tree.newns("-f", proc, NEWNS, "--posted")
    assert inside.returncode == 0, inside.stderr
    unposted = tree.newns("-f", proc, NEWNS, "--unpost", named)
    assert unposted.returncode == 125 and "another PID namespace" in unposted.stderr, unposted
    assert named in tree.newns("--posted").stdout
    assert tree.newns("--attach", named, "true").returncode == 0


def test_a_name_of_digits_alone_is_refused(tree):
    """--attach 4242 means the PID 4242: a name can't mean it too."""
    result = tree.newns("--post", "4242", "-f", str(tree.ns("")))
    assert result.returncode == 125 and "digits alone" in result.stderr, result
