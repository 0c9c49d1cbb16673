"""A hostile local user against newns: each test is one attack, and what newns must do.

The victim runs newns as root or as an unprivileged user; the attacker is
another local user who can write where the victim runs newns, owns a
namespace the victim attaches to, or controls a file, a directory name or a
terminal. docs/security.md lists the promises and the test for each. Race
tests are bounded by a count of tries.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest
from helpers import (
    HANG, NEWNS, ROOT_CALLER, Terminal, Tree, make_tree, mount_table, needs_root, newns_started, ns_of, other_user, remove_tree,
    spawn, traced_imports,
    unprivileged,
)

from newns import nsfile
from newns.ops import Bind, Mount


def refused(result, *needles: str) -> None:
    """newns's own failure, exit 125, saying why."""
    assert result.returncode == 125, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# -- 1. a bare word is a command ----------------------------------------------------------

PLANTED = "#!/usr/bin/env newns\nbind /nonexistent-planted /tmp\n"


@pytest.mark.parametrize("mode", [0o644, 0o755], ids=["plain", "executable"])
@pytest.mark.parametrize("args", [["--", "id", "-u"], ["id", "-u"], ["-d", "--", "id", "-u"]], ids=" ".join)
def test_a_bare_word_is_a_command_never_a_namespace_file(tree, mode, args):
    """A file named like a command, planted in the directory where newns runs, whose first
    line runs newns: the word still runs the command."""
    tree.make({"id": PLANTED})
    (tree / "id").chmod(mode)
    result = tree.newns(*args)
    assert (result.returncode, result.stdout) == (0, f"{tree.caller.uid}\n"), result.stderr


def test_after_double_dash_a_path_is_a_command(tree):
    tree.make({"tool": PLANTED.replace("/usr/bin/env newns", NEWNS)})
    (tree / "tool").chmod(0o755)
    result = tree.newns("--", "./tool", "true")
    # run as a command, the script runs newns with itself as the file: its line fails
    refused(result, "nonexistent-planted")
    assert result.stderr.startswith("newns: ./tool:2:"), result.stderr


def test_a_non_executable_file_with_a_path_is_a_command(tree):
    tree.make({"tool": PLANTED})
    result = tree.newns("./tool", "true")
    assert result.returncode == 126, result


def test_a_fifo_is_never_opened_to_look_at_its_first_line(tree):
    os.mkfifo(tree / "fifo")
    tree.own()
    for args in (["./fifo"], ["--", "./fifo"], ["fifo"]):
        result = tree.newns(*args, timeout=HANG)
        assert result.returncode in (126, 127), result


# -- 2. root never runs another user's code by attaching ------------------------------------

EVIL = """#!/bin/sh
echo EVIL-RAN
grep -E '^(Uid|Gid|Groups|NoNewPrivs):' /proc/self/status
"""


@needs_root("root is the victim")
def test_root_attaching_to_a_users_namespace_is_refused(user_tree):
    """The user binds a program of theirs over whoami in their namespace, and waits for root
    to attach and run it."""
    tree = user_tree
    tree.make({"evil": EVIL, "user.ns": "bind $T/evil /usr/bin/whoami\n"})
    (tree / "evil").chmod(0o755)
    holder = spawn(tree, [NEWNS, "-f", str(tree / "user.ns"), "sh", "-c", "echo ready; exec sleep 600"])
    try:
        assert holder.stdout.readline() == "ready\n"
        root = ROOT_CALLER
        for args in (["whoami"], [], ["-f", str(tree / "user.ns")], ["-f", str(tree / "user.ns"), "whoami"]):
            result = root.newns("--attach", str(holder.pid), *args, cwd=tree.base, env={"SHELL": "/usr/bin/whoami", "T": str(tree.base)})
            refused(result, "newns-test", "--as-owner")
            assert "EVIL-RAN" not in result.stdout
        owner = root.newns("--attach", str(holder.pid), "--as-owner", "whoami", cwd=tree.base)
        assert owner.returncode == 0, owner
        lines = [line.strip() for line in owner.stdout.splitlines()]
        uid, gid = tree.caller.uid, tree.caller.gid
        assert lines == ["EVIL-RAN", f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}", f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}", "Groups:", "NoNewPrivs:\t1"], owner
    finally:
        holder.kill()
        holder.wait()


@needs_root("to make a second user")
def test_a_user_attaching_to_another_users_namespace_is_told_whose_it_is(user_tree):
    tree = user_tree
    tree.make({"empty.ns": ""})
    holder = spawn(tree, [NEWNS, "-f", str(tree / "empty.ns"), "sh", "-c", "echo ready; exec sleep 600"])
    try:
        assert holder.stdout.readline() == "ready\n"
        result = other_user().newns("--attach", str(holder.pid), "true", cwd=tree.base)
        refused(result, "newns-test")
    finally:
        holder.kill()
        holder.wait()


# -- 3. nothing is created by walking a path another user can change ------------------------

PADDING = 300
"""Lines between the mount of a new filesystem and the line that makes a mount point in it:
the window in which the attacker swaps the directory for a symlink."""


SWAP = """
import os, sys
# Watch every process's mount table for a mount on d; when one appears, put a symlink to
# target in d's place until that process has gone.
d, target = sys.argv[1], sys.argv[2]
needle = f" {d} ".encode()
while not os.path.exists(d + ".stop"):
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/mountinfo", "rb") as f:
                if needle not in f.read():
                    continue
        except (OSError, ValueError):
            continue
        os.rename(d, d + ".aside")
        os.symlink(target, d)
        while os.path.exists(f"/proc/{pid}"):
            pass
        os.unlink(d)
        os.rename(d + ".aside", d)
"""


@needs_root("root is the victim, the test user the attacker")
@pytest.mark.parametrize("fs, inside", [("'#tmpfs'", "sub/deeper"), ("'#dev'", "sub")], ids=["tmpfs", "dev"])
def test_a_directory_swapped_for_a_symlink_never_makes_root_write_to_the_disk(root_tree, fs, inside):
    """root runs a file that mounts a new filesystem on a directory in the attacker's tree and
    then binds onto a missing path in it, which newns makes. The attacker, seeing the mount,
    renames the directory away (the mount moves with it) and puts a symlink to a root-owned
    directory in its place: root must never create anything in that directory."""
    attacker = unprivileged()
    victim = root_tree
    protected = victim / "protected"
    protected.mkdir()
    for i in range(PADDING):
        (victim / f"pad{i}").mkdir()
    (victim / "src").mkdir()
    den = make_tree(attacker)
    (den / "d").mkdir()
    den.own()
    lines = [f"mount {fs} $A/d"] + [f"bind $R/pad{i} $R/pad{i}" for i in range(PADDING)] + [f"bind $R/src $A/d/{inside}"]
    ns = victim.ns("\n".join(lines) + "\n")
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAP, str(den / "d"), str(protected)], user=attacker.uid, group=attacker.gid, extra_groups=[]
    )
    try:
        for _ in range(20):
            victim.newns("-f", str(ns), "true", env={"A": str(den.base), "R": str(victim.base)}, timeout=HANG)
            assert os.listdir(protected) == [], "root made a mount point on the disk, through the attacker's symlink"
    finally:
        (den / "d.stop").touch()
        swapper.wait(timeout=HANG)
        remove_tree(den)


# -- 4. --ns output cannot be steered by the mounts it describes ------------------------------

FORGED = "x\nmount '#tmpfs' /etc"
UNION_FORGED = "m\n+/etc"
ODD = ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\xa0", "\x1b[31m", "tab\there", "back\\slash", "quo'te", "#hash", "$dollar"]


def dumped_binds(text: str) -> list[tuple[str, str, str]]:
    """The bind and mount lines of --ns output read back by newns's own parser: (verb, new, old)."""
    parsed, problems = nsfile.parse(text, "dump")
    assert problems == [], [str(p) for p in problems]
    out = []
    for op in parsed:
        if isinstance(op, Bind):
            out.append(("bind", "".join(op.new.pieces), "".join(op.old.pieces)))
        elif isinstance(op, Mount):
            out.append(("mount", "".join(op.source.pieces), "".join(op.old.pieces)))
    return out


def test_ns_output_reads_back_as_the_same_single_words(tree):
    names = [FORGED, *(f"odd{i}{c}x" for i, c in enumerate(ODD))]
    tree.make({"a/": "", **{f"{name}/": "" for name in names}})
    lines = [f"bind $T/a $T/$V{i}\n" for i in range(len(names))]
    env = {f"V{i}": name for i, name in enumerate(names)}
    ns = tree.ns("".join(lines))
    result = ns_of(tree, ["-f", str(ns)], env)
    assert result.returncode == 0, result.stderr
    assert "\nmount '#tmpfs' /etc\n" not in result.stdout
    targets = [old for verb, new, old in dumped_binds(result.stdout) if old.startswith(str(tree.base))]
    assert targets == [str(tree / name) for name in names]


def test_a_union_members_name_cannot_forge_members(tree):
    tree.make({"t/": "", f"{UNION_FORGED}/": ""})
    ns = tree.ns("bind -a $T/$M $T/t\n")
    result = ns_of(tree, ["-f", str(ns)], {"M": UNION_FORGED})
    assert result.returncode == 0, result.stderr
    mine = [b for b in dumped_binds(result.stdout) if b[2] == str(tree / "t")]
    assert mine == [("bind", str(tree / UNION_FORGED), str(tree / "t"))], result.stdout


# -- 5. the command cannot type into the caller's terminal -----------------------------------

PUSH = """
import fcntl, termios
try:
    for c in b"echo PWNED":
        fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))
    print("PUSHED")
except OSError as e:
    print("REFUSED", e.errno)
"""


@pytest.mark.parametrize("text", ["", "mount '#proc' /proc\n"], ids=["exec", "parent"])
def test_the_command_cannot_push_input_into_the_terminal(tree, text):
    ns = tree.ns(text)
    env = {"PATH": "/usr/bin:/bin", "T": str(tree.base)}
    direct = Terminal(tree.caller, [sys.executable, "-c", PUSH], env, tree.base)
    direct.expect("PUSHED|REFUSED")
    direct.close()
    if b"REFUSED" in direct.output:
        pytest.skip("this kernel refuses TIOCSTI to this caller already (dev.tty.legacy_tiocsti = 0)")
    inside = Terminal(tree.caller, [NEWNS, "-f", str(ns), sys.executable, "-c", PUSH], env, tree.base)
    inside.expect("PUSHED|REFUSED")
    assert inside.close() == 0
    assert "REFUSED 1" in inside.text(), inside.text()


def test_an_interactive_shell_keeps_job_control_under_the_filter(tree):
    ns = tree.ns("")
    env = {"PATH": "/usr/bin:/bin", "PS1": "$ ", "TERM": "dumb"}
    shell = Terminal(tree.caller, [NEWNS, "-f", str(ns), "/bin/bash", "--norc", "-i"], env, tree.base)
    shell.expect(r"\$ ")
    shell.send("sleep 30 &\n")
    shell.expect(r"\$ ")
    shell.send("jobs; kill %1; wait; echo DONE-$((6*7))\n")
    shell.expect("DONE-42")
    shell.send("exit 3\n")
    assert shell.close() == 3


# -- 6. no privilege is gained on exec ---------------------------------------------------------


def no_new_privs(text: str) -> str:
    return next(line.split()[1] for line in text.splitlines() if line.startswith("NoNewPrivs:"))


@pytest.mark.parametrize("text", ["", "mount '#proc' /proc\n", "bind -bc $T/w $T/t\n"], ids=["exec", "proc", "work"])
def test_the_command_runs_with_no_new_privs(tree, text):
    tree.make({"t/": "", "w/": ""})
    ns = tree.ns(text)
    result = tree.newns("-f", str(ns), "cat", "/proc/self/status")
    assert result.returncode == 0, result.stderr
    assert no_new_privs(result.stdout) == "1"


def test_a_file_may_let_programs_gain_privilege(tree):
    ns = tree.ns("allow setuid\n")
    result = tree.newns("-f", str(ns), "cat", "/proc/self/status")
    assert result.returncode == 0, result.stderr
    assert no_new_privs(result.stdout) == "0"


@needs_root("to make a set-user-ID root program")
def test_a_set_user_id_program_gains_nothing_in_the_namespace(user_tree):
    tree = user_tree
    ns = tree.ns("")
    program = tree / "whoami"
    shutil.copy("/usr/bin/id", program)
    program.chmod(0o4755)  # root's, set-user-ID
    outside = tree.caller.run([str(program), "-u"], cwd=tree.base)
    if outside.stdout.strip() != "0":
        pytest.skip("set-user-ID has no effect here (a nosuid mount?)")
    inside = tree.newns("-f", str(ns), str(program), "-u")
    assert inside.stdout.strip() == str(tree.caller.uid), inside


@needs_root("to give a copy of python a file capability")
def test_newns_refuses_to_run_with_a_file_capability(user_tree):
    if shutil.which("setcap") is None:
        pytest.skip("setcap is not installed (libcap2-bin)")
    tree = user_tree
    python = tree / "python"
    shutil.copy(os.path.realpath(sys.executable), python)
    if subprocess.run(["setcap", "cap_dac_read_search+ep", str(python)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem keeps no file capabilities")
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}
    probe = tree.caller.run([str(python), "-c", "print(open('/etc/shadow').readline() != '')"], cwd=tree.base, env=env)
    if probe.stdout.strip() != "True":
        pytest.skip("the file capability has no effect here (a nosuid mount?)")
    for args in (["-f", "/etc/shadow", "true"], ["--check", "-f", "/etc/shadow"], ["--explain", "-f", "/etc/shadow"]):
        result = tree.caller.run([str(python), "-m", "newns", *args], cwd=tree.base, env=env)
        refused(result, "refusing to run")
        assert result.stdout == "" and "root:" not in result.stderr, result


# -- 7. one run never breaks another --------------------------------------------------------------

UNION = "bind -bc $T/w $T/t\n"


def work_dirs(tree: Tree) -> list[str]:
    cache = tree / ".cache" / "newns"
    return sorted(name for name in os.listdir(cache) if name != "parsed") if cache.exists() else []


def test_a_run_with_its_own_proc_leaves_other_runs_work_directories_alone(tree):
    tree.make({"t/": "", "w/": ""})
    long = tree.ns(UNION, "long.ns")
    short = tree.ns("mount '#proc' /proc\n" + UNION, "short.ns")
    running = spawn(tree, [NEWNS, "-f", str(long), "sh", "-c", 'echo ready; read x; echo after > "$T/t/after" && cat "$T/t/after"'], stdin=subprocess.PIPE)
    try:
        assert running.stdout.readline() == "ready\n"
        in_use = work_dirs(tree)
        assert in_use
        result = tree.newns("-f", str(short), "true")
        assert result.returncode == 0, result.stderr
        assert set(in_use) <= set(work_dirs(tree)), "a run removed the work directory of a run still going"
        out, err = running.communicate("\n", timeout=HANG)
        assert (running.returncode, out) == (0, "after\n"), err
    finally:
        running.kill()
        running.wait()


@needs_root("root is the victim, the test user the attacker")
def test_stale_work_directories_are_never_followed_through_a_symlink(root_tree):
    """root's cache directory is one others can write to: the attacker plants a stale-looking
    work directory that is a symlink to a directory of root's."""
    tree = root_tree
    tree.make({"t/": "", "w/": "", "victim/sub/file": "keep"})
    (tree / "victim" / "sub").chmod(0o755)
    cache = tree / "cache"
    (cache / "newns").mkdir(parents=True)
    cache.chmod(0o1777)
    (cache / "newns").chmod(0o777)
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.symlink(tree / "victim", cache / "newns" / f"work-{dead.pid}-0badc0de")
    ns = tree.ns(UNION)
    result = tree.newns("-d", "-f", str(ns), "true", env={"XDG_CACHE_HOME": str(cache)})
    assert (tree / "victim" / "sub").stat().st_mode & 0o777 == 0o755
    assert (tree / "victim" / "sub" / "file").read_text() == "keep"
    if result.returncode == 0:
        assert "warning" in result.stderr and str(cache / "newns") in result.stderr, result.stderr


def test_a_relative_cache_home_is_ignored(tree):
    tree.make({"t/": "", "w/": "", "elsewhere/": ""})
    ns = tree.ns(UNION)
    result = tree.newns("-f", str(ns), "sh", "-c", 'ls "$T/.cache"', env={"XDG_CACHE_HOME": "relcache"})
    assert (result.returncode, result.stdout) == (0, "newns\n"), result
    assert not (tree / "relcache").exists()


# -- 8. kernel filesystems that are not new are not written to ---------------------------------------


@needs_root("to mount the host's devtmpfs and cgroup2")
@pytest.mark.parametrize("fstype", ["devtmpfs", "cgroup2"])
def test_no_mount_point_is_made_in_a_kernel_filesystem_that_is_not_new(root_tree, fstype):
    tree = root_tree
    probe = f"newns-probe-{os.getpid()}"
    tree.make({"a/": "", "fs/": ""})
    ns = tree.ns(f"mount '#{fstype}' $T/fs\nbind $T/a $T/fs/{probe}\n")
    host = {"devtmpfs": "/dev", "cgroup2": "/sys/fs/cgroup/unified"}[fstype]
    if fstype == "cgroup2" and not os.path.isfile(f"{host}/cgroup.procs"):
        pytest.skip("no cgroup2 hierarchy mounted where the test looks")
    try:
        check = tree.newns("--check", "-f", str(ns))
        assert check.returncode == 125 and f"{ns}:2:" in check.stdout, check
        run = tree.newns("-f", str(ns), "true")
        refused(run, f"{ns}:2:")
        assert not os.path.lexists(f"{host}/{probe}")
    finally:
        if os.path.isdir(f"{host}/{probe}"):
            os.rmdir(f"{host}/{probe}")


# -- 9. --attach only ever changes the target namespace ------------------------------------------------


@needs_root("to make a namespace whose mounts are shared with the host's")
def test_attach_never_propagates_into_the_host(root_tree):
    tree = root_tree
    tree.make({"shared/": "", "a/in-a": ""})
    shared = tree / "shared"
    subprocess.run(["mount", "-t", "tmpfs", "newns-shared", str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        (shared / "t").mkdir()
        holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "unchanged", "sh", "-c", "echo ready; exec sleep 600"],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert holder.stdout.readline() == "ready\n"
            ns = tree.ns("bind $T/a $T/shared/t\n")
            before = mount_table()
            result = tree.newns("--attach", str(holder.pid), "-f", str(ns))
            assert mount_table() == before, "a mount made by --attach reached the host"
            refused(result, "shared")
        finally:
            holder.kill()
            holder.wait()
    finally:
        subprocess.run(["umount", "-l", str(shared)], check=False)


def test_attach_is_all_or_nothing(tree):
    tree.make({"a/in-a": "", "t/": "", "u/": "", "empty.ns": ""})
    holder = spawn(tree, [NEWNS, "-f", str(tree / "empty.ns"), "sh", "-c", "echo ready; exec sleep 600"])
    try:
        assert holder.stdout.readline() == "ready\n"
        with open(f"/proc/{holder.pid}/mountinfo") as f:
            before = f.read()
        ns = tree.ns("bind $T/a $T/t\nmount '#tmpfs' $T/u 'size=lots'\n")
        result = tree.newns("--attach", str(holder.pid), "-f", str(ns))
        refused(result, f"{ns}:2:")
        with open(f"/proc/{holder.pid}/mountinfo") as f:
            assert f.read() == before
    finally:
        holder.kill()
        holder.wait()


# -- 10. bad input: a clear error, bounded time and memory, no traceback ---------------------------------


def one_line(result, *needles: str) -> None:
    refused(result, *needles)
    assert result.stderr.count("\n") <= 3, result.stderr


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "/dev/null"], ids=["zero", "fifo", "null"])
def test_an_include_must_be_a_regular_file(tree, target):
    os.mkfifo(tree / "fifo")
    tree.own()
    ns = tree.ns(f". {target}\n")
    for mode in (["--check", "-f", str(ns)], ["-f", str(ns), "true"]):
        result = tree.newns(*mode, timeout=HANG)
        assert result.returncode == 125, result
        assert "not a regular file" in result.stdout + result.stderr, result


def test_the_namespace_file_must_not_be_a_device(tree):
    result = tree.newns("-f", "/dev/zero", "true", timeout=HANG)
    one_line(result, "/dev/zero", "not a regular file")


def test_a_long_include_chain_is_stopped_with_a_message(tree):
    for i in range(500):
        tree.ns(f". {i + 1}.ns\n", f"{i}.ns")
    tree.ns("", "500.ns")
    result = tree.newns("--check", "-f", str(tree / "0.ns"), timeout=HANG)
    assert result.returncode == 125, result
    assert "RecursionError" not in result.stdout + result.stderr
    assert "includes nested deeper than" in result.stdout, result.stdout[:2000]


def test_includes_that_multiply_are_bounded(tree):
    """Each file includes the next twice: 2**40 lines if nothing stops it."""
    for i in range(40):
        tree.ns(f". {i + 1}.ns\n. {i + 1}.ns\n", f"{i}.ns")
    tree.ns("cd $T\n", "40.ns")  # the includes after it are found from there: where they are
    result = tree.newns("--check", "-f", str(tree / "0.ns"), timeout=HANG)
    assert result.returncode == 125, result
    assert "too large" in result.stdout + result.stderr, (result.stdout[:2000], result.stderr[:2000])


def test_bytes_that_are_not_utf8_in_a_union_and_an_option(tree):
    name = os.fsdecode(b"m\xff")
    tree.make({"t/": "", f"{name}/in-m": ""})
    ns = tree.ns("bind -a $T/$M $T/t\nmount '#tmpfs' $T/t $O\n")
    env = {"M": name, "O": os.fsdecode(b"mode=0755,x\xfe")}
    check = tree.newns("--check", "-f", str(ns), env=env)
    run = tree.newns("-f", str(ns), "true", env=env)
    for result in (check, run):
        assert "internal error" not in result.stdout + result.stderr and "Traceback" not in result.stderr, result
    assert (check.returncode == 0) == (run.returncode == 0), (check, run)


def test_a_closed_standard_output(tree):
    ns = tree.ns("")
    for args in (["--ns"], ["--explain", "-f", str(ns)], ["--check", "-f", str(tree.ns("bnid\n", "bad.ns"))]):
        result = subprocess.run(
            [NEWNS, *args], cwd=tree.base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: os.close(1),
        )
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
        assert result.returncode == 125, result


def test_ctrl_c_while_reading_a_large_file(tree):
    ns = tree.ns("".join(f"bind -q $T/missing{i} $T/t\n" for i in range(200_000)))
    for mode in (["--check", "-f", str(ns)], ["-f", str(ns), "true"]):
        for delay in (0.05, 0.3):
            run = spawn(tree, [NEWNS, *mode])
            newns_started(run.pid)
            time.sleep(delay)
            run.send_signal(signal.SIGINT)
            out, err = run.communicate(timeout=HANG)
            assert run.returncode in (-signal.SIGINT, 130), (run.returncode, err)
            assert "Traceback" not in err and "KeyboardInterrupt" not in err and "internal error" not in err, err


def test_control_characters_are_shown_escaped(tree):
    ns = tree.ns("\x1b[2J\x1b]0;owned\x07 /a /b\nbind $T/$V /x\n")
    for mode in (["--check", "-f", str(ns)], ["-f", str(ns), "true"]):
        result = tree.newns(*mode, env={"V": "\x1b[31mred"})
        assert result.returncode == 125
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown and "\x07" not in shown, shown
        assert "\\x1b" in shown, shown


def test_the_init_of_a_pid_namespace_is_under_the_filter_too(tree):
    """A command running as root could make newns's init (PID 1, which holds the terminal)
    push input for it: the init runs under the same filter."""
    ns = tree.ns("mount '#proc' /proc\n")
    result = tree.newns("-f", str(ns), "sh", "-c", "grep ^Seccomp: /proc/1/status")
    assert (result.returncode, result.stdout.split()) == (0, ["Seccomp:", "2"]), result


def test_ns_does_not_believe_an_overlay_source_that_does_not_fit_its_layers(tree):
    """Whoever mounts an overlay chooses its source: one member naming the target would print
    nothing; a list longer than the layers would print members that are not there."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    tree.make({"a/": "", "b/": "", "t/": "", "u/": ""})
    script = (
        f'mount -t overlay "newns:-{tree / "t"}" -o lowerdir={tree / "a"}:{tree / "b"} {tree / "t"} && '
        f'mount -t overlay "newns:-/x -/y -/z" -o lowerdir={tree / "a"}:{tree / "b"} {tree / "u"} && '
        "echo ready && read x"
    )
    mounted = spawn(tree, ["unshare", "-rm", "sh", "-c", script], stdin=subprocess.PIPE)
    try:
        assert mounted.stdout.readline() == "ready\n", mounted.stderr.read()
        result = tree.newns("--ns", str(mounted.pid))
    finally:
        mounted.stdin.close()
        mounted.wait(timeout=HANG)
    assert result.returncode == 0, result
    lines = [line for line in result.stdout.splitlines() if str(tree.base) in line and not line.startswith("cd ")]
    assert len(lines) == 2 and all(line.startswith("# ") for line in lines), result.stdout


def test_made_up_mount_points_never_land_in_a_real_directory(tree):
    """A union of a new tmpfs and a real directory that takes creations: a missing mount point
    inside it would be made in the real directory. It is an error at its line."""
    tree.make({"m/": "", "real/": "", "a/": ""})
    ns = tree.ns("mount '#tmpfs' $T/m\nbind -ac $T/real $T/m\nbind $T/a $T/m/madeup/point\n")
    for mode in (["--check", "-f", str(ns)], ["-f", str(ns), "true"]):
        result = tree.newns(*mode)
        assert result.returncode == 125 and f"{ns}:3:" in result.stdout + result.stderr, result
        assert os.listdir(tree / "real") == []


# -- 11. the installed command imports nothing from where it runs -----------------------------------

PLANTED_MODULE = 'print("PLANTED")\nraise SystemExit(99)\n'


@needs_root("to make the attacker, a second user")
@pytest.mark.parametrize("pythonpath, inside", [(".", ""), ("src", "src/"), (":/nonexistent", "")], ids=["dot", "relative", "empty-entry"])
def test_a_relative_pythonpath_imports_nothing_from_the_working_directory(tree, pythonpath, inside):
    """Another user leaves modules newns imports in a directory where the victim runs newns
    with a relative entry in PYTHONPATH, as CI jobs of Python projects set it."""
    den = make_tree(other_user())
    try:
        den.make({f"{inside}{name}": PLANTED_MODULE for name in ("ctypes.py", "fcntl.py", "newns/__init__.py")})
        ns = tree.ns("")
        result = tree.caller.newns("-f", str(ns), "id", "-u", cwd=den.base, env={"PYTHONPATH": pythonpath})
        assert "PLANTED" not in result.stdout + result.stderr, result
        assert (result.returncode, result.stdout) == (0, f"{tree.caller.uid}\n"), result
    finally:
        remove_tree(den)


def test_python_variables_that_lead_to_no_code_cost_no_second_start(tree):
    """CI images set PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE everywhere: newns starts once
    (its imports are traced, which a start again under -I would not do); PYTHONPATH starts it again."""
    ns = tree.ns("")
    traced = {"PYTHONPROFILEIMPORTTIME": "1"}
    for env, again in (({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}, False), ({"PYTHONPATH": "/nonexistent"}, True)):
        result = tree.newns("-f", str(ns), "true", env={**traced, **env})
        assert result.returncode == 0, result
        assert ("newns.entry" in traced_imports(result.stderr)) != again, (env, result.stderr[-300:])


# -- 12. hermetic reaches no unix socket of the host ---------------------------------------------------

NAMESPACES = Path(__file__).parent.parent / "namespaces"
SERVE = """
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.listen()
print("ready", flush=True)
while True:
    s.accept()[0].sendall(b"a command to run outside\\n")
"""
CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("CONNECTED")
except OSError as e:
    print("REFUSED", e.strerror)
"""


@needs_root("to make a service's socket under /run, as the system bus and docker.sock are")
def test_hermetic_reaches_no_unix_socket_of_the_host(place):
    """A service (the attacker's stand-in, another user) listens on a socket under /run, where
    the session and system buses and docker.sock are: a command in hermetic, which has no
    network, must not reach it, by /run or by /var/run."""
    service = other_user()
    run = Path(tempfile.mkdtemp(prefix="newns-test-", dir="/run"))
    run.chmod(0o755)
    os.chown(run, service.uid, service.gid)
    socket_path = run / "bus"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(socket_path)], user=service.uid, group=service.gid, extra_groups=[],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout.readline() == "ready\n"
        place.make({"home/": ""})
        env = {"HOME": str(place / "home"), "home": str(place / "home")}
        outside = place.newns("-f", str(place.ns("")), sys.executable, "-c", CONNECT, str(socket_path))
        assert outside.stdout == "CONNECTED\n", outside
        for path in (socket_path, Path("/var/run") / run.name / "bus"):
            result = place.newns("-f", str(NAMESPACES / "hermetic"), sys.executable, "-c", CONNECT, str(path), env=env)
            assert (result.returncode, result.stdout.split()[:1]) == (0, ["REFUSED"]), result
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(run)


# -- 13. sandbox keeps the home out, from any directory --------------------------------------------------


@pytest.mark.parametrize("name", ["sandbox", "sandbox-rw"])
@pytest.mark.parametrize("start", ["home", ""], ids=["home", "above"])
def test_sandbox_started_from_the_home_refuses_to_bring_it_back(place, name, start):
    """Started from the home directory or above it, binding the current directory back in
    would bring ~/.ssh with it, and sandbox-rw would write into the home."""
    place.make({"home/.ssh/id_rsa": "PRIVATE KEY\n"})
    cwd = place / start if start else place.base
    env = {"PWD": str(cwd), "HOME": str(place / "home"), "home": str(place / "home")}
    step = 'cat "$HOME/.ssh/id_rsa"; echo planted > "$HOME/.ssh/authorized_keys"'
    result = place.caller.newns("-f", str(NAMESPACES / name), "sh", "-c", step, cwd=cwd, env=env)
    assert "PRIVATE KEY" not in result.stdout
    assert not (place / "home/.ssh/authorized_keys").exists()
    refused(result, "home directory", "checkout")


# -- 15. a symlink in the cache's path -------------------------------------------------------------------


def test_a_cache_reached_through_a_symlink_of_the_callers_own_is_used(tree):
    """/home -> var/home, as on Fedora Silverblue: the union with a real -c directory works."""
    tree.make({"t/": "", "w/": "", "var/home/": ""})
    os.symlink("var/home", tree / "home")
    tree.own()
    ns = tree.ns(UNION)
    result = tree.newns("-f", str(ns), "sh", "-c", 'echo x > "$T/t/new"', env={"XDG_CACHE_HOME": str(tree / "home/cache")})
    assert result.returncode == 0, result.stderr
    left = set(os.listdir(tree / "var/home/cache/newns")) - {"parsed"}  # the parsed files' cache stays
    assert (tree / "w/new").read_text() == "x\n" and left == set()


@needs_root("the attacker, a second user, makes the symlink")
def test_a_symlink_another_user_could_make_in_the_caches_path_is_not_followed(tree):
    attacker = other_user()
    tree.make({"t/": "", "w/": ""})
    den = make_tree(attacker)
    try:
        (den / "theirs").mkdir()
        shared = Path(tempfile.mkdtemp(prefix="newns-test-", dir=tree.base))
        shared.chmod(0o1777)
        os.symlink(den / "theirs", shared / "cache")
        os.lchown(shared / "cache", attacker.uid, attacker.gid)
        result = tree.newns("-f", str(tree.ns(UNION)), "true", env={"XDG_CACHE_HOME": str(shared / "cache")})
        assert os.listdir(den / "theirs") == [], result
        refused(result, "others may write to")
    finally:
        remove_tree(den)


@needs_root("root acts as the owner")
def test_as_owner_of_a_uid_without_an_account_is_refused(root_tree):
    """A namespace whose owner has no passwd entry: nothing to take HOME or SHELL from."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    nobody = 64999
    holder = subprocess.Popen(["unshare", "-rm", "sh", "-c", "echo ready; exec sleep 600"], user=nobody, group=nobody,
                              extra_groups=[], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        result = root_tree.newns("--attach", str(holder.pid), "--as-owner", "true")
        refused(result, "uid 64999", "no passwd entry")
    finally:
        holder.kill()
        holder.wait()


def test_a_nested_dev_gives_the_console_no_other_programs_terminal(tree):
    """newns with '#dev' run inside a '#dev', where a program holds a terminal of the inner
    devpts: /dev/console must be the terminal newns runs on, or be absent."""
    dev = tree.ns("mount '#dev' /dev\n")
    inner = tree / "inner.sh"
    inner.write_text(f"#!/bin/sh\nexec {NEWNS} -f {dev} sh -c 'stat -L -c %d:%i /proc/self/fd/0 /dev/console; echo END'\n")
    inner.chmod(0o755)
    tree.own()
    holds = f"import os, subprocess; ptys = [os.openpty() for _ in range(8)]; subprocess.run([{str(inner)!r}])"
    term = Terminal(tree.caller, [NEWNS, "-f", str(dev), sys.executable, "-c", holds], {"PATH": "/usr/bin:/bin"}, tree.base)
    term.expect("END")
    assert term.close() == 0, term.text()
    seen = [line for line in term.text().splitlines() if line and line != "END"]
    assert seen[0] == seen[1] or "No such file" in seen[1], term.text()


# -- 16. what runs as another user keeps nothing of root's: keys, terminal, trust ------------------


def _keyctl() -> str:
    keyctl = shutil.which("keyctl")
    if keyctl is None:
        pytest.skip("keyctl is missing (apt install keyutils)")
    return keyctl


SEARCH_KEYS = "keyctl search @s user newns-secret && keyctl print %user:newns-secret || echo NO-KEY"
"""Run as the dropped command: root's key, reached through the session keyring it possesses."""


@needs_root("root is the victim")
@pytest.mark.parametrize("how", ["user line", "attach as owner"])
def test_a_command_run_as_another_user_holds_none_of_roots_keys(root_tree, user_tree, how):
    """Root keeps secrets in its user keyring, which a login links into its session keyring;
    a command newns runs under another uid must not possess them."""
    keyctl = _keyctl()
    holder = None
    if how == "user line":
        ns = root_tree.ns("user 1234 1234\n")
        command = f"{NEWNS} -f {ns} -- sh -c '{SEARCH_KEYS}'"
    else:
        user_tree.make({"empty.ns": ""})
        holder = spawn(user_tree, [NEWNS, "-f", str(user_tree / "empty.ns"), "sh", "-c", "echo ready; exec sleep 600"])
        assert holder.stdout.readline() == "ready\n"
        command = f"{NEWNS} --attach {holder.pid} --as-owner sh -c '{SEARCH_KEYS}'"
    try:
        script = f"keyctl link @u @s && keyctl add user newns-secret hunter2 @u >/dev/null && {command}"
        result = ROOT_CALLER.run([keyctl, "session", "-", "sh", "-c", script], cwd=root_tree.base)
        assert "hunter2" not in result.stdout, result
        assert result.stdout.strip().endswith("NO-KEY"), result
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()


STEAL = r"""
import os, select, signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTTOU, signal.SIGTTIN])
time.sleep(2)
got = b"NO-TERMINAL"
for fd in (0, 1, 2):
    if os.isatty(fd):
        try:
            os.tcsetpgrp(fd, os.getpgrp())
            got = os.read(fd, 100) if select.select([fd], [], [], 8)[0] else b"NOTHING"
        except OSError as e:
            got = e.strerror.encode()
        break
with open(sys.argv[1], "wb") as out:
    out.write(got)
"""


@needs_root("root is the victim")
def test_a_command_run_as_another_user_cant_read_what_root_types_after_newns(root_tree):
    """What the command leaves behind makes itself the terminal's foreground once newns has
    returned to root's shell, and reads the next line root types."""
    root_tree.make({"steal.py": STEAL, "loot/": ""})
    (root_tree / "loot").chmod(0o777)
    loot = root_tree / "loot" / "got"
    ns = root_tree.ns("user 1234 1234\n")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "TERM": "dumb", "PS1": "$ "}
    terminal = Terminal(ROOT_CALLER, ["/bin/bash", "--norc", "--noprofile", "-i"], env, root_tree.base)
    try:
        terminal.expect(r"\$ ")
        thief = root_tree / "steal.py"
        terminal.send(f'{NEWNS} -f {ns} -- sh -c "python3 {thief} {loot} & sleep 0.5"; echo NEWNS-"DONE"\n')
        terminal.expect("NEWNS-DONE")
        time.sleep(4)  # the thief, if left running, is reading by now
        terminal.send('echo root-"password"\n')
        deadline = time.monotonic() + HANG
        while not loot.exists() and time.monotonic() < deadline and _running("steal.py"):
            time.sleep(0.2)
        assert not loot.exists() or b"password" not in loot.read_bytes(), loot.read_bytes()
        terminal.expect("root-password")  # the shell has its line
    finally:
        subprocess.run(["pkill", "-f", "steal.py"], check=False)
        terminal.send("exit\n")
        terminal.close(timeout=10)


def _running(needle: str) -> bool:
    return subprocess.run(["pgrep", "-f", needle], capture_output=True).returncode == 0


@needs_root("root is the victim")
def test_an_interactive_shell_run_as_another_user_keeps_job_control(root_tree):
    """On a terminal of its own, relayed: Ctrl-C, Ctrl-Z, fg and the window size still work."""
    ns = root_tree.ns("user 1234 1234\n")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "TERM": "dumb", "PS1": "$ "}
    terminal = Terminal(ROOT_CALLER, [NEWNS, "-f", str(ns), "--", "/bin/bash", "--norc", "-i"], env, root_tree.base)
    try:
        terminal.expect(r"\$ ")
        terminal.send("id -u; tty\n")
        found = terminal.expect(r"\n1234\r?\n(/dev/pts/\d+)")
        assert os.stat(found.group(1).decode()).st_uid == 1234
        terminal.send("sleep 300\n")
        time.sleep(1)
        terminal.send(b"\x1a")  # Ctrl-Z
        terminal.expect("Stopped")
        terminal.send("fg\n")
        terminal.expect("sleep 300")
        time.sleep(1)
        terminal.send(b"\x03")  # Ctrl-C
        terminal.expect(r"\$ ")
        import fcntl
        import struct
        import termios

        fcntl.ioctl(terminal.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        os.kill(terminal.pid, signal.SIGWINCH)
        time.sleep(0.5)
        terminal.send("stty size\n")
        terminal.expect("33 111")
        terminal.send("exit 7\n")
    finally:
        assert terminal.close() == 7, terminal.text()


SETUID_TOOL = """
set -e
mount --bind "$T/evil" /usr/bin/whoami
exec setpriv --reuid={uid} --regid={gid} --clear-groups sh -c 'echo ready; exec sleep 600'
"""


@needs_root("root is the victim, and plays the set-user-ID tool")
@pytest.mark.parametrize("target", ["the user's process", "a root process beside it"])
def test_root_attaching_to_a_namespace_a_set_user_id_tool_made_for_a_user(user_tree, target):
    """A set-user-ID sandbox tool makes a mount namespace owned by root (the initial user
    namespace) for a user, who binds a program of theirs over whoami in it: root attaching
    must see whose it is, as it does for the user's own user namespaces."""
    tree = user_tree
    uid, gid = tree.caller.uid, tree.caller.gid
    tree.make({"evil": EVIL})
    (tree / "evil").chmod(0o755)
    script = SETUID_TOOL.format(uid=uid, gid=gid)
    if target != "the user's process":
        script = script.replace("exec setpriv", "setpriv").replace("sleep 600'", "sleep 600' &\nexec sleep 600")
    holder = subprocess.Popen(  # unshare and sh exec what they run: the holder is the user's sleep, or root's sh
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=tree.base,
        env={"PATH": "/usr/bin:/bin", "T": str(tree.base)}, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert holder.stdout.readline() == "ready\n"
        pid = holder.pid
        for args in (["whoami"], ["-f", "/dev/null", "whoami"]):
            result = ROOT_CALLER.newns("--attach", str(pid), *args, cwd=tree.base)
            refused(result, "newns-test", "--as-owner")
            assert "EVIL-RAN" not in result.stdout
        owner = ROOT_CALLER.newns("--attach", str(pid), "--as-owner", "whoami", cwd=tree.base)
        assert owner.returncode == 0, owner
        assert owner.stdout.splitlines()[:2] == ["EVIL-RAN", f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}"], owner
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
