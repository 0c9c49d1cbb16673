"""import: a directory of another machine over SSH, with a real sshd on 127.0.0.1 (tests/sshd.py)
and sshfs, as root and rootless."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time

import pytest
import sshd
from helpers import HANG, NEWNS, ROOT, needs_root, ns_of

pytestmark = pytest.mark.skipif(
    sshd.available() is not None or shutil.which("sshfs") is None,
    reason=sshd.available() or "sshfs is missing (apt install sshfs)",
)
HOST = sshd.ALIAS


def sshfs_of(uid: int) -> list[int]:
    """The caller's sshfs processes that still run (not zombies)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                name, _, rest = f.read().partition(") ")
            if name.endswith("(sshfs") and rest[0] != "Z" and os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(int(pid))
        except OSError:
            continue
    return found


def no_sshfs_left(uid: int) -> list[int]:
    deadline = time.monotonic() + HANG
    while (left := sshfs_of(uid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_a_remote_directory_is_read_and_written_through_import(place, server):
    place.make({"remote/hello": "from afar\n", "here/": ""})
    ns = place.ns(f"import {HOST} $T/remote $T/here\n")
    show = 'cat "$T/here/hello" && echo written > "$T/here/new" && ls "$T/here"'
    result = place.newns("-f", str(ns), "sh", "-c", show)
    assert (result.returncode, result.stdout) == (0, "from afar\nhello\nnew\n"), result.stderr
    assert (place / "remote/new").read_text() == "written\n"
    assert os.listdir(place / "here") == []
    assert no_sshfs_left(place.caller.uid) == []


@pytest.mark.skipif(not os.path.exists("/usr/bin/fincore"), reason="fincore is missing (apt install util-linux-extra)")
def test_an_imported_file_read_again_unchanged_comes_from_this_kernels_cache(place, server):
    place.make({"remote/hello": "from afar\n", "here/": ""})
    ns = place.ns(f"import {HOST} $T/remote $T/here\n")
    result = place.newns("-f", str(ns), "sh", "-c", 'cat "$T/here/hello" > /dev/null && fincore -nb -o RES "$T/here/hello"')
    assert result.returncode == 0 and int(result.stdout) > 0, result


def test_import_after_a_union_flag_is_a_member(place, server):
    place.make({"remote/far": "", "here/near": ""})
    ns = place.ns(f"import -a {HOST} $T/remote $T/here\n")
    result = place.newns("-f", str(ns), "ls", str(place / "here"))
    assert (result.returncode, result.stdout) == (0, "far\nnear\n"), result.stderr


def test_the_remote_path_defaults_to_the_mount_point(place, server):
    place.make({"here/mine": ""})
    ns = place.ns(f"import {HOST} $T/here\n")
    result = place.newns("-f", str(ns), "ls", str(place / "here"))
    assert (result.returncode, result.stdout) == (0, "mine\n"), result.stderr


@pytest.mark.parametrize(
    "line, message",
    [
        ("import nosuch.invalid $T/remote $T/here", "Could not resolve hostname nosuch.invalid"),
        (f"import {HOST} $T/missing $T/here", "/missing: No such file or directory"),
    ],
)
def test_a_failed_import_stops_newns_at_its_line(place, server, line, message):
    place.make({"remote/": "", "here/": ""})
    ns = place.ns(line + "\n")
    result = place.newns("-f", str(ns), "echo", "ran")
    assert result.returncode == 125 and result.stdout == "", result
    assert f"{ns}:1:1: import " in result.stderr and message in result.stderr, result.stderr
    assert no_sshfs_left(place.caller.uid) == []


def test_check_explain_and_ns_do_not_connect_or_print_import_back(place, server):
    place.make({"remote/f": "", "here/": ""})
    unreachable = place.ns("import nosuch.invalid /srv $T/here\n", "far.ns")
    checked = place.newns("--check", "-f", str(unreachable))
    assert (checked.returncode, checked.stdout) == (0, ""), checked
    explained = place.newns("--explain", "-f", str(unreachable))
    assert "sshfs" in explained.stdout and "nosuch.invalid:/srv" in explained.stdout
    ns = place.ns(f"import {HOST} $T/remote $T/here\n")
    dump = ns_of(place, ["-f", str(ns)])
    assert dump.returncode == 0, dump.stderr
    assert f"import {HOST} {place / 'remote'} {place / 'here'}" in dump.stdout.splitlines()


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/x", "a:b", "a b", "", "a/b", "a;b", "a$(id)", "a`id`", "a|b"])
def test_a_host_that_is_not_one_is_refused_before_anything_runs(tree, host):
    tree.make({"here/": ""})
    ns = tree.ns("import -- $H /r $T/here\n")
    result = tree.newns("--check", "-f", str(ns), env={"H": host})
    assert result.returncode == 125 and f"{ns}:1:" in result.stdout and "the host is what ssh takes" in result.stdout


def test_without_fuse_the_message_says_how_to_allow_it(user_tree):
    if stat.S_IMODE(os.stat("/dev/fuse").st_mode) & 0o006 or not ROOT and os.access("/dev/fuse", os.R_OK | os.W_OK):
        pytest.skip("/dev/fuse is open to this user")
    user_tree.make({"here/": ""})
    ns = user_tree.ns("import somewhere /r $T/here\n")
    result = user_tree.newns("--check", "-f", str(ns))
    assert result.returncode == 125 and "chmod 0666 /dev/fuse" in result.stdout, result


@needs_root("root drops to other ids")
def test_import_with_user_as_root_is_refused_before_anything_runs(root_tree):
    root_tree.make({"here/": ""})
    ns = root_tree.ns("import somewhere /r $T/here\nuser 1234 1234\n")
    result = root_tree.newns("-f", str(ns), "echo", "ran")
    assert result.returncode == 125 and f"newns: {ns}:2:1: import and user" in result.stderr and result.stdout == "", result


@needs_root("root acts in a user's namespace")
def test_sshfs_started_for_another_user_gets_their_environment_not_roots(user_tree, fuse_open):
    from helpers import ROOT_CALLER, spawn

    user = user_tree.caller
    user_tree.make({"remote/f": "", "here/": ""})
    with sshd.Sshd(user.uid) as server:
        server.install_client_config()
        shell = spawn(user_tree, [NEWNS, "-f", str(user_tree.ns("")), "sh", "-c", "echo ready; read x"],
                      stdin=subprocess.PIPE)
        try:
            assert shell.stdout.readline() == "ready\n", shell.stderr.read()
            ns = user_tree.ns(f"import {HOST} {user_tree / 'remote'} {user_tree / 'here'}\n", "import.ns")
            attached = ROOT_CALLER.newns("--attach", str(shell.pid), "--as-owner", "-f", str(ns), cwd="/",
                                         env={"ROOTS_OWN_SECRET": "hunter2"})
            assert attached.returncode == 0, attached.stderr
            environments = [open(f"/proc/{pid}/environ", "rb").read() for pid in sshfs_of(user.uid)]
            assert environments and not any(b"hunter2" in e for e in environments)
        finally:
            shell.stdin.close()
            shell.wait(timeout=HANG)
