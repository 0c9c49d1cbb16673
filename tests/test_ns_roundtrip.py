"""--ns reads back: the file newns --ns prints of a namespace, replayed by newns, builds the
same mount table; run for real as root and rootless, and in-process on made-up tables.

A namespace is dumped from outside (newns --ns PID) and, where the namespace
holds the installed newns, from inside (newns --ns): both print the lines that
build it from the namespace it was built from (the caller's), the same lines,
which the caller replays. Two mount tables are the same when they have the same
mounts, each compared by the mount points it is on from the root (which keeps
which mount hides which), its type, whether it is read-only, and what it
shows: for a filesystem the caller has mounted, its device and root; for a new
one, its root, source and options.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import (
    HANG, NEWNS, OTHERS_MOUNTS, mount_table, needs_root, shipped_env, small_root, spawn, tun_open_to_all, unprivileged,
)

from newns.modes import UNREAD_HOST_NAME
from newns.nsdump import namespace_lines

NAMESPACES = Path(__file__).parent.parent / "namespaces"
SH = "/bin/sh"
SHOW = "while IFS= read -r line; do printf '%s\\n' \"$line\"; done < /proc/self/mountinfo"
"""The mount table, printed by the shell alone (a small root has nothing else)."""
LAYERS = ("lowerdir=", "lowerdir+=", "upperdir=", "workdir=")
"""An overlay's layers, as descriptors of the newns that mounted it: no two runs name them alike."""
SYSTEM = "".join(
    f"bind -r #old{os.path.realpath('/' + name)} /{name}\n"
    for name in ("usr", "bin", "lib", "lib64")
    if os.path.isdir("/" + name)
)
"""What /bin/sh needs in a cleared namespace on this machine."""
BEYOND_MOUNTS = ("clear net", "clear ipc", "hostname ", "user ")
"""The lines of a dump that give the command namespaces beyond mounts, before the mounts'."""


# -- comparing mount tables ------------------------------------------------------------


def rows(mountinfo: str, known: set[str]) -> list[tuple[object, ...]]:
    """A mount table, comparable: one row a mount, sorted; known: the caller's devices."""
    mounts = {}
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if fields[4].startswith(OTHERS_MOUNTS):
            continue  # other programs' (ip netns's): the caller's table leaves them out too
        tail = fields.index("-", 6)
        mounts[fields[0]] = fields[:6] + fields[tail + 1 : tail + 4]
    found = []
    for ident, (_, _, device, root, point, options, fstype, source, superblock) in mounts.items():
        place, above = [], ident
        while above in mounts:
            place.insert(0, mounts[above][4])
            above = mounts[above][1]
        if device in known:
            shows: tuple[str, ...] = (device, root)
        else:
            shows = ("new", root, source, ",".join(o for o in superblock.split(",") if not o.startswith(LAYERS)))
        found.append((tuple(place), fstype, "ro" in options.split(",")) + shows)
    return sorted(found)


def devices(lines: list[str]) -> set[str]:
    return {line.split(" ")[2] for line in lines}


# -- running, dumping and replaying ------------------------------------------------------


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def in_its_namespace(pid: int) -> int:
    """The shell that pid (newns) runs, in a mount namespace other than this one."""
    mine = os.stat("/proc/self/ns/mnt").st_ino
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        for candidate in [pid, *descendants(pid)]:
            try:
                elsewhere = os.stat(f"/proc/{candidate}/ns/mnt").st_ino != mine
                if elsewhere and Path(f"/proc/{candidate}/comm").read_text() == "sh\n":
                    return candidate
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no shell of {pid} in a namespace of its own")


@contextmanager
def running(tree, args: list[str], env: dict[str, str] | None, cwd: Path | None):
    """A shell in the namespace newns builds with args (started in cwd), waiting: its PID."""
    start = ["env", "-C", str(cwd)] if cwd is not None else []
    shell = spawn(tree, [*start, NEWNS, *args, "--", SH, "-c", "echo ready; read line"], env, stdin=subprocess.PIPE)
    try:
        assert shell.stdout.readline() == "ready\n", shell.stderr.read()
        yield in_its_namespace(shell.pid)
    finally:
        shell.stdin.close()
        try:
            shell.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell.wait()


def replayed(tree, lines: str) -> str:
    """The mount table the lines build, after --check found nothing but warnings in them."""
    dump = tree.ns(lines, "dump.ns")
    checked = tree.newns("--check", "-f", str(dump))
    assert checked.returncode == 0, (lines, checked.stdout, checked.stderr)
    assert all(": warning: " in line for line in checked.stdout.splitlines()), checked.stdout
    replay = tree.newns("-f", str(dump), SH, "-c", SHOW)
    assert replay.returncode == 0, (lines, replay.stderr)
    return replay.stdout


def reads_back(tree, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> list[str]:
    """Dump the namespace newns builds with args from outside (newns --ns PID), replay the
    dump and compare the mount tables; the dump's lines."""
    with running(tree, args, env, cwd) as pid:
        original = Path(f"/proc/{pid}/mountinfo").read_text()
        dump = tree.newns("--ns", str(pid))
    assert dump.returncode == 0, dump.stderr
    assert plan9s_form(dump.stdout.splitlines()), dump.stdout
    known = devices(mount_table())
    assert rows(replayed(tree, dump.stdout), known) == rows(original, known), dump.stdout
    return dump.stdout.splitlines()


def plan9s_form(lines: list[str]) -> bool:
    """Whether a dump says clear and #old only when its root is not the caller's (after the
    lines of the namespaces beyond mounts)."""
    if "clear" not in lines:
        return not any("#old" in line for line in lines)
    mounts = [line for line in lines if not line.startswith(BEYOND_MOUNTS)]
    return mounts[0] == "clear" and mounts[1] != "bind '#old/' /"


def dumped(tree, text: str, **kwargs) -> list[str]:
    """reads_back for the namespace of a file of this text."""
    return reads_back(tree, ["-f", str(tree.ns(text))], **kwargs)


# -- the host's namespace ------------------------------------------------------------------


def test_the_initial_namespace_is_built_from_nothing_but_itself(tree):
    if Path("/proc/1/mountinfo").read_text() != "\n".join(mount_table()) + "\n":
        pytest.skip("the tests run outside the initial mount namespace")
    dump = tree.newns("--ns", "self")
    assert dump.returncode == 0, dump.stderr
    assert dump.stdout.splitlines() == [f"cd {tree.base}"]


# -- every shipped file --------------------------------------------------------------------

PLACE = [
    "checkout/README", "gos/go1.22.5/bin/go", "gos/go1.2/bin/go", "gos/current/", "pyenv/versions/3.9.18/bin/python3",
    "pyenv/versions/current/", "nvm/versions/node/v20.11.1/bin/node", "nvm/versions/node/current/",
    "home/.ssh/id_rsa", "home/.aws/credentials", "home/.netrc", "account/.gnupg/key", "account/.docker/",
]


def clears(path: Path) -> bool:
    """Whether a namespace file or one it includes clears the namespace (what it builds holds no
    newns then) or the environment (which the dump from inside needs)."""
    lines = path.read_text().splitlines()
    return any(line == "clear" or line.startswith("clear env") for line in lines) or any(
        clears(path.parent / line[2:]) for line in lines if line.startswith(". ")
    )


@pytest.mark.parametrize("name", sorted(set(os.listdir(NAMESPACES)) - {"sandbox.checkout"}))  # needs sandbox.system first
def test_every_shipped_namespace_reads_back(place, name):
    if name == "go-debian" and not (os.path.isdir("/usr/lib/go-1.19") and os.path.exists("/usr/lib/go")):
        pytest.skip("Debian's golang-1.19-go and golang-go are not installed")
    place.make({path: "" for path in PLACE})
    small_root(place, "root")
    checkout = place / "checkout"
    if "FETCH" in shipped_env(name, place) and os.geteuid() != 0 and not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        pytest.skip("pasta needs /dev/net/tun, which is not open to this user")
    env = {**shipped_env(name, place), "PWD": str(checkout)}
    nsfile = str(NAMESPACES / name)
    with tun_open_to_all() if os.geteuid() == 0 else contextlib.nullcontext():
        reads_back(place, ["-f", nsfile], env, checkout)
    if clears(NAMESPACES / name):
        return  # the installed newns, or what the dump needs, is out of the namespace's reach
    script = f'{NEWNS} --ns > "$T/inside.ns" && {NEWNS} --ns $$ > "$T/outside.ns" && {SH} -c "$SHOW"'
    inside = place.caller.run(
        [NEWNS, "-f", nsfile, SH, "-c", script], cwd=checkout, env={**env, "T": str(place.base), "SHOW": SHOW}
    )
    assert inside.returncode == 0, inside.stderr
    dump = (place / "inside.ns").read_text()
    assert dump == (place / "outside.ns").read_text()
    known = devices(mount_table())
    assert rows(replayed(place, dump), known) == rows(inside.stdout, known), dump


# -- what a dump keeps -----------------------------------------------------------------------


def test_tmpfs_options_are_kept(tree):
    tree.make({"a/": "", "b/": ""})
    lines = dumped(tree, "mount '#tmpfs' $T/a size=1m,mode=0711\nmount -r '#tmpfs' $T/b nr_inodes=64\n")
    mine = [line for line in lines if str(tree.base) in line and not line.startswith("cd ")]
    owner = f",uid={tree.caller.uid},gid={tree.caller.gid}" if tree.caller.rootless else ""
    assert mine == [
        f"mount -c '#tmpfs' {tree / 'a'} size=1024k,mode=711{owner}",
        f"mount -r '#tmpfs' {tree / 'b'} nr_inodes=64{owner}",
    ]
    again = tree.ns("\n".join(lines) + "\n", "again.ns")
    seen = tree.newns("-f", str(again), "stat", "-c", "%a", str(tree / "a"))
    assert seen.stdout == "711\n", seen.stderr


def test_a_cleared_namespace_reads_back(tree):
    tree.make({"a/sub/": "", "a/in-a": "A", "b/in-b": "B"})
    lines = dumped(
        tree,
        f"clear\n{SYSTEM}bind -r #old$T/a /data\nbind #old$T/b /data/sub\nmount '#tmpfs' /tmp size=2m\n"
        "bind /tmp /scratch\nmount '#proc' /proc\ncd /data\n",
    )
    assert lines[0] == "clear" and lines[1].startswith("mount -c '#tmpfs' / mode=755")
    assert f"bind -r '#old{tree / 'a'}' /data" in lines and f"bind '#old{tree / 'b'}' /data/sub" in lines
    assert "bind /tmp /scratch" in lines and "mount '#proc' /proc" in lines
    assert lines[-1] == "cd /data"


def test_a_union_reads_back(tree):
    tree.make({"b/in-b": "", "t/in-t": "", "x/in-x": ""})
    lines = dumped(tree, "bind -a $T/b $T/t\nbind -b $T/x $T/t\n")
    assert [line for line in lines if line.endswith(f" {tree / 't'}")] == [
        f"bind -a {tree / 'b'} {tree / 't'}",
        f"bind -b {tree / 'x'} {tree / 't'}",
    ]


def test_inside_and_outside_print_plan9s_lines_from_the_callers_namespace(tree):
    """No clear, no #old: the binds, mounts and unions the file made, as Plan 9's ns prints them."""
    tree.make({"a/in-a": "", "b/": "", "m/": "", "t/in-t": "", "x/in-x": ""})
    ns = tree.ns("bind $T/a $T/b\nmount -c '#tmpfs' $T/m size=1m\nbind -a $T/x $T/t\n")
    owner = f",uid={tree.caller.uid},gid={tree.caller.gid}" if tree.caller.rootless else ""
    expected = [
        f"bind {tree / 'a'} {tree / 'b'}",
        f"mount -c '#tmpfs' {tree / 'm'} size=1024k{owner}",
        f"bind -a {tree / 'x'} {tree / 't'}",
        f"cd {tree.base}",
    ]
    inside = tree.newns("-f", str(ns), SH, "-c", f"{NEWNS} --ns; echo --; {NEWNS} --ns $$")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.split("--\n") == ["\n".join(expected) + "\n"] * 2
    assert reads_back(tree, ["-f", str(ns)]) == expected


def test_a_namespace_with_its_own_proc_reads_back(tree):
    tree.make({"a/in-a": "", "b/": ""})
    lines = dumped(tree, "mount '#proc' /proc\nbind $T/a $T/b\n")
    assert lines[:2] == ["mount '#proc' /proc", f"bind {tree / 'a'} {tree / 'b'}"]


def test_inside_a_namespace_with_its_own_proc_ns_prints_what_outside_does(tree):
    """There the command sees no process of the caller's namespace: newns's init, its PID 1,
    keeps the caller's namespace within reach of --ns."""
    tree.make({"a/in-a": "", "b/": "", "m/": "", "t/in-t": "", "x/in-x": ""})
    ns = tree.ns("mount '#proc' /proc\nbind $T/a $T/b\nmount -c '#tmpfs' $T/m size=1m\nbind -a $T/x $T/t\n")
    script = f'{NEWNS} --ns > "$T/inside.ns" && {SH} -c "$SHOW" > "$T/table" && echo ready; read line'
    shell = spawn(tree, [NEWNS, "-f", str(ns), SH, "-c", script], {"SHOW": SHOW}, stdin=subprocess.PIPE)
    try:
        assert shell.stdout.readline() == "ready\n", shell.stderr.read()
        outside = tree.newns("--ns", str(in_its_namespace(shell.pid)))
    finally:
        shell.stdin.close()
        shell.wait(timeout=HANG)
    assert outside.returncode == 0, outside.stderr
    inside = (tree / "inside.ns").read_text()
    assert inside == outside.stdout
    assert f"bind {tree / 'a'} {tree / 'b'}" in inside.splitlines() and "mount '#proc' /proc" in inside.splitlines()
    known = devices(mount_table())
    assert rows(replayed(tree, inside), known) == rows((tree / "table").read_text(), known), inside


@needs_root("a namespace of root's that runs its command as another user")
def test_a_host_name_in_a_namespace_the_caller_may_not_join_is_said_to_be_unread(root_tree):
    """The command runs as the user, who may read its namespaces but not join root's UTS
    namespace: the dump says there is a host name it can't read, and gives no other."""
    user = unprivileged()
    with running(root_tree, ["-f", str(root_tree.ns(f"hostname box\nuser {user.uid} {user.gid}\n"))], None, None) as pid:
        told = user.newns("--ns", str(pid), cwd=root_tree.base)
        by_root = root_tree.newns("--ns", str(pid))
    assert told.returncode == 0, told.stderr
    assert UNREAD_HOST_NAME in told.stdout.splitlines() and "hostname box" not in told.stdout.splitlines()
    assert by_root.stdout.splitlines()[:2] == ["hostname box", f"user {user.uid} {user.gid}"], by_root.stderr


def test_outside_a_namespace_with_a_user_line_and_its_own_proc_reads_back(tree):
    """Rootless, the command goes on in a copy of the namespace its init built, in a user
    namespace of its own: the namespace it was built from is still the caller's."""
    tree.make({"a/in-a": "", "b/": ""})
    lines = dumped(tree, "mount '#proc' /proc\nuser 1000 1000\nbind $T/a $T/b\n")
    assert lines[:3] == ["user 1000 1000", "mount '#proc' /proc", f"bind {tree / 'a'} {tree / 'b'}"]


def test_inside_a_namespace_with_a_user_line_ns_prints_what_outside_does(tree):
    """The command sees the caller's processes (no /proc of its own), and reads the caller's
    namespace through them. Rootless, its user namespace maps the caller's ids to the
    line's; as root, dropped to the line's ids, it runs as a caller with those ids would,
    and may not read root's namespaces: it says nothing of what it can't tell."""
    tree.make({"a/in-a": "", "b/": ""})
    text = "bind $T/a $T/b\nuser 1000 1000\n"
    lines = dumped(tree, text)
    assert lines[:2] == ["user 1000 1000", f"bind {tree / 'a'} {tree / 'b'}"]
    inside = tree.newns("-f", str(tree.ns(text)), NEWNS, "--ns")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.splitlines() == (lines if tree.caller.rootless else lines[1:])


def test_inside_a_namespace_with_a_user_line_and_its_own_proc_ns_says_why_it_cant_tell(tree):
    """The namespace it was built from is kept by newns's init, PID 1 there, which the
    command may not read (nor act through); from outside, --ns tells."""
    tree.make({"a/in-a": "", "b/": ""})
    ns = tree.ns("mount '#proc' /proc\nbind $T/a $T/b\nuser 1000 1000\n")
    inside = tree.newns("-f", str(ns), NEWNS, "--ns")
    assert (inside.returncode, inside.stdout) == (125, ""), inside
    assert inside.stderr.startswith("newns: --ns: the namespace this one was built from is out of reach"), inside.stderr
    assert "newns --ns PID" in inside.stderr


def test_ns_names_a_posted_namespace(tree):
    tree.make({"a/in-a": "", "b/": ""})
    name = f"t{os.getpid()}-{time.monotonic_ns() % 10**9}"
    posted = tree.newns("--post", name, "-f", str(tree.ns("bind $T/a $T/b\n")))
    assert posted.returncode == 0, posted.stderr
    try:
        dump = tree.newns("--ns", name)
    finally:
        tree.newns("--unpost", name)
    assert dump.returncode == 0, dump.stderr
    assert f"bind {tree / 'a'} {tree / 'b'}" in dump.stdout.splitlines()
    gone = tree.newns("--ns", name)
    assert gone.returncode == 125 and f"newns: no namespace is posted as '{name}'" in gone.stderr


def test_a_network_ipc_and_host_name_of_its_own_read_back(tree):
    text = "clear net\nclear ipc\nhostname box\n"
    inside = tree.newns("-f", str(tree.ns(text)), SH, "-c", f"{NEWNS} --ns")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.splitlines()[:3] == ["clear net", "clear ipc", "hostname box"]
    lines = dumped(tree, text)
    assert lines[:3] == ["clear net", "clear ipc", "hostname box"]
    again = tree.newns("-f", str(tree.ns("\n".join(lines) + "\n", "again.ns")), "uname", "-n")
    assert again.stdout == "box\n", again.stderr


def test_outside_a_namespace_with_its_own_proc_its_network_ipc_and_host_name_read_back(tree):
    """Its init, the process the command's shell was started by, shares the command's network,
    IPC and UTS namespaces: they are still the command's own, not the caller's."""
    tree.make({"a/in-a": "", "b/": ""})
    text = "mount '#proc' /proc\nclear net\nclear ipc\nhostname box\nbind $T/a $T/b\n"
    lines = dumped(tree, text)
    assert lines[:3] == ["clear net", "clear ipc", "hostname box"]
    inside = tree.newns("-f", str(tree.ns(text)), SH, "-c", f"{NEWNS} --ns")
    assert inside.returncode == 0, inside.stderr
    told = inside.stdout.splitlines()
    if tree.caller.rootless:  # the command has no privilege in its network namespace to read its rules
        told = [line for line in told if not line.startswith("# net: ")]
    assert told == lines


def test_a_union_after_clear_names_its_members_as_the_replay_finds_them(tree):
    """Its members are a path of the new namespace (the replay has rebuilt it before the
    union), a directory of #old and a tmpfs."""
    tree.make({"a/in-a": "", "u/in-u": ""})
    text = (
        f"clear\n{SYSTEM}mount '#proc' /proc\n"
        "bind #old$T/a /a\nbind #old$T/u /u\nbind -a /a /u\nmount -bc '#tmpfs' /u\n"
    )
    lines = dumped(tree, text)
    assert lines[-4:-1] == ["mount -c '#tmpfs' /u", f"bind -a '#old{tree / 'u'}' /u", "bind -a /a /u"]
    again = tree.ns("\n".join(lines) + "\n", "again.ns")
    listed = tree.newns("-f", str(again), SH, "-c", "echo /u/*")
    assert listed.stdout == "/u/in-a /u/in-u\n", listed.stderr


def test_names_that_need_quoting_read_back(tree):
    name = "odd\nmount '#tmpfs' /etc\t$x"
    tree.make({"a/in-a": "", f"{name}/": ""})
    lines = dumped(tree, "bind $T/a $T/$V\n", env={"V": name})
    assert "mount '#tmpfs' /etc" not in lines


@needs_root("in a user namespace, the mounts of the caller are locked: no unmount")
def test_a_mount_the_process_lacks_is_unmounted_after_the_bind_that_brings_it(root_tree):
    if "/sys" not in [line.split(" ")[4] for line in mount_table()]:
        pytest.skip("/sys is not a mount point here")
    lines = dumped(root_tree, "unmount /sys\n")
    assert lines == ["unmount -q /sys", f"cd {root_tree.base}"]


# -- in-process: what a dump says of a made-up table -----------------------------------------

HOST = """\
20 1 8:1 / / rw - ext4 /dev/sda1 rw
21 20 0:5 / /dev rw - devtmpfs udev rw,size=100k,mode=755
22 21 0:6 / /dev/shm rw - tmpfs tmpfs rw
23 22 0:7 / /dev/shm rw - tmpfs tmpfs rw,size=8k
24 20 0:8 / /sys rw - sysfs sysfs rw
"""


def test_kernel_filesystems_keep_the_options_a_file_gives_back():
    table = (
        "1 0 0:40 / / rw - tmpfs none rw,mode=755\n"
        "2 1 0:41 / /cpu rw - cgroup cgroup rw,cpu,cpuacct\n"
        "3 1 0:42 / /named rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd\n"
        "4 1 0:43 / /pts rw - devpts devpts rw,mode=620,ptmxmode=666\n"
        "5 1 0:44 / /proc rw,nosuid - proc proc rw,hidepid=invisible,subset=pid\n"
        "6 1 0:45 / /t ro - tmpfs none rw,size=64k,nr_inodes=9,mode=1700,inode64\n"
        "7 1 0:46 / /c2 rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
        "8 1 8:2 / /disk rw - ext4 /dev/sdb rw,errors=remount-ro\n"
    )
    assert namespace_lines(table, "/t", HOST) == [
        "clear",
        "mount -c '#tmpfs' / mode=755",
        "mount '#cgroup' /cpu cpu,cpuacct",
        "mount '#cgroup' /named xattr,name=systemd",
        "mount '#devpts' /pts mode=620,ptmxmode=666",
        "mount '#proc' /proc hidepid=invisible,subset=pid",
        "mount -r '#tmpfs' /t size=64k,nr_inodes=9,mode=1700,inode64",
        "mount '#cgroup2' /c2 nsdelegate,memory_recursiveprot",
        "# /disk: ext4 /dev/sdb, its /",
        "cd /t",
    ]


def test_a_filesystem_the_caller_has_is_bound_from_where_it_shows():
    """From the mount that shows it, not from one hidden under another; what comes with a
    bind needs no line, and what comes with it that the process lacks is unmounted."""
    table = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 0:5 / /dev rw - devtmpfs udev rw,size=100k,mode=755\n"
        "3 2 0:6 / /dev/shm rw - tmpfs tmpfs rw\n"
        "4 3 0:7 / /dev/shm rw - tmpfs tmpfs rw,size=8k\n"
        "5 1 0:6 / /hidden rw - tmpfs tmpfs rw\n"
        "6 1 8:1 /home /mnt ro - ext4 /dev/sda1 rw\n"
    )
    assert namespace_lines(table, None, HOST) == ["unmount -q /sys", "mount -c '#tmpfs' /hidden", "bind -r /home /mnt"]


def test_a_root_union_after_clear_is_the_rebuilt_root_and_its_members():
    table = (
        "1 0 0:50 / / rw - overlay newns:+clear\\040-#old/r rw,lowerdir+=/proc/self/fd/3,upperdir=/u,workdir=/w\n"
        "2 1 8:1 / /mnt/term rw - ext4 /dev/sda1 rw\n"
        "3 2 0:5 / /mnt/term/dev rw - devtmpfs udev rw,size=100k,mode=755\n"
        "4 3 0:6 / /mnt/term/dev/shm rw - tmpfs tmpfs rw\n"
        "5 4 0:7 / /mnt/term/dev/shm rw - tmpfs tmpfs rw,size=8k\n"
        "6 2 0:8 / /mnt/term/sys rw - sysfs sysfs rw\n"
        "7 1 0:9 / /dev rw - tmpfs none rw,size=64k,mode=755\n"
        "8 7 0:5 /null /dev/null rw - devtmpfs udev rw,size=100k,mode=755\n"
        "9 7 0:10 / /dev/pts rw - devpts none rw,mode=620,ptmxmode=666\n"
        "10 7 0:11 / /dev/shm rw - tmpfs none rw\n"
    )
    assert namespace_lines(table, "/", HOST) == [
        "clear", "bind -a '#old/r' /", "bind '#old/' /mnt/term", "mount '#dev' /dev", "cd /",
    ]
