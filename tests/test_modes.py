"""--check, --explain, --ns and --attach."""
from helpers import NEWNS, mount_table, ns_of, spawn


def test_check_reports_every_problem_and_runs_nothing(tree):
    tree.make({"a/": ""})
    ns = tree.ns("bind $T/a $T/a # x\nbnid /a /b\nbind $NOPE $T/a\nbind -C $T/a $T/a\nbind -q $T/missing $T/a\n")
    result = tree.newns("--check", "-f", str(ns))
    assert result.returncode == 125
    assert result.stdout.splitlines() == [
        f"{ns}:1:16: comments go on their own line: a # after a command is a word",
        f"{ns}:2:1: unknown command 'bnid': expected bind, mount, unmount, clear, cd, ., allow, import, hostname, user, setenv, unsetenv or net",
        f"{ns}:3:6: $NOPE is not set: export it before running newns, or write the path without it",
        f"{ns}:4:1: warning: -C (cache) has no effect on Linux",
    ]  # line 5: a -q line may find nothing there; -d notes it


def test_check_of_a_good_file_is_silent(tree):
    tree.make({"a/": "", "t/": ""})
    ns = tree.ns("bind -a $T/a $T/t\nmount -c #tmpfs $T/a\n")
    result = tree.newns("--check", "-f", str(ns))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_check_reports_plan9_files_line_by_line(tree):
    ns = tree.ns(
        "mount -aC #s/boot /root $rootspec\nbind #c /dev\nbind -q #σ /shr\nmount -a /srv/slashn /n\n"
        "chdev -r Ms\nimport -a net /net\n"
    )
    result = tree.newns("--check", "-f", str(ns))
    assert result.returncode == 125
    lines = result.stdout.splitlines()
    assert [line.split(":")[1] for line in lines] == ["1", "1", "1", "2", "3", "4", "5", "6"]
    assert "syntax" not in result.stdout and "unexpected" not in result.stdout


def test_explain_prints_the_operations_and_changes_nothing(tree):
    tree.make({"a/f": "", "t/": "", "x/": ""})
    ns = tree.ns("bind $T/a $T/t\nbind -a $T/x $T/t\nmount -bc #tmpfs $T/x\n")
    before = mount_table()
    result = tree.newns("--explain", "-f", str(ns))
    assert result.returncode == 0, result.stderr
    assert mount_table() == before
    text = result.stdout
    assert text.splitlines()[0].startswith("unshare(")
    assert f"mount --rbind {tree / 'a'} {tree / 't'}" in text
    assert f"mount -t overlay {tree / 't'}: lowerdir+ {tree / 'a'}, {tree / 'x'}; read-only" in text
    assert "fsopen tmpfs" in text


def test_ns_round_trips_a_subtree(tree):
    tree.make({"a/in-a": "", "b/in-b": "", "t/in-t": "", "u/in-u": "", "x/in-x": ""})
    ns = tree.ns("bind $T/a $T/u\nbind -a $T/b $T/t\nbind -b $T/x $T/t\n")
    show = 'ls "$T/t" "$T/u"'
    original = tree.newns("-f", str(ns), "sh", "-c", show)
    dumped = ns_of(tree, ["-f", str(ns)])
    assert dumped.returncode == 0, dumped.stderr
    mine = [
        line
        for line in dumped.stdout.splitlines()
        if line.split()[0] in ("bind", "mount") and line.split()[-1].startswith(str(tree.base))
    ]
    assert mine == [
        f"bind {tree / 'a'} {tree / 'u'}",
        f"bind -a {tree / 'b'} {tree / 't'}",
        f"bind -b {tree / 'x'} {tree / 't'}",
    ]
    again = tree.ns(dumped.stdout, "again.ns")
    rebuilt = tree.newns("-f", str(again), "sh", "-c", show)
    assert rebuilt.stdout == original.stdout
    assert "in-x" in rebuilt.stdout and "in-a" in rebuilt.stdout


def test_ns_of_another_process_ends_with_its_directory(tree):
    result = tree.newns("--ns", "self")
    assert result.stdout.splitlines()[-1] == f"cd {tree.base}"


def test_attach_changes_a_running_namespace_and_runs_commands_in_it(tree):
    tree.make({"a/from-a": "", "t/": "", "u/": "", "empty.ns": ""})
    script = 'echo ready; while [ ! -e "$T/t/from-a" ]; do sleep 0.05; done; echo saw-it; sleep 30'
    watcher = spawn(tree, [NEWNS, "-f", str(tree / "empty.ns"), "sh", "-c", script])
    try:
        assert watcher.stdout.readline() == "ready\n"
        pid = watcher.pid
        ns = tree.ns("bind $T/a $T/t\n", "attach.ns")
        result = tree.newns("--attach", str(pid), "-f", str(ns))
        assert result.returncode == 0, result.stderr
        assert watcher.stdout.readline() == "saw-it\n"
        inside = tree.newns("--attach", str(pid), "ls", str(tree / "t"))
        assert inside.stdout == "from-a\n", inside.stderr
        then = tree.ns("bind $T/a $T/u\n", "then.ns")
        both = tree.newns("--attach", str(pid), "-f", str(then), "ls", str(tree / "u"))
        assert both.stdout == "from-a\n", both.stderr
    finally:
        watcher.kill()
        watcher.wait()
    assert list((tree / "t").iterdir()) == [] and list((tree / "u").iterdir()) == []


def test_attach_refuses_the_callers_own_namespace(tree):
    tree.make({"a/": ""})
    ns = tree.ns("bind $T/a $T/a\n")
    helper = spawn(tree, ["sleep", "30"])
    try:
        result = tree.newns("--attach", str(helper.pid), "-f", str(ns))
    finally:
        helper.kill()
        helper.wait()
    assert result.returncode == 125
    assert "host's mount table" in result.stderr


def test_ns_into_a_reader_that_leaves_ends_quietly(tree):
    result = tree.caller.run(["sh", "-c", f'"{NEWNS}" --ns | true'], cwd=tree.base)  # true leaves at once
    assert (result.returncode, result.stderr) == (0, ""), result


def test_attach_gives_the_command_the_environment_the_file_set(tree):
    """A second terminal joining a toolchain's namespace gets the toolchain: the PATH and the
    variables the file set, as the command newns started has them; its own terminal's
    variables stay its own."""
    tree.make({"go/bin/": ""})
    ns = tree.ns("setenv -b PATH $T/go/bin\nsetenv GOTOOLCHAIN local\n")
    shell = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", "echo ready; exec sleep 30"], env={"TERM": "first"})
    try:
        assert shell.stdout.readline() == "ready\n"
        result = tree.newns("--attach", str(shell.pid), "sh", "-c", 'echo "$PATH $GOTOOLCHAIN $TERM"',
                            env={"TERM": "second"})
    finally:
        shell.kill()
        shell.wait()
    assert result.stdout == f"{tree / 'go/bin'}:/usr/local/bin:/usr/bin:/bin local second\n", result
