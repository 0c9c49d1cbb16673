"""Faults, load and hostile callers: nothing leaks, nothing is lost, no one gets in.

Each test runs the installed newns for real, as root and as the unprivileged
user (see conftest.py), and the autouse fixture checks that the caller's mount
table is unchanged afterwards. docs/security.md says which promise each test
proves. Loops are bounded by counts, never by time; timeouts only catch hangs.
"""
from __future__ import annotations

import ctypes
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import HANG, NEWNS, Tree, mount_table, needs_root, outside_cache, snapshot, spawn, tree_env

SOAK_RUNS = int(os.environ.get("NEWNS_SOAK_RUNS", "200"))
"""Runs in a row, per caller."""
CONCURRENT = int(os.environ.get("NEWNS_CONCURRENT", "20"))
"""Runs at once, per caller."""
KILLS = int(os.environ.get("NEWNS_KILLS", "16"))
"""Runs killed at a random moment, per caller."""

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def one_line_failure(result, *needles: str) -> None:
    """newns's own failure: exit 125 and one line on stderr that says what is wrong."""
    assert result.returncode == 125, result
    assert result.stdout == ""
    assert result.stderr.startswith("newns: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# -- variables are never syntax -------------------------------------------------------

VALUES = ["-a", "'x y'", "$OTHER", "a b", "#c", "-", "--", "*", "..x", "a\tb", "x\\y"]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("form", ["$T/$V", "$V"], ids=["piece", "word"])
def test_a_value_is_one_literal_path(tree, value, form):
    """Whether a piece of a word or the whole word (in flag position, even), a value names
    one path: the directory of that name in the tree (the working directory)."""
    tree.make({f"{value}/in-value": "", "t/": "", "a/in-a": ""})
    ns = tree.ns(f"bind {form} $T/t\n")
    result = tree.newns("-f", str(ns), "ls", str(tree / "t"), env={"V": value, "OTHER": str(tree / "a")})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "in-value\n"


def test_a_value_in_flag_position_is_an_argument(tree):
    """bind $V $T/a $T/t with V=-r is three arguments, one too many: as a flag it would make a
    read-only bind of a onto t."""
    tree.make({"a/in-a": "", "t/": ""})
    ns = tree.ns("bind $V $T/a $T/t\n")
    result = tree.newns("-f", str(ns), "touch", str(tree / "ran"), env={"V": "-r"})
    assert result.returncode == 125, result
    assert result.stderr.startswith(f"newns: {ns}:1:{len('bind $V $T/a ') + 1}: too many arguments to bind"), result.stderr
    assert not (tree / "ran").exists()


# -- bad arguments and files ------------------------------------------------------------


def test_a_missing_file(tree):
    one_line_failure(tree.newns("-f", str(tree / "nope.ns"), "echo", "ran"), "nope.ns", "No such file")


MODES = pytest.mark.parametrize("mode", [[], ["--check"], ["--explain"]], ids=["run", "check", "explain"])


def with_mode(mode: list[str], nsfile: str) -> list[str]:
    """newns's arguments to read nsfile in a mode (a run runs echo)."""
    return [*mode, "-f", nsfile, *([] if mode else ["echo", "ran"])]


@MODES
def test_a_directory_as_the_file(tree, mode):
    one_line_failure(tree.newns(*with_mode(mode, str(tree.base))), str(tree.base), "Is a directory")


@MODES
def test_an_unreadable_file(user_tree, mode):
    """A root-only 0600 file, read by the unprivileged user."""
    tree = user_tree
    if tree.caller.uid == os.geteuid():
        pytest.skip("needs root to make a file the test user can't read")
    secret = tree / "root-only.ns"
    secret.write_text("bind /tmp /tmp\n")
    secret.chmod(0o600)
    one_line_failure(tree.newns(*with_mode(mode, str(secret))), "root-only.ns", "Permission denied")


def test_an_empty_file_name(tree):
    one_line_failure(tree.newns("-f", "", "echo", "ran"))


def test_an_empty_file_name_with_check(tree):
    one_line_failure(tree.newns("--check", "-f", ""))


@pytest.mark.parametrize(
    "args",
    [["-f"], ["-n"], ["--bogus"], ["-f", "x.ns", "--bogus"], ["--check"], ["--attach", "0"], ["--post", "x"], ["-x", "true"]],
    ids=" ".join,
)
def test_usage_errors_exit_2(tree, args):
    result = tree.newns(*args)
    assert result.returncode == 2, result
    assert "Usage:" in result.stderr or "Error:" in result.stderr
    assert "Traceback" not in result.stderr


# -- soak and load ------------------------------------------------------------------------

SOAK_NS = "bind -a $T/x $T/t\nbind -bc $T/w $T/t\nmount -c '#tmpfs' $T/scratch\n"
SOAK_SCRIPT = 'ls /proc/$$/fd; cat "$T/t/only-x" "$T/t/only-w"; echo s > "$T/scratch/s" && cat "$T/scratch/s"'
SOAK_OUT = "0\n1\n2\nX\nW\ns\n"


def children() -> list[tuple[int, str, str]]:
    """This process's children: (pid, state, name)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == os.getpid():
            found.append((int(entry), state, name))
    return found


@contextmanager
def subreaper():
    """Adopt orphans while inside: a process newns leaves behind becomes our child, where
    children() sees it. Afterwards, reap whatever is left."""
    assert _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        reap_all()


def reap_all(timeout: float = HANG) -> None:
    """Wait for every child; fail if some are still alive after timeout (a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            assert time.monotonic() < deadline, f"children still running: {children()}"
            time.sleep(0.01)


def tmp_leftovers(before: set[str]) -> set[str]:
    """New names in /tmp that newns could have left: a work directory, or a cache for them.
    (Other names may come and go: other tests and programs use /tmp meanwhile.)"""
    return {
        name
        for name in set(os.listdir("/tmp")) - before
        if re.fullmatch(r"run-[0-9a-f]+|\.cache|newns", name)
    }


def no_work_dirs(tree: Tree) -> None:
    assert stale_work_dirs(tree) == []


def soak_tree(tree: Tree) -> Path:
    tree.make({"t/only-t": "T\n", "x/only-x": "X\n", "w/only-w": "W\n", "scratch/": ""})
    return tree.ns(SOAK_NS)


def test_hundreds_of_runs_in_a_row_leave_nothing(tree):
    ns = soak_tree(tree)
    before_files, before_tmp, before_mounts = outside_cache(tree.base), set(os.listdir("/tmp")), mount_table()
    with subreaper():
        for i in range(SOAK_RUNS):
            result = tree.newns("-f", str(ns), "sh", "-c", SOAK_SCRIPT, timeout=HANG)
            assert (result.returncode, result.stdout, result.stderr) == (0, SOAK_OUT, ""), f"run {i}: {result}"
        assert children() == [], "a process newns started outlived it, or was never reaped"
    assert mount_table() == before_mounts
    assert outside_cache(tree.base) == before_files
    no_work_dirs(tree)
    assert tmp_leftovers(before_tmp) == set()


def test_tens_of_runs_at_once_leave_nothing(tree):
    ns = soak_tree(tree)
    before_files, before_tmp, before_mounts = outside_cache(tree.base), set(os.listdir("/tmp")), mount_table()
    with subreaper():
        for round in range(3):
            runs = [spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", SOAK_SCRIPT]) for _ in range(CONCURRENT)]
            results = [(run.communicate(timeout=HANG), run.returncode) for run in runs]
            assert children() == [], "a process newns started outlived it, or was never reaped"
            for i, ((out, err), code) in enumerate(results):
                assert (code, out, err) == (0, SOAK_OUT, ""), f"round {round}, run {i}"
    assert mount_table() == before_mounts
    assert outside_cache(tree.base) == before_files
    no_work_dirs(tree)
    assert tmp_leftovers(before_tmp) == set()


# -- killed half-way ----------------------------------------------------------------------

LAYERS = 400


def big_union(tree: Tree) -> Path:
    tree.make({"t/only-t": "T", "w/only-w": "W", **{f"l{i:03}/f{i:03}": str(i) for i in range(LAYERS)}})
    lines = [f"bind -a $T/l{i:03} $T/t\n" for i in range(LAYERS)] + ["bind -bc $T/w $T/t\n"]
    return tree.ns("".join(lines))


def stale_work_dirs(tree: Tree) -> list[str]:
    """The run directories in the cache (beside them: parsed, the parsed files)."""
    cache = tree / ".cache" / "newns"
    return sorted(name for name in os.listdir(cache) if name != "parsed") if cache.exists() else []


def test_killed_at_random_moments_while_building_a_large_union(tree):
    """SIGKILL newns and everything it started (as a terminal or a CI runner does) at random
    moments of building a 401-member union that creates in a real directory: the caller's mount
    table and files stay as they were, and the next run removes the work directories the killed
    ones left."""
    ns = big_union(tree)
    before_files, before_mounts = outside_cache(tree.base), mount_table()
    rng = random.Random(20240601)
    with subreaper():
        started = time.monotonic()
        whole = spawn(tree, [NEWNS, "-f", str(ns), "ls", str(tree / "t")])
        out, err = whole.communicate(timeout=HANG)
        span = time.monotonic() - started  # the scale for the random moments, not a threshold
        assert whole.returncode == 0, err
        assert len(out.split()) == LAYERS + 2
        for _ in range(KILLS):
            run = spawn(tree, [NEWNS, "-f", str(ns), "true"], start_new_session=True)
            time.sleep(rng.uniform(0, span))
            os.killpg(run.pid, signal.SIGKILL)  # newns and everything it started
            run.communicate(timeout=HANG)
            reap_all()
        # Once for certain: killed while the command runs, its work directory in use.
        run = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", "echo started; exec sleep 600"], start_new_session=True)
        assert run.stdout.readline() == "started\n"
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=HANG)
        reap_all()
    assert mount_table() == before_mounts
    assert outside_cache(tree.base) == before_files
    stale = stale_work_dirs(tree)
    assert stale, "the run killed while its command ran left no work directory: nothing to clean"
    assert all(re.fullmatch(r"run-[0-9a-f]{8}", name) for name in stale), stale
    result = tree.newns("-f", str(ns), "true", timeout=HANG)
    assert result.returncode == 0, result.stderr
    assert stale_work_dirs(tree) == []
    assert outside_cache(tree.base) == before_files


def child_of(pid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                return int(entry)
    return None


def test_killed_alone_while_its_child_builds(tree):
    """SIGKILL to newns alone (kill -9 PID) while its child is still building: the child dies
    with it, and the next run removes the work directory it left."""
    ns = big_union(tree)
    before_mounts = mount_table()
    with subreaper():
        for _ in range(10):
            run = spawn(tree, [NEWNS, "-f", str(ns), "true"])
            child = None
            while child is None and run.poll() is None:
                child = child_of(run.pid)
            if child is None:
                run.communicate(timeout=HANG)
                continue
            os.kill(run.pid, signal.SIGKILL)
            run.communicate(timeout=HANG)
            reap_all()  # the orphaned child, ours now: it must end by itself
            break
        else:
            pytest.fail("never caught newns with a child")
        assert children() == []
        assert stale_work_dirs(tree), "the killed run left no work directory"
        result = tree.newns("-f", str(ns), "true", timeout=HANG)
        assert result.returncode == 0, result.stderr
        assert stale_work_dirs(tree) == []
    assert mount_table() == before_mounts


@needs_root("to leave a work directory the test user can't remove")
def test_a_stale_work_directory_newns_cannot_remove_does_not_stop_a_run(user_tree):
    tree = user_tree
    ns = soak_tree(tree)
    cache = tree / ".cache" / "newns"
    cache.mkdir(parents=True)
    tree.own()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = cache / "run-0badc0de"
    (stale / "work-1" / "work").mkdir(parents=True)  # root's, as root's newns leaves it
    result = tree.newns("-f", str(ns), "sh", "-c", SOAK_SCRIPT)
    assert (result.returncode, result.stdout) == (0, SOAK_OUT), result.stderr


# -- privilege ----------------------------------------------------------------------------


@needs_root("to make a set-user-ID root copy of python")
@pytest.mark.parametrize("bits", [0o4755, 0o2755], ids=["setuid", "setgid"])
def test_installed_setuid_by_mistake_newns_refuses_to_run(user_tree, bits):
    tree = user_tree
    ns = tree.ns("")
    python = tree / "python"
    shutil.copy(os.path.realpath(sys.executable), python)  # after the tree is the user's: owned by root
    python.chmod(bits)
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}
    ids = tree.caller.run([str(python), "-c", "import os; print(os.geteuid(), os.getegid())"], cwd=tree.base, env=env)
    euid, egid = map(int, ids.stdout.split())
    if (euid, egid) == (tree.caller.uid, tree.caller.gid):
        pytest.skip("set-ID bits have no effect here (a nosuid mount?)")
    assert (euid if bits & 0o4000 else egid) == 0
    for args in (["-f", str(ns), "touch", str(tree / "ran")], ["--check", "-f", str(ns)]):
        result = tree.caller.run([str(python), "-m", "newns", *args], cwd=tree.base, env=env)
        one_line_failure(result, "refusing to run with privileges it was not given", "chmod u-s,g-s")
    assert not (tree / "ran").exists()


def capabilities(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(Cap(?:Inh|Prm|Eff|Amb)):\s+(\w+)$", text, re.M))


def test_the_command_has_no_capability_its_caller_lacks(tree):
    ns = tree.ns("mount -c '#tmpfs' $T\n")
    inside = tree.newns("-f", str(ns), "cat", "/proc/self/status")
    outside = tree.caller.run(["cat", "/proc/self/status"], cwd=tree.base)
    assert inside.returncode == 0, inside.stderr
    assert capabilities(inside.stdout) == capabilities(outside.stdout)
    if tree.caller.rootless:
        assert set(capabilities(inside.stdout).values()) == {"0000000000000000"}


def test_a_symlinked_mount_point_holds_the_object_it_led_to(tree):
    """The mount lands on the directory the link named when its line ran; replacing the link
    while the command runs moves nothing."""
    tree.make({"a/in-a": "", "t/in-t": "", "other/in-other": ""})
    os.symlink("t", tree / "link")
    tree.own()
    ns = tree.ns("bind $T/a $T/link\n")
    script = 'ls "$T/t"; echo READY; read x; ls "$T/t"; echo --; ls "$T/other"; echo --; ls "$T/link"'
    run = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", script], stdin=subprocess.PIPE)
    assert run.stdout.readline() == "in-a\n"
    assert run.stdout.readline() == "READY\n"
    os.symlink("other", tree / "link.new")
    os.rename(tree / "link.new", tree / "link")
    out, err = run.communicate("\n", timeout=HANG)
    assert run.returncode == 0, err
    assert out == "in-a\n--\nin-other\n--\nin-other\n"
    assert sorted(os.listdir(tree / "t")) == ["in-t"]


def test_a_symlink_swapped_while_newns_starts_lands_the_mount_on_one_object(tree):
    """Another process flips a symlinked mount point between two directories while newns runs:
    each run mounts onto exactly one of them, and neither changes outside."""
    tree.make({"a/in-a": "", "d1/in-d1": "", "d2/in-d2": ""})
    os.symlink("d1", tree / "link")
    tree.own()
    ns = tree.ns("bind $T/a $T/link\n")
    stop = threading.Event()

    def flip():
        n = 0
        while not stop.is_set():
            n += 1
            tmp = tree / f"link.{n % 2}"
            os.symlink(f"d{n % 2 + 1}", tmp)
            os.rename(tmp, tree / "link")

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        seen = []
        for _ in range(20):
            result = tree.newns("-f", str(ns), "sh", "-c", 'ls "$T/d1"; echo --; ls "$T/d2"', timeout=HANG)
            assert result.returncode == 0, result.stderr
            seen.append(result.stdout)
    finally:
        stop.set()
        flipper.join()
    assert set(seen) <= {"in-a\n--\nin-d2\n", "in-d1\n--\nin-a\n"}, seen
    assert os.listdir(tree / "d1") == ["in-d1"] and os.listdir(tree / "d2") == ["in-d2"]


SECRET = "TOPSECRET-7f3a"


@needs_root("to make a directory the test user can't reach")
@pytest.mark.parametrize(
    "line, refused",
    [
        ("bind $P/sub $T/u", "Permission denied"),
        ("bind $P/key $T/kf", "Permission denied"),
        ("bind -a $P/sub $T/u", "Permission denied"),
        ("cd $P", ""),
        ("bind $P $T/u", None),
        ("bind -a $P $T/u", None),
        ("bind -bc $P $T/u", None),
        ("mount -bc '#tmpfs' $P", None),
        ("bind /root $T/u", None),
        ("bind -b /root $T/u", None),
    ],
)
def test_rootless_a_file_reaches_nothing_the_user_could_not(user_tree, line, refused):
    """A root-only 0700 directory: a line naming something inside it is refused at the line
    (with this message); one that mounts the directory itself may run (refused None), and
    nothing in it can be read."""
    tree = user_tree
    tree.make({"u/": "", "kf": ""})
    ns = tree.ns(line + "\n")
    private = tree / "private"  # made after the tree was given to the user: root's
    (private / "sub").mkdir(parents=True)
    (private / "key").write_text(SECRET)
    (private / "sub" / "key").write_text(SECRET)
    private.chmod(0o700)
    script = 'cat "$T/u/key" "$T/u/sub/key" "$T/kf" "$P/key" "$P/sub/key"; ls -A "$T/u" "$P"; ls -A /root'
    result = tree.newns("-f", str(ns), "sh", "-c", script, env={"P": str(private)})
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if refused is not None:
        assert result.returncode == 125, result
        assert result.stderr.startswith(f"newns: {ns}:1:"), result.stderr
        assert refused in result.stderr.splitlines()[0]
    else:
        assert result.returncode in (1, 2, 125), result
        if result.returncode == 125:
            assert result.stderr.startswith(f"newns: {ns}:1:"), result.stderr
        else:
            assert "Permission denied" in result.stderr
            listed = result.stdout.split()
            assert "key" not in listed and "sub" not in listed, result.stdout


# -- kernel refusals -----------------------------------------------------------------------

IN_USERNS = r"""
import ctypes, os, sys
# Run argv[3:] as uid argv[1], gid argv[2] in a new user namespace that maps every id to itself
# and allows no further user namespace: what `sysctl user.max_user_namespaces=0` does on a host.
libc = ctypes.CDLL(None, use_errno=True)
uid, gid, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(go_w); os.close(ready_r)
    if libc.unshare(0x10000000) != 0:
        os._exit(98)
    os.write(ready_w, b"u"); os.close(ready_w)
    os.read(go_r, 1)
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    os.setgroups([]); os.setgid(gid); os.setuid(uid)
    os.execvp(argv[0], argv)
os.close(go_r); os.close(ready_w)
if os.read(ready_r, 1) != b"u":
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
for name in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{name}", "w") as f:
        f.write("0 0 4294967295")
os.write(go_w, b"g")
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@needs_root("to make a user namespace whose limit is 0")
def test_user_namespaces_disabled_by_sysctl(user_tree):
    tree = user_tree
    tree.make({"a/in-a": "", "t/": ""})
    ns = tree.ns("bind $T/a $T/t\n")
    command = [NEWNS, "-f", str(ns), "ls", str(tree / "t")]
    env = tree_env(tree)
    user = subprocess.run(
        [sys.executable, "-c", IN_USERNS, str(tree.caller.uid), str(tree.caller.gid), *command],
        cwd=tree.base, env=env, capture_output=True, text=True, timeout=HANG,
    )
    one_line_failure(user, "can't make a user namespace", "max_user_namespaces", "sysctl -w user.max_user_namespaces=")
    # root there needs no user namespace of its own: the same limit doesn't stop it
    root = subprocess.run(
        [sys.executable, "-c", IN_USERNS, "0", "0", *command],
        cwd=tree.base, env=env, capture_output=True, text=True, timeout=HANG,
    )
    assert (root.returncode, root.stdout) == (0, "in-a\n"), root.stderr


SECCOMP = r"""
import ctypes, os, platform, struct, sys
# Run argv[3:] as uid argv[1], gid argv[2] under a seccomp filter that fails unshare(2) with
# EPERM, as Docker's default profile does.
arch, nr = {"x86_64": (0xC000003E, 272), "aarch64": (0xC00000B7, 97)}[platform.machine()]
uid, gid, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)
program = b"".join([
    insn(0x20, 0, 0, 4),            # A = arch
    insn(0x15, 0, 3, arch),         # if A != arch: allow
    insn(0x20, 0, 0, 0),            # A = syscall number
    insn(0x15, 0, 1, nr),           # if A != unshare: allow
    insn(0x06, 0, 0, 0x00050000 | 1),  # return ERRNO(EPERM)
    insn(0x06, 0, 0, 0x7FFF0000),   # return ALLOW
])
buf = ctypes.create_string_buffer(program)
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Prog(len(program) // 8, ctypes.addressof(buf))
os.setgroups([]); os.setgid(gid); os.setuid(uid)
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:
    sys.exit(97)
os.execvp(argv[0], argv)
"""


@needs_root("to run as the test user under a filter")
@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="the filter knows x86_64 and aarch64")
def test_a_seccomp_filter_blocking_unshare(user_tree):
    tree = user_tree
    tree.make({"a/": "", "t/": ""})
    ns = tree.ns("bind $T/a $T/t\n")
    result = subprocess.run(
        [sys.executable, "-c", SECCOMP, str(tree.caller.uid), str(tree.caller.gid), NEWNS, "-f", str(ns), "echo", "ran"],
        cwd=tree.base, env=tree_env(tree), capture_output=True, text=True, timeout=HANG,
    )
    if result.returncode == 97:
        pytest.skip("can't install a seccomp filter here")
    one_line_failure(result, "can't make a user namespace (Operation not permitted)", "seccomp")


def test_enospc_in_a_tmpfs_that_takes_creations(tree):
    """A 64k tmpfs over a real directory: writing more fails inside, with the kernel's
    error, and the command's own status comes out; the directory is untouched."""
    tree.make({"d/small": "s"})
    (tree / "d" / "lower").write_bytes(os.urandom(200_000))
    tree.own()
    before = snapshot(tree / "d")
    ns = tree.ns("mount -bc '#tmpfs' $T/d 'size=64k'\n")
    result = tree.newns("-f", str(ns), "sh", "-c", 'head -c 1M /dev/zero > "$T/d/big" || exit 42')
    assert result.returncode == 42, result.stderr
    assert "No space left on device" in result.stderr
    # changing a file of the directory copies it up first: 200k does not fit either
    result = tree.newns("-f", str(ns), "sh", "-c", 'echo more >> "$T/d/lower" || exit 43')
    assert result.returncode == 43, result.stderr
    assert "No space left on device" in result.stderr
    result = tree.newns("-f", str(ns), "sh", "-c", 'echo more >> "$T/d/small" && cat "$T/d/small"')
    assert (result.returncode, result.stdout) == (0, "smore\n"), result.stderr
    assert snapshot(tree / "d") == before
