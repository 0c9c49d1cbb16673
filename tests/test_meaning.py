"""Plan 9's meaning, run for real: a line onto /, rebinding what has mounts inside,
unmount, -q lines the kernel refuses, and --check agreeing with a run."""
import os
import subprocess
from pathlib import Path

import pytest
from helpers import NEWNS, needs_root, scratch, small_root, unprivileged

LS = "/usr/bin/ls"
NAMESPACES = Path(__file__).parent.parent / "namespaces"


def check_and_run(tree, text: str, *command: str):
    """--check of the file, then a run of command in it."""
    ns = tree.ns(text)
    check = tree.newns("--check", "-f", str(ns))
    return check, tree.newns("-f", str(ns), *command)


# -- a line onto / -----------------------------------------------------------------------

SHOW = "echo /*; read line < /doc/paper; echo $line"
"""What the command sees, with dash's builtins only: the root's names, and /doc/paper."""


def test_bind_onto_the_root_makes_it_the_root(tree):
    small_root(tree, "web")
    tree.make({"web/doc/": "", "doc/paper": "PAPER", "web/index": ""})
    check, run = check_and_run(tree, "bind $T/doc $T/web/doc\nbind $T/web /\n", "/bin/sh", "-c", SHOW)
    assert (check.returncode, check.stdout) == (0, "")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["/bin /dev /doc /etc /index /lib /lib64 /mnt /proc /tmp", "PAPER"]


@pytest.fixture
def shm_tree(caller):
    """A tree on a filesystem of its own (/dev/shm, a tmpfs): overlayfs takes no member that
    contains another, so a union on / takes its members from other filesystems."""
    yield from scratch(caller, "/dev/shm")


def test_the_9front_ftp_pattern(shm_tree):
    """9front's lib/namespace.ftp: a union on /, binds inside it, then / replaced by a tree in it
    (mount -a #s/boot /; bind /sys/doc /usr/web/plan9/doc; bind -c /usr/none/incoming
    /usr/web/incoming/none; bind /usr/web /). The union is replaced: it never reaches the
    kernel, so a member with mounts under it (the old root, locked in a user namespace) is
    no obstacle."""
    tree = shm_tree
    small_root(tree, "boot/srv/web")
    tree.make({"boot/srv/web/plan9/doc/": "", "boot/srv/web/incoming/none/": "", "doc/paper": "PAPER", "incoming/": ""})
    check, run = check_and_run(
        tree,
        "bind -a $T/boot /\n"
        "bind $T/doc /srv/web/plan9/doc\n"
        "bind -c $T/incoming /srv/web/incoming/none\n"
        "bind /srv/web /\n",
        "/bin/sh", "-c", "echo /*; read line < /plan9/doc/paper; echo $line; echo up > /incoming/none/f",
    )
    assert (check.returncode, check.stdout) == (0, "")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1:] == ["PAPER"]
    assert run.stdout.split()[:-1] == ["/bin", "/dev", "/etc", "/incoming", "/lib", "/lib64", "/mnt", "/plan9", "/proc", "/tmp"]
    assert (tree / "incoming/f").read_text() == "up\n"


def test_a_union_onto_the_root_keeps_the_old_root_and_what_is_mounted_in_it(shm_tree):
    tree = shm_tree
    tree.make({"extra/only-in-extra": ""})
    check, run = check_and_run(
        tree, "bind -a $T/extra /\n", "/usr/bin/sh", "-c", f"{LS} -d /only-in-extra /usr/bin/sh && /usr/bin/cat /proc/self/comm"
    )
    if tree.caller.rootless:
        assert check.returncode == 125 and "mounts under it" in check.stdout, check.stdout
        assert run.returncode == 125 and "mounts under it" in run.stderr, run.stderr
        return
    assert (check.returncode, check.stdout) == (0, "")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["/only-in-extra", "/usr/bin/sh", "cat"]


def test_a_union_onto_the_root_of_the_same_filesystem_is_refused_with_the_reason(tree):
    tree.make({"extra/": ""})
    check, run = check_and_run(tree, "bind -a $T/extra /\n", "true")
    assert check.returncode == 125 and ":1:1: the union on /:" in check.stdout, check.stdout
    assert run.returncode == 125


# -- rebinding a target with mounts inside it ----------------------------------------


def test_rebinding_a_target_shows_the_new_one_and_its_own_insides(tree):
    tree.make({"b/sub/from-b": "", "a/from-a": "", "c/sub/from-c": "", "t/": ""})
    check, run = check_and_run(tree, "bind $T/b $T/t\nbind $T/a $T/t/sub\nbind $T/c $T/t\n", LS, str(tree / "t/sub"))
    assert (check.returncode, check.stdout.count("warning")) == (0, 1), check.stdout
    assert (run.returncode, run.stdout) == (0, "from-c\n"), run.stderr


def test_a_member_added_to_a_union_keeps_what_was_mounted_inside(tree):
    tree.make({"b/sub/from-b": "", "a/from-a": "", "c/more": "", "t/": ""})
    check, run = check_and_run(
        tree, "bind $T/b $T/t\nbind $T/a $T/t/sub\nbind -a $T/c $T/t\n", "/usr/bin/sh", "-c", f"{LS} $T/t $T/t/sub"
    )
    assert (check.returncode, check.stdout) == (0, "")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [f"{tree / 't'}:", "more", "sub", f"{tree / 't/sub'}:", "from-a"]


# -- unmount -----------------------------------------------------------------------------


@needs_root("stacks mounts in a namespace of its own, as the caller")
def test_unmount_removes_every_mount_stacked_on_the_path(tree):
    tree.make({"d/original": ""})
    ns = tree.ns("unmount $T/d\n")
    stack = f"mount -t tmpfs one {tree / 'd'} && mount -t tmpfs two {tree / 'd'} && touch {tree / 'd/top'}"
    script = f"{stack} && {NEWNS} --check -f {ns} && {NEWNS} -f {ns} {LS} {tree / 'd'}"
    run = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, env={"T": str(tree.base), "PATH": "/usr/bin:/bin"}, timeout=60,
    )
    assert (run.returncode, run.stdout) == (0, "original\n"), run.stderr


def test_unmount_where_nothing_is_mounted_is_reported_by_check(tree):
    tree.make({"d/": ""})
    check, run = check_and_run(tree, "unmount $T/d\n", "true")
    assert check.returncode == 125
    assert check.stdout.endswith(f":1:9: unmount: nothing is mounted on {tree / 'd'}\n"), check.stdout
    assert run.returncode == 125 and "nothing is mounted" in run.stderr


def test_unmount_after_clear_is_reported_by_check(tree):
    check, run = check_and_run(tree, "clear\nunmount /proc\n", "true")
    assert check.stdout.endswith(":2:9: unmount: nothing is mounted on /proc\n"), check.stdout
    assert run.returncode == 125


def test_unmount_of_a_locked_mount_is_reported_by_check(user_tree):
    check, run = check_and_run(user_tree, "unmount /dev/shm\n", "true")
    assert check.returncode == 125 and ":1:1: unmount /dev/shm:" in check.stdout and "locked" in check.stdout
    assert run.returncode == 125 and "locked" in run.stderr


# -- -q lines the kernel refuses ---------------------------------------------------------


def test_a_quiet_line_the_kernel_refuses_leaves_the_rest_of_the_plan_valid(tree):
    tree.make({"a/from-a": "", "d/": ""})
    check, run = check_and_run(tree, "mount -q '#nosuchfs' $T/d\nbind $T/a $T/d\n", LS, str(tree / "d"))
    assert (check.returncode, check.stdout) == (0, "")
    assert (run.returncode, run.stdout, run.stderr) == (0, "from-a\n", "")
    debug = tree.newns("-d", "-f", str(tree / "test.ns"), "true")
    assert "note: skipped (-q): mount -q '#nosuchfs'" in debug.stderr


def test_a_quiet_line_the_kernel_refuses_in_a_pid_namespace(tree):
    tree.make({"a/from-a": "", "d/": "", "p/": ""})
    check, run = check_and_run(
        tree, "mount '#proc' $T/p\nmount -q '#tmpfs' $T/d nosuchoption\nbind $T/a $T/d\n", LS, str(tree / "d")
    )
    assert (check.returncode, check.stdout) == (0, "")
    assert (run.returncode, run.stdout) == (0, "from-a\n"), run.stderr


# -- --check finds what the kernel refuses, every one, at its line -------------------------


def test_check_reports_each_line_the_kernel_refuses(tree):
    tree.make({"a/": "", "b/": "", "c/": ""})
    check, run = check_and_run(
        tree, "mount '#tmpfss' $T/a\nmount '#tmpfs' $T/b size=lots\nmount '#tmpfs' $T/c nosuchopt\n", "true"
    )
    lines = check.stdout.splitlines()
    assert [line.split(":")[1:3] for line in lines] == [["1", "1"], ["2", "1"], ["3", "1"]], check.stdout
    assert "no filesystem type 'tmpfss'" in lines[0]
    assert run.returncode == 125 and ":1:1: mount '#tmpfss'" in run.stderr


@needs_root("a tree owned by root that the unprivileged caller can't change")
def test_check_finds_a_mount_point_the_caller_cannot_make(root_tree):
    """rerootwin on a tree of root's that lacks /mnt/term: its union takes creations in memory,
    but overlayfs in a user namespace can't make a directory the caller may not write."""
    root_tree.make({"root/usr/": "", "root/etc/": "", "root/proc/": "", "root/dev/": "", "root/tmp/": "", "root/mnt/": ""})
    (root_tree / "root").chmod(0o755)
    env = {"NSROOT": str(root_tree / "root")}
    rerootwin = str(NAMESPACES / "rerootwin")
    check = unprivileged().newns("--check", "-f", rerootwin, cwd=root_tree.base, env=env)
    run = unprivileged().newns("-f", rerootwin, "true", cwd=root_tree.base, env=env)
    assert run.returncode == 125, run.stderr
    line = run.stderr.split("\n")[0].removeprefix("newns: ")
    assert check.returncode == 125 and line in check.stdout.splitlines(), (check.stdout, line)


def test_the_example_in_the_readme_and_the_manual_is_what_newns_prints(tree):
    ns = tree.ns("# a CI step\ncd /\nbind -c $src /src # the checkout\n", "ci.ns")
    run = tree.newns("-f", ns.name, "true", env={"src": str(tree.base)})
    printed = run.stderr.splitlines()
    readme = (NAMESPACES.parent / "README.md").read_text().splitlines()
    manual = (NAMESPACES.parent / "docs/newns.1").read_text().replace("\\-", "-").splitlines()
    for text in (readme, manual):
        at = text.index(printed[0])
        assert text[at : at + 3] == printed


# -- what --check must never do, and the rebuilds it shares with a run (found in review) ----------


def test_check_writes_nothing_into_a_directory_that_takes_a_unions_creations(tree):
    tree.make({"up/": "", "t/": ""})
    ns = tree.ns("bind -bc $T/up $T/t\n")
    assert tree.newns("--check", "-f", str(ns)).returncode == 0
    assert os.listxattr(tree / "up") == [] and os.listdir(tree / "up") == []


@needs_root("only root mounts an overlay by its options")
def test_check_does_not_mount_what_it_can_not_throw_away(root_tree):
    root_tree.make({"ov/lower/": "", "ov/upper/": "", "ov/w/work/keep/data": "kept", "ov/x/": ""})
    d = root_tree / "ov"
    ns = root_tree.ns(f"mount '#overlay' {d}/x lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/w\n")
    assert root_tree.newns("--check", "-f", str(ns)).returncode == 0
    assert (d / "w/work/keep/data").read_text() == "kept"
    unknown = root_tree.newns("--check", "-f", str(root_tree.ns("mount '#nosuchfs' $T/ov/x\n", "unknown.ns")))
    assert unknown.returncode == 125 and "no filesystem type 'nosuchfs'" in unknown.stdout


def test_check_stops_after_a_hundred_refused_lines(tree):
    tree.make({"t/": ""})
    ns = tree.ns("mount '#nosuchfs' $T/t\n" * 300)
    result = tree.newns("--check", "-f", str(ns))
    lines = result.stdout.splitlines()
    assert result.returncode == 125 and len(lines) == 101, result.stdout[-300:]
    assert lines[-1] == f"{ns}:100:1: the kernel refused 100 lines: newns builds no further"


def test_a_q_line_whose_absence_needs_work_directories_is_a_problem_not_a_crash(tree):
    tree.make({"up/": "", "t/": ""})
    ns = tree.ns("bind -bc $T/up $T/t\nmount -q '#nosuchfs' $T/t\n")
    for args in (["--check", "-f", str(ns)], ["-f", str(ns), "true"]):
        result = tree.newns(*args)
        assert result.returncode == 125 and "internal error" not in result.stdout + result.stderr, result
        assert f"{ns}:2:1: refused, and left out (-q)" in result.stdout + result.stderr, result


def test_an_include_of_a_kernel_file_is_refused(tree):
    ns = tree.ns(". /proc/self/status\n")
    result = tree.newns("--check", "-f", str(ns))
    assert result.returncode == 125 and "a file of the kernel's" in result.stdout, result


def test_a_bind_onto_the_root_takes_its_source_before_the_root_changes(tree):
    system_dirs = [d for d in ("usr", "bin", "lib", "lib64") if os.path.isdir("/" + d)]
    tree.make({"rootdir/in-root": "", **{f"rootdir/{d}/": "" for d in system_dirs}})
    os.symlink(tree / "rootdir", tree / "abslink")
    system = "".join(f"bind -r '#old/{d}' /{d}\n" for d in system_dirs)
    ns = tree.ns(f"bind $T/abslink /\n{system}")
    result = tree.newns("-f", str(ns), "/bin/sh", "-c", "echo /in-*")
    assert (result.returncode, result.stdout) == (0, "/in-root\n"), result


@pytest.mark.parametrize("line, says", [
    ("mount '#tmpfs' $T/t size=0", "to the kernel a tmpfs limit of 0 is no limit at all"),
    ("mount '#tmpfs' $T/t size=0%", "to the kernel a tmpfs limit of 0 is no limit at all"),
    ("mount '#tmpfs' $T/t mode=0755,nr_inodes=0", "to the kernel a tmpfs limit of 0 is no limit at all"),
    ("mount '#dev' $T/t size=0k", "to the kernel a tmpfs limit of 0 is no limit at all"),
    ("mount '#tmpfs' $T/t size=99999999999999999999", "past the kernel's range"),
    ("mount '#tmpfs' $T/t size=16777216t", "past the kernel's range"),
], ids=["size=0", "size=0%", "nr_inodes=0", "#dev", "digits", "suffix"])
def test_a_tmpfs_limit_is_kept_or_refused_never_dropped(tree, line, says):
    """The kernel takes a limit of 0 as none, and wraps past its range; bubblewrap refuses both."""
    tree.make({"t/": ""})
    result = tree.newns("-f", str(tree.ns(line + "\n")), "true")
    assert result.returncode == 125 and says in result.stderr, result
    assert f"test.ns:1:{line.index(' ', line.index('$T')) + 2}:" in result.stderr


def test_a_tmpfs_limit_it_can_keep_is_kept(tree):
    tree.make({"t/": ""})
    result = tree.newns("-f", str(tree.ns("mount '#tmpfs' $T/t size=64k,nr_inodes=100\n")), "df", "-k", str(tree / "t"))
    assert result.returncode == 0 and result.stdout.splitlines()[1].split()[1] == "64", result


def test_a_union_member_taking_creations_that_the_caller_cant_write_is_refused_before_it_runs(user_tree):
    """--check used to pass it, and the command failed at its first write."""
    tree = user_tree
    tree.make({"ro/f": "", "t/": ""})
    (tree / "ro").chmod(0o555)
    ns = tree.ns("bind -bc $T/ro $T/t\n")
    for args in (["--check", "-f", str(ns)], ["-f", str(ns), "touch", str(tree / "t/new")]):
        result = tree.newns(*args)
        said = result.stdout + result.stderr  # --check reports on standard output
        assert result.returncode == 125, result
        assert "test.ns:1:10: bind -c: " in said and "you can't write there" in said, result


FTP = """\
bind -a $T/fileserver /
bind /srvdoc /web/plan9/doc
bind -c $T/none/incoming /web/incoming/none
bind /usr /web/usr
bind /lib /web/lib
bind -q /lib64 /web/lib64
bind /web /
"""
"""9front's lib/namespace.ftp, with a directory for its file server: a union on / with the
served tree, binds inside it, then the served tree itself becomes the root."""


def test_plan9s_namespace_ftp_pattern_runs(tree):
    """The union on / is replaced by a later line: it never reaches the kernel (which refuses a
    union whose members contain one another), and the binds made inside the served tree come
    along with it."""
    tree.make({
        "fileserver/web/index.html": "welcome\n", "fileserver/web/plan9/doc/": "", "fileserver/web/incoming/none/": "",
        "fileserver/web/usr/": "", "fileserver/web/lib/": "", "fileserver/web/lib64/": "", "fileserver/srvdoc/intro": "docs\n",
        "none/incoming/": "",
    })
    ns = tree.ns(FTP)
    script = "ls /; cat /index.html /plan9/doc/intro; echo up > /incoming/none/upload"
    result = tree.newns("-f", str(ns), "/usr/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["incoming", "index.html", "lib", "lib64", "plan9", "usr", "welcome", "docs"]
    assert (tree / "none/incoming/upload").read_text() == "up\n"
    check = tree.newns("--check", "-f", str(ns))
    assert (check.returncode, check.stdout) == (0, ""), check
    explained = tree.newns("--explain", "-f", str(ns)).stdout
    assert "overlay" not in explained, explained


def test_a_missing_include_says_where_newns_looked(tree):
    tree.make({"ns/x.ns": ". go\n"})
    result = tree.newns("-f", "ns/x.ns", "true")
    assert result.returncode == 125
    assert f"ns/x.ns:1:3: . ns/go: No such file or directory (newns looked for {tree / 'ns/go'}, next to the file " \
           "that includes it)" in result.stderr, result.stderr


def test_an_include_is_read_through_what_an_earlier_line_bound_on_its_path(tree):
    """Plan 9 reads an include in the namespace being built: after bind incB incA, incA/x.ns
    is incB's."""
    tree.make({"a/fromA": "", "b/fromB": "", "t/": "", "incA/x.ns": "bind $T/a $T/t\n", "incB/x.ns": "bind $T/b $T/t\n"})
    check, run = check_and_run(tree, "bind $T/incB $T/incA\n. $T/incA/x.ns\n", LS, str(tree / "t"))
    assert (check.returncode, check.stdout) == (0, ""), check
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["fromB"]


def test_an_includes_path_reads_the_variables_as_its_line_finds_them(tree):
    """As every line's words: a setenv before the include changes which file it names."""
    tree.make({"a/fromA": "", "b/fromB": "", "t/": "", "incA/x.ns": "bind $T/a $T/t\n", "incB/x.ns": "bind $T/b $T/t\n"})
    ns = tree.ns("setenv INC $T/incB\n. $INC/x.ns\n")
    caller_says = {"INC": str(tree / "incA")}
    check = tree.newns("--check", "-f", str(ns), env=caller_says)
    run = tree.newns("-f", str(ns), LS, str(tree / "t"), env=caller_says)
    assert (check.returncode, check.stdout) == (0, ""), check
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["fromB"]


def test_a_relative_include_after_cd_is_read_from_the_cd_directory(tree):
    tree.make({"a/fromA": "", "b/fromB": "", "t/": "", "x.ns": "bind $T/a $T/t\n", "sub/x.ns": "bind $T/b $T/t\n"})
    check, run = check_and_run(tree, "cd $T/sub\n. x.ns\n", LS, str(tree / "t"))
    assert (check.returncode, check.stdout) == (0, ""), check
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["fromB"]


def test_a_relative_include_before_cd_read_next_to_its_file_warns_when_plan_9_would_read_another(tree):
    """Plan 9 reads it from the working directory: where that holds another file of the name,
    --check (and -d) say which one newns reads, at the include; a run reads it."""
    tree.make({
        "a/fromA": "", "b/fromB": "", "t/": "", "ns/x.ns": ". inc.ns\n", "ns/inc.ns": "bind $T/a $T/t\n",
        "inc.ns": "bind $T/b $T/t\n",
    })
    env = {"T": str(tree.base)}
    check = tree.newns("--check", "-f", "ns/x.ns", env=env)
    assert check.returncode == 0, check
    assert check.stdout == (
        f"ns/x.ns:1:3: warning: . inc.ns reads {tree / 'ns/inc.ns'}, next to the file that includes it; Plan 9 "
        f"would read {tree / 'inc.ns'} (relative to the working directory): write its path, or cd first, to say which\n"
    ), check.stdout
    debug = tree.newns("-d", "-f", "ns/x.ns", LS, str(tree / "t"), env=env)
    assert debug.stdout.split() == ["fromA"], debug.stderr
    assert "ns/x.ns:1:3: warning: . inc.ns reads" in debug.stderr


def test_a_relative_include_before_cd_says_nothing_where_plan_9_reads_the_same_file_or_none(tree):
    tree.make({"a/fromA": "", "t/": "", "ns/x.ns": ". inc.ns\n", "ns/inc.ns": "bind $T/a $T/t\n", "inc.ns/": ""})
    env = {"T": str(tree.base)}
    for directory in (tree.base, tree / "ns", tree / "t"):  # a directory of the name, the same file, none
        check = tree.caller.newns("--check", "-f", str(tree / "ns/x.ns"), cwd=directory, env=env)
        assert (check.returncode, check.stdout) == (0, ""), (directory, check)


def test_an_include_in_a_new_filesystem_is_refused_at_its_line(tree):
    tree.make({"t/x.ns": ""})
    ns = tree.ns("mount '#tmpfs' $T/t\n. $T/t/x.ns\n")
    result = tree.newns("-f", str(ns), "true")
    assert result.returncode == 125
    assert f"test.ns:2:3: . {tree.base}/t/x.ns: in the '#tmpfs' line 1 mounted on {tree.base}/t, which holds no file " \
           "of yours" in result.stderr, result.stderr


def test_a_union_with_a_kernel_filesystem_says_why_the_kernel_refuses(tree):
    tree.make({"x/": ""})
    ns = tree.ns("bind -a $T/x /proc/sys\n")
    result = tree.newns("-f", str(ns), "true")
    assert result.returncode == 125
    assert "/proc/sys is in a proc filesystem, which overlayfs can't take as a union's member" in result.stderr, result
