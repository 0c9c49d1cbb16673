"""clear, #old, #proc and #dev: namespaces built from nothing, run for real as root and rootless.

A cleared namespace starts empty; the command gets only what the file binds
from #old (the namespace as it was before clear) and the kernel filesystems it
mounts. Commands are run by absolute path, from what `system` binds.
"""
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from helpers import NEWNS, Terminal, outside_cache, small_root, snapshot

NAMESPACES = Path(__file__).parent.parent / "namespaces"
SH = "/usr/bin/sh"


def system() -> tuple[str, list[str]]:
    """Lines that bind what /usr/bin programs need on this machine, and the names they put in /.

    /usr itself, and /bin, /lib, /lib64 where they exist (on merged-/usr systems
    they are links into /usr: the directory they lead to is bound)."""
    lines, names = ["bind #old/usr /usr"], ["usr"]
    for name in ("bin", "lib", "lib64"):
        if os.path.isdir(f"/{name}"):
            lines.append(f"bind #old{os.path.realpath('/' + name)} /{name}")
            names.append(name)
    return "".join(line + "\n" for line in lines), names


def cleared(tree, lines, *command, **kwargs):
    """Run command in a namespace of clear, the system binds, then lines ($T is the tree)."""
    ns = tree.ns("clear\n" + system()[0] + lines)
    return tree.newns("-f", str(ns), *command, input="", **kwargs)


def pids(text: str) -> set[int]:
    return {int(word) for word in text.split() if word.isdigit()}


def absent(path: str) -> bool:
    """Whether path is missing from the caller's disk; a failing newns may have made it: it is removed."""
    if not os.path.lexists(path):
        return True
    shutil.rmtree(path)
    return False


# -- what the command sees ---------------------------------------------------------


def test_a_cleared_namespace_lists_only_what_was_bound(tree):
    tree.make({"a/in-a": "A"})
    result = cleared(tree, "bind #old$T/a /data\n", SH, "-c", "/usr/bin/ls -A /; echo --; /usr/bin/ls -A /data")
    assert result.returncode == 0, result.stderr
    listed, data = result.stdout.split("--\n")
    assert sorted(listed.split()) == sorted(system()[1] + ["data"])
    assert data.split() == ["in-a"]


def test_a_file_outside_the_binds_cannot_be_read_by_any_path(tree):
    tree.make({"a/visible": "VISIBLE\n", "secret/key": "TOPSECRET\n"})
    attempts = " ".join(
        f'"{p}"'
        for p in (
            "$T/secret/key", "secret/key", "/proc/self/root$T/secret/key", "/proc/1/root$T/secret/key",
            "/../../..$T/secret/key", "/data/../secret/key", "/data/../../secret/key",
            "/oldroot$T/secret/key", "/newroot/oldroot$T/secret/key",
        )
    )
    script = f"""
        /usr/bin/cat /data/visible
        for p in {attempts} /proc/[0-9]*/cwd$T/secret/key /proc/[0-9]*/root$T/secret/key \\
                 /proc/[0-9]*/cwd/secret/key /proc/[0-9]*/fd/*$T/secret/key /proc/[0-9]*/fd/*/secret/key; do
            /usr/bin/cat "$p" 2>/dev/null && echo "LEAK $p"
        done
        cd /../../.. && echo "up: $(pwd -P) $(/usr/bin/ls -A | /usr/bin/tr '\\n' ' ')"
        echo "self $(/usr/bin/readlink /proc/self/root) $(/usr/bin/readlink /proc/self/cwd) $$"
        for p in /proc/[0-9]*; do echo "root $p $(/usr/bin/readlink $p/root) cwd $(/usr/bin/readlink $p/cwd)"; done
        echo fds; /usr/bin/ls -l /proc/self/fd
        echo mountinfo; /usr/bin/cat /proc/self/mountinfo
    """
    result = cleared(tree, "bind #old$T/a /data\nmount '#proc' /proc\n", SH, "-c", script)
    assert result.returncode == 0, result.stderr
    assert (tree / "secret/key").read_text() == "TOPSECRET\n"
    head, rest = result.stdout.split("fds\n")
    fds, mountinfo = rest.split("mountinfo\n")
    assert head.startswith("VISIBLE\n"), result.stdout
    assert "TOPSECRET" not in result.stdout and "LEAK" not in result.stdout
    assert f"up: / {' '.join(sorted(system()[1] + ['data', 'proc']))} " in head
    [(self_root, self_cwd, me)] = re.findall(r"^self (\S*) (\S*) (\d+)$", head, re.M)
    assert (self_root, self_cwd) == ("/", "/")
    # Every process's root and working directory is the new root, where the command
    # may look (rootless, newns's init holds capabilities the command lacks: it may not).
    roots = {int(pid): (root, cwd) for pid, root, cwd in re.findall(r"^root /proc/(\d+) (\S*) cwd (\S*)$", head, re.M)}
    assert {1, int(me)} <= set(roots)
    assert roots[int(me)] == ("/", "/")
    assert set(roots.values()) <= ({("/", "/"), ("", "")} if tree.caller.rootless else {("/", "/")}), roots
    links = dict(re.findall(r" (\d+) -> (.*)$", fds, re.M))
    assert sorted(links) == ["0", "1", "2", "3"], fds
    assert links["3"].endswith("/fd") and str(tree.base) not in fds
    points = [line.split()[4] for line in mountinfo.splitlines()]
    assert sorted(points) == sorted(["/", "/data", "/proc"] + ["/" + name for name in system()[1]])
    assert "/oldroot" not in mountinfo and "/newroot" not in mountinfo
    assert str(tree / "secret") not in mountinfo


# -- mount points ----------------------------------------------------------------


def test_mount_points_are_made_in_the_new_root_and_not_on_disk(tree):
    assert not os.path.lexists("/some")
    tree.make({"a/in-a": "A"})
    result = cleared(tree, "bind #old$T/a /some/new/dir\n", "/usr/bin/ls", "-A", "/", "/some/new", "/some/new/dir")
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("\n\n")
    assert sorted(listing[0].split()[1:]) == sorted(system()[1] + ["some"])
    assert listing[1].split()[1:] == ["dir"]
    assert listing[2].split()[1:] == ["in-a"]
    assert absent("/some")
    assert snapshot(tree / "a") == {"in-a": b"A"}
    assert sorted(outside_cache(tree.base)) == ["a", "a/in-a", "test.ns"]


def test_a_missing_mount_point_in_a_bound_directory_is_an_error(tree):
    tree.make({"a/in-a": "A", "b/in-b": "B"})
    ns = tree.ns("clear\nbind #old$T/a /data\nbind #old$T/b /data/missing/x\n")
    before = outside_cache(tree.base)
    result = tree.newns("-f", str(ns), "/usr/bin/touch", "/data/ran")
    assert result.returncode == 125
    assert f"newns: {ns}:3:15: bind: /data/missing/x: no such directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert outside_cache(tree.base) == before


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("bind #old/usr /usr\n", "1:6", "no clear comes before this line"),
        ("clear\nclear\n", "2:1", "only one clear"),
        ("clear\ncd #old/usr\n", "2:4", "cd: #old/usr: #old is only a source to bind from"),
        ("clear\nbind #old/usr #old/tmp\n", "2:15", "bind: #old/tmp: #old is only a source to bind from"),
        ("clear\nmount -c '#tmpfs' #old/tmp\n", "2:19", "mount: #old/tmp: #old is only a source to bind from"),
    ],
    ids=["old-before-clear", "second-clear", "cd-old", "bind-onto-old", "mount-onto-old"],
)
def test_misuse_of_clear_and_old_is_an_error(tree, text, where, message):
    ns = tree.ns(text)
    result = tree.newns("-f", str(ns), "/usr/bin/touch", str(tree / "ran"))
    assert result.returncode == 125
    assert f"newns: {ns}:{where}: " in result.stderr and message in result.stderr, result.stderr
    assert not (tree / "ran").exists()


# -- #proc: processes --------------------------------------------------------------


def test_proc_shows_only_the_commands_processes(tree):
    result = cleared(tree, "mount '#proc' /proc\n", "/usr/bin/ls", "/proc")
    assert result.returncode == 0, result.stderr
    assert pids(result.stdout) == {1, 2}
    result = cleared(tree, "mount '#proc' /proc\n", "/usr/bin/cat", "/proc/1/cmdline")
    assert NEWNS in result.stdout.split("\0")


def test_exit_status_and_signal_death_pass_through(tree):
    assert cleared(tree, "mount '#proc' /proc\n", SH, "-c", "exit 7").returncode == 7
    killed = cleared(tree, "mount '#proc' /proc\n", SH, "-c", "kill -TERM $$")
    assert killed.returncode == -signal.SIGTERM


def test_sigterm_to_newns_reaches_the_command(tree):
    ns = tree.ns("clear\n" + system()[0] + "mount '#proc' /proc\n")
    script = 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    switch = {} if tree.caller.uid == os.geteuid() else {"user": tree.caller.uid, "group": tree.caller.gid, "extra_groups": []}
    proc = subprocess.Popen(
        [NEWNS, "-f", str(ns), SH, "-c", script], cwd=tree.base, env={"PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **switch,
    )
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert (out, proc.returncode) == ("got-term\n", 3), err


def test_orphans_are_reaped(tree):
    script = """
        for i in 1 2 3 4 5; do (/usr/bin/sleep 0.1 &); (/usr/bin/true &); done
        /usr/bin/sleep 1
        /usr/bin/cat /proc/[0-9]*/stat
    """
    result = cleared(tree, "mount '#proc' /proc\n", SH, "-c", script)
    assert result.returncode == 0, result.stderr
    states = {int(line.split()[0]): line.rsplit(")", 1)[1].split()[0] for line in result.stdout.splitlines()}
    assert set(states) <= {1, 2, max(states)} and {1, 2} <= set(states), states
    assert "Z" not in states.values(), states


# -- #dev --------------------------------------------------------------------------


def test_dev_holds_the_usual_devices_and_no_disks(tree):
    script = """
        /usr/bin/ls -A /dev /dev/pts; echo --
        /usr/bin/find /dev -type b; echo --
        echo x > /dev/null && echo null-ok
        /usr/bin/head -c 4 /dev/zero | /usr/bin/od -An -tx1
        test -c /dev/ptmx && test -d /dev/shm && test -w /dev/shm && echo ok
    """
    result = cleared(tree, "mount '#dev' /dev\n", SH, "-c", script)
    assert result.returncode == 0, result.stderr
    listing, blocks, checks = result.stdout.split("--\n")
    names = set(listing.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "/dev/pts:"} <= names
    assert not [n for n in names if re.match(r"(vd|sd|hd|xvd|nvme|loop|mmcblk|dm-|mapper|mem$|kmsg$)", n)], names
    assert blocks == ""
    assert checks.split() == ["null-ok", "00", "00", "00", "00", "ok"]


# -- rerootwin: a shell on another root, under a terminal ---------------------------


def in_terminal(caller, argv: list[str], env: dict[str, str], cwd: Path, typed: str, timeout=30) -> tuple[str, int]:
    """Run argv as caller on a new pseudo-terminal, type `typed`, and return what it printed and its exit code."""
    term = Terminal(caller, argv, env, cwd)
    term.send(typed)
    code = term.close(timeout)
    return term.text(), code


@pytest.mark.parametrize("start", ["clear\n" + system()[0], ""], ids=["cleared", "over-the-callers"])
def test_dev_under_a_terminal(tree, start):
    ns = tree.ns(start + "mount '#dev' /dev\n")
    script = "test -t 0 && test -c /dev/console && echo CONSOLE-OK"
    out, code = in_terminal(tree.caller, [NEWNS, "-f", str(ns), SH, "-c", script], {"PATH": "/usr/bin"}, tree.base, "")
    assert (code, out) == (0, "CONSOLE-OK\n"), out


def test_an_interactive_shell_under_proc_exits_with_its_status(tree):
    ns = tree.ns("mount '#proc' /proc\n")
    env = {"PATH": "/usr/bin", "PS1": ""}
    out, code = in_terminal(tree.caller, [NEWNS, "-f", str(ns), SH, "-i"], env, tree.base, "echo A$((6*7))Z\nexit 5\n")
    assert "A42Z" in out.splitlines()
    assert code == 5, out


def test_a_shell_under_rerootwin_on_a_small_root(tree):
    root = small_root(tree, "root")
    tree.make({"marker": "M"})
    before = snapshot(root)
    typed = (
        "case $- in *i*) echo INTERACTIVE;; esac\n"
        "echo A$((6*7))Z\n"
        "echo BIN /bin/*\n"
        "test -e /mnt/term$T/marker && test -d /mnt/term/usr/bin && echo TERM-OK\n"
        "echo PIDS /proc/[0-9]*\n"
        "echo written > /new && echo WRITE-OK\n"
        "exit 5\n"
    )
    env = {"PATH": "/bin", "SHELL": "/bin/sh", "NSROOT": str(root), "T": str(tree.base), "TERM": "dumb", "HOME": "/", "PS1": ""}
    out, code = in_terminal(tree.caller, [NEWNS, "-f", str(NAMESPACES / "rerootwin")], env, tree.base, typed)
    assert code == 5, out
    lines = out.splitlines()
    assert "INTERACTIVE" in lines, out
    assert "A42Z" in lines, out
    assert "BIN /bin/sh" in lines, out
    assert "TERM-OK" in lines, out
    assert "WRITE-OK" in lines, out
    [listed] = [line for line in lines if line.startswith("PIDS ")]
    assert pids(listed.replace("/proc/", " ")) == {1, 2}, out
    assert snapshot(root) == before


# -- sandbox and sandbox-rw ---------------------------------------------------------


SANDBOX_STEP = """
    /usr/bin/ls -A; echo --
    /usr/bin/cat README
    echo more >> README && echo new > new.txt && /usr/bin/rm old.txt && /usr/bin/mkdir build && echo wrote
    /usr/bin/ls -A; echo --
    /usr/bin/cat "$HOME/.ssh/id_rsa"; /usr/bin/ls -A "$HOME"; echo --
    /usr/bin/ls -A /tmp; echo; /usr/bin/ls -A "$T"; echo --
    /usr/bin/mkdir /usr/newns-probe
"""


def run_sandbox(tree, name):
    assert not os.path.lexists("/usr/newns-probe")
    tree.make({"checkout/README": "hello\n", "checkout/old.txt": "old\n", "home/.ssh/id_rsa": "PRIVATE KEY\n"})
    checkout = tree / "checkout"
    env = {"PWD": str(checkout), "HOME": str(tree / "home"), "T": str(tree.base)}
    result = tree.caller.newns("-f", str(NAMESPACES / name), SH, "-c", SANDBOX_STEP, cwd=checkout, env=env, input="")
    parts = result.stdout.split("--\n")
    assert len(parts) == 5, (result.stdout, result.stderr)
    seen, written, home, tmp, _ = parts
    assert seen.split() == ["README", "old.txt"]
    assert written.split() == ["hello", "wrote", "README", "build", "new.txt"]
    assert home == "" and "PRIVATE KEY" not in result.stdout
    # The private /tmp holds nothing but the way to the checkout's mount point (the tree is in /tmp).
    assert [part.split() for part in tmp.split("\n\n")] == [[tree.base.name], ["checkout"]]
    assert result.returncode != 0
    assert re.search(r"mkdir: .*/usr/newns-probe.*: Read-only file system", result.stderr), result.stderr
    assert absent("/usr/newns-probe")
    return snapshot(checkout)


def test_sandbox_sees_the_checkout_and_leaves_it_as_it_was(tree):
    assert run_sandbox(tree, "sandbox") == {"README": b"hello\n", "old.txt": b"old\n"}


def test_sandbox_rw_keeps_the_writes(tree):
    assert run_sandbox(tree, "sandbox-rw") == {"README": b"hello\nmore\n", "build": None, "new.txt": b"new\n"}
