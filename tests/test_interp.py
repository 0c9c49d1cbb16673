"""The interpreter in-process, on a made-up world: no namespace, no mount, no system call.

Each test gives the interpreter a file and a world (which paths exist, and what
they are) and compares its plan, as --explain prints it, with the plan
expected: unions, what a mount covers, when a pending union is mounted,
clear and the mount points newns makes. These run anywhere, user namespaces
or not.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newns import nsfile
from newns.diagnostics import NewnsError
from newns.explain import explain
from newns.interp import Interpreter, is_normal, line_text
from newns.loader import Loader
from newns.network import Resolver, resolver_of

WORLD = {
    "/": "dir", "/w": "dir", "/a": "dir", "/a/sub": "dir", "/b": "dir", "/c": "dir", "/t": "dir", "/t/sub": "dir",
    "/usr": "dir", "/etc": "dir", "/f": "file", "/dev": "dir", "/dev/null": "other", "/dev/zero": "other",
}


class MadeUp:
    """A world of paths and their kinds; everything else is missing."""

    def __init__(self, paths: dict[str, str], files: dict[str, str] | None = None) -> None:
        self.paths = paths | dict.fromkeys(files or {}, "file")
        self.files = files or {}

    def kind(self, path: str) -> str | None:
        return self.paths.get(path, "missing")

    def writable(self, path: str) -> bool:
        return True

    def realpath(self, path: str) -> str:
        return path

    def read(self, path: str, *, pipe_allowed: bool) -> str:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.files[path]

    def account(self) -> tuple[str, str]:
        return "u", "/home/u"

    def mount_points(self) -> list[str]:
        return ["/", "/proc", "/dev", "/dev/pts"]


def planned(text: str, paths: dict[str, str] = WORLD):
    ops, problems = nsfile.parse(text, "t.ns")
    assert problems == []
    return Interpreter({"X": "/a"}, "/w", MadeUp(paths)).plan(ops)


def steps(text: str, paths: dict[str, str] = WORLD) -> list[str]:
    """The plan's lines between the namespace's making and the command's exec."""
    lines = explain(planned(text, paths), rootless=False, uid=0, gid=0)
    start = lines.index("mount --make-rprivate /") + 1
    return lines[start : next(i for i, line in enumerate(lines) if line.startswith(("chdir ", "pivot_root")))]


def problems(text: str, paths: dict[str, str] = WORLD) -> list[str]:
    with pytest.raises(NewnsError) as raised:
        planned(text, paths)
    return [d.shown(line_only=True) for d in raised.value.diagnostics]


def test_a_bind_replaces():
    assert steps("bind /a /t\n") == [
        "# t.ns:1:1: bind /a /t",
        "  open /a (O_PATH) -> #1",
        "  mount --rbind /a /t (open_tree, move_mount) -> #2",
        "  close #1 #2",
    ]


def test_a_union_is_one_overlay_mounted_once_at_the_end():
    assert steps("bind -a /a /t\nbind -bc /b /t\n") == [
        "# t.ns:1:1: bind -a /a /t",
        "  open /a (O_PATH) -> #1",
        "  open /t (O_PATH) -> #2",
        "# t.ns:2:1: bind -bc /b /t",
        "  open /b (O_PATH) -> #3",
        "# t.ns:2:1: the union on /t, changed by this line, mounted now",
        "  mount -t overlay /t: lowerdir+ /t, /a; upperdir /b -> #4",
        "  close #1 #2 #3 #4",
    ]


def test_a_union_is_mounted_when_a_later_line_looks_inside_it():
    assert steps("bind -a /a /t\nbind /b /t/sub\n") == [
        "# t.ns:1:1: bind -a /a /t",
        "  open /a (O_PATH) -> #1",
        "  open /t (O_PATH) -> #2",
        "# t.ns:1:1: the union on /t, changed by this line, mounted now",
        "  mount -t overlay /t: lowerdir+ /t, /a; read-only -> #3",
        "  close #1 #2 #3",
        "# t.ns:2:1: bind /b /t/sub",
        "  open /b (O_PATH) -> #4",
        "  mount --rbind /b /t/sub (open_tree, move_mount) -> #5",
        "  close #4 #5",
    ]


def test_a_mount_covers_what_was_mounted_inside_it():
    plan = planned("mount '#tmpfs' /t/sub\nbind /b /t\n")
    assert [w.shown(line_only=True) for w in plan.warnings] == [
        "t.ns:2:1: warning: /t now hides what line 1 mounted inside it (/t/sub)"
    ]
    assert steps("mount '#tmpfs' /t/sub\nbind /b /t\n")[-4:] == [
        "# t.ns:2:1: bind /b /t",
        "  open /b (O_PATH) -> #3",
        "  mount --rbind /b /t (open_tree, move_mount) -> #4",
        "  close #3 #4",
    ]


def test_clear_builds_from_an_empty_root_with_made_up_mount_points():
    assert steps("clear\nbind #old/usr /usr\nmount -c '#tmpfs' /tmp\nbind #old/a /tmp/x/y\n") == [
        "# t.ns:1:1: clear",
        "  mount a hidden tmpfs root, pivot_root into it: the namespace so far at /oldroot, "
        "a new empty tmpfs -> #1, a copy at /newroot -> #2",
        "  close #1",
        "# t.ns:2:1: bind '#old/usr' /usr",
        "  mkdir /newroot/usr -> #3 (a mount point in a new filesystem, made beneath #2, no symlink followed)",
        "  open /oldroot/usr (O_PATH) -> #4",
        "  mount --rbind /oldroot/usr /newroot/usr (#3) (open_tree, move_mount) -> #5",
        "  close #3 #4 #5",
        "# t.ns:3:1: mount -c '#tmpfs' /tmp",
        "  mkdir /newroot/tmp -> #6 (a mount point in a new filesystem, made beneath #2, no symlink followed)",
        "  fsopen tmpfs, fsmount -> #7",
        "  mount --rbind new tmpfs #7 /newroot/tmp (#6) (open_tree, move_mount) -> #8",
        "  close #2 #6 #7",
        "# t.ns:4:1: bind '#old/a' /tmp/x/y",
        "  mkdir /newroot/tmp/x/y -> #9 (a mount point in a new filesystem, made beneath #8, no symlink followed)",
        "  open /oldroot/a (O_PATH) -> #10",
        "  mount --rbind /oldroot/a /newroot/tmp/x/y (#9) (open_tree, move_mount) -> #11",
        "  close #8 #9 #10 #11",
    ]


def test_no_mount_point_is_made_up_in_a_real_directory_or_a_shared_kernel_filesystem():
    assert problems("bind /a /t/missing\n") == ["t.ns:1:9: bind: /t/missing: no such directory"]
    assert problems("mount '#tmpfs' /t\nbind -bc /b /t\nbind /a /t/new\n") == [
        "t.ns:3:9: bind: /t/new: no such directory (in what line 2 put on /t)"
    ]
    # a devtmpfs is the host's own: what is in it can't be told, and nothing is made there
    assert "mkdir" not in "".join(steps("mount '#devtmpfs' /t\nbind /a /t/new\n"))


def test_a_variable_is_a_literal_piece_and_an_unset_one_an_error():
    assert steps("bind $X /t\n")[0] == "# t.ns:1:1: bind /a /t"
    assert problems("bind $NOPE /t\n") == [
        "t.ns:1:6: $NOPE is not set: export it before running newns, or write the path without it"
    ]


def test_quiet_lines_become_notes():
    plan = planned("bind -q /missing /t\n")
    assert [w.shown(line_only=True) for w in plan.warnings] == [
        "t.ns:1:9: note: skipped (-q): bind: /missing: no such file or directory"
    ]
    assert plan.actions == []


def test_a_line_the_kernel_refused_is_planned_away():
    ops, _ = nsfile.parse("mount -q '#nosuchfs' /t\nbind /a /t\n", "t.ns")
    plan = Interpreter({}, "/w", MadeUp(WORLD)).plan(ops, frozenset({0}))
    assert [a.text for a in plan.actions] == ["bind /a /t"]
    assert "umount" not in "".join(explain(plan, rootless=False, uid=0, gid=0))


def included(files: dict[str, str], skipped: frozenset[int] = frozenset()):
    """The plan of /w/t.ns among files, its includes read as the interpreter reaches them."""
    world = MadeUp(WORLD, files)
    loader = Loader(world, {}, "/w")
    ops = loader.load("/w/t.ns")
    return Interpreter({}, "/w", world, loader=loader).plan(ops, skipped)


def test_an_include_is_read_when_the_interpreter_reaches_it_through_the_mount_table():
    files = {"/w/t.ns": "bind /b /a\n. /a/x.ns\n. x.ns\n", "/a/x.ns": "bind /c /t\n", "/b/x.ns": "bind /a /t\n",
             "/w/x.ns": "cd /b\n. x.ns\n"}
    plan = included(files)
    assert [a.text for a in plan.actions] == ["bind /b /a", "bind /a /t", "cd /b", "bind /a /t"]
    assert [a.where.file for a in plan.actions] == ["/w/t.ns", "/a/x.ns", "/w/x.ns", "/b/x.ns"]  # as the namespace names them


def test_a_line_of_an_included_file_the_kernel_refused_is_planned_away_by_its_place_in_the_run():
    files = {"/w/t.ns": ". x.ns\n. x.ns\nbind /a /t\n", "/w/x.ns": "mount -q '#nosuchfs' /c\n"}
    first = included(files)
    assert [a.op for a in first.actions] == [1, 3, 4]
    assert [a.text for a in included(files, frozenset({3})).actions] == ["mount -q '#nosuchfs' /c", "bind /a /t"]


def test_a_replacement_hides_what_was_mounted_inside_and_a_union_keeps_it():
    # Plan 9: after bind /c /t, /t/sub is /c's own sub; after bind -a /c /t, it is still /a.
    replaced = steps("bind /b /t\nbind /a /t/sub\nbind /c /t\n", {**WORLD, "/b/sub": "dir", "/c/sub": "dir"})
    assert replaced[-4:] == [
        "# t.ns:3:1: bind /c /t",
        "  open /c (O_PATH) -> #5",
        "  mount --rbind /c /t (open_tree, umount -l /t, move_mount) -> #6",
        "  close #5 #6",
    ]
    kept = steps("bind /b /t\nbind /a /t/sub\nbind -a /c /t\n", {**WORLD, "/b/sub": "dir", "/c/sub": "dir"})
    assert kept[-4:] == [
        "# t.ns:3:1: the union on /t, changed by this line, mounted now",
        "  mount -t overlay /t: lowerdir+ /b, /c; read-only, umount -l /t -> #6",
        "  mount --rbind /a /t/sub (open_tree, move_mount) -> #7",
        "  close #1 #3 #5 #6 #7",
    ]


def test_a_line_onto_the_root_changes_it():
    plan = planned("bind /a /\n")
    assert plan.cleared
    assert steps("bind /a /\n") == [
        "# t.ns:1:1: bind /a /",
        "  open /a (O_PATH) -> #1",  # as the file named it, before the root changes
        "  mount a hidden tmpfs root, pivot_root into it: the namespace so far at /oldroot, "
        "a new empty tmpfs -> #2, a copy at /newroot -> #3",
        "  mount --rbind /a /newroot (open_tree, umount -l /newroot, move_mount) -> #4",
        "  close #1 #2 #3 #4",
    ]
    assert problems("bind /f /\n") == ["t.ns:1:6: bind: /f: not a directory"]
    assert problems("bind /a /\nclear\n") == [
        "t.ns:2:1: only one clear in a file, and line 1 started the new namespace (a clear, or a line onto /): "
        "newns keeps one #old"
    ]


def test_a_union_onto_the_root_keeps_what_is_mounted_in_it():
    lines = steps("bind /b /t\nbind -a /a /\n", {**WORLD, "/proc": "dir"})
    assert lines[lines.index("# t.ns:2:1: the union on /, changed by this line, mounted now") :] == [
        "# t.ns:2:1: the union on /, changed by this line, mounted now",
        "  mount -t overlay /newroot: lowerdir+ /oldroot, /a; read-only, umount -l /newroot -> #9",
        "  mount --rbind /b /newroot/t (open_tree, move_mount) -> #10",
        "  mount --rbind /oldroot/dev /newroot/dev (open_tree, move_mount) -> #11",
        "  mount --rbind /oldroot/proc /newroot/proc (open_tree, move_mount) -> #12",
        "  close #1 #3 #6 #7 #8 #9 #10 #11 #12",
    ]


def test_unmount_of_what_nobody_mounted_is_a_problem():
    assert problems("unmount /t\n") == ["t.ns:1:9: unmount: nothing is mounted on /t"]
    assert problems("clear\nunmount /proc\n") == ["t.ns:2:9: unmount: nothing is mounted on /proc"]
    assert steps("unmount /proc\n")[1] == "  umount -l /proc, again while something is mounted there"


def test_the_process_around_the_plan():
    lines = explain(planned("mount '#proc' /proc\nbind -c /a /t\n", {**WORLD, "/proc": "dir"}), rootless=True, uid=1000, gid=100)
    assert lines[:6] == [
        "unshare(CLONE_NEWUSER|CLONE_NEWPID)",
        "write uid_map '1000 1000 1', setgroups 'deny', gid_map '100 100 1'",
        "fork: newns stays as the parent; the child is PID 1 of the new PID namespace, and dies with newns",
        "unshare(CLONE_NEWNS)",
        "mount --make-rprivate /",
        "# t.ns:1:1: mount '#proc' /proc",
    ]
    assert lines[-2:] == [
        "fork: the command, a child of PID 1, which reaps orphans",
        "no_new_privs, a seccomp filter refusing TIOCSTI and TIOCLINUX, exec the command",
    ]


@pytest.mark.parametrize(
    "line",
    ["bind -- -d /t", "bind '/a b' /t", "bind -ac '/it''s' /t", "mount '#tmpfs' /t 'size=1m,mode=0700'", "unmount /t",
     "bind $'/a\\nb' /t"],
)
def test_the_d_text_of_a_line_reads_back_as_the_same_operation(line):
    world = {**WORLD, "/-d": "dir", "/a b": "dir", "/it's": "dir", "/a\nb": "dir"}
    ops, _ = nsfile.parse(line + "\n", "t.ns")
    interp = Interpreter({}, "/", MadeUp(world))
    again, problems = nsfile.parse(line_text(ops[0], {}) + "\n", "t.ns")
    assert problems == []
    assert [interp.expand(w) for w in again[0].arguments()] == [interp.expand(w) for w in ops[0].arguments()]
    assert (type(again[0]), again[0].flags) == (type(ops[0]), ops[0].flags)


class Counted(MadeUp):
    """A world that counts its password-database look-ups."""

    looked_up = 0

    def account(self) -> tuple[str, str]:
        self.looked_up += 1
        return "u", "/home/u"


def test_the_account_is_looked_up_only_for_a_line_that_reads_user_or_home():
    for text, expected in (("bind /a /t\n", 0), ("bind $home/x /t\nbind /a/$user /t\n", 1), ("", 0)):
        world = Counted({**WORLD, "/home/u/x": "dir", "/a/u": "dir"})
        ops, _ = nsfile.parse(text, "t.ns")
        Interpreter({"X": "/a"}, "/w", world).plan(ops)
        assert world.looked_up == expected, text
    world = Counted(WORLD)
    ops, _ = nsfile.parse("bind $home /t\n", "t.ns")
    Interpreter({"home": "/a"}, "/w", world).plan(ops)
    assert world.looked_up == 0


def test_an_unset_variable_is_reported_once_with_the_lines_that_use_it_again():
    assert problems("bind $GOS/a /t\nbind $GOS/b /u\nbind $GOS/c $GOS/d\nbind $NOPE /t\n") == [
        "t.ns:1:6: $GOS is not set: export it before running newns, or write the path without it (and on lines 2, 3)",
        "t.ns:4:6: $NOPE is not set: export it before running newns, or write the path without it",
    ]


@pytest.mark.parametrize("text, says", [
    ("mount '#tmpfs' /t # private\n", "t.ns:1:19: comments go on their own line: a # after a command is a word"),
    ("mount '#tmpfs' /t #private\n", "t.ns:1:19: comments go on their own line: a # after a command is a word"),
    ('bind "a b" /t\n', "t.ns:1:12: too many arguments to bind: usage: bind [-abcCqr] new old: "
                        "a namespace file quotes with ' (as rc does), not \""),
    ("bind a /t\n", "t.ns:1:6: bind: /w/a: no such file or directory: a relative path is taken from the "
                    "directory newns runs in, or the last cd"),
], ids=["comment-after-mount", "comment-as-spec", "double-quotes", "relative"])
def test_messages_that_say_what_was_meant(text, says):
    ops, found = nsfile.parse(text, "t.ns")
    if not found:
        found = planned_problems(ops)
    assert [d.shown(line_only=True) for d in found] == [says]


def planned_problems(ops):
    with pytest.raises(NewnsError) as raised:
        Interpreter({"X": "/a"}, "/w", MadeUp(WORLD)).plan(ops)
    return raised.value.diagnostics


@pytest.mark.parametrize(
    "text, servers, conf",
    [
        ("search example.org\nnameserver 127.0.0.53\noptions edns0 trust-ad\n", ("169.254.1.1",),
         "search example.org\noptions edns0 trust-ad\nnameserver 169.254.1.1\n"),
        ("nameserver 127.0.0.1\nnameserver 192.0.2.53\n", ("169.254.1.1",), "nameserver 169.254.1.1\n"),
        ("nameserver 192.0.2.53\nnameserver 127.0.0.53\n", ("192.0.2.53", "127.0.0.53"), None),
        ("nameserver fe80::1%eth0\n", ("fe80::1",), None),
        ("nameserver ::1\n", ("::1",), None),
        ("", (), None),
    ],
    ids=["stub", "dnsmasq-first", "loopback-second", "scoped", "ipv6-loopback", "none"],
)
def test_a_command_gets_a_resolv_conf_of_its_own_only_when_the_hosts_resolver_is_on_its_loopback(text, servers, conf):
    """The first name server decides, as pasta forwards to the first; its IPv6 loopback is not forwarded."""
    assert resolver_of(text) == Resolver(servers, conf)


@given(st.text(alphabet="/.a\n", max_size=12))
def test_a_path_taken_as_normal_is_what_normpath_makes_of_it(path):
    if is_normal(path):
        assert os.path.normpath(path) == path
