"""The core: a namespace file run for real, as root and rootless."""
import os
import signal

from helpers import NEWNS



def test_bind_replaces_what_a_directory_shows(tree):
    tree.make({"a/from-a": "A", "t/from-t": "T"})
    ns = tree.ns("bind $T/a $T/t\n")
    result = tree.newns("-f", str(ns), "ls", str(tree / "t"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-a"]
    assert sorted(os.listdir(tree / "t")) == ["from-t"]


def test_the_command_keeps_the_callers_ids(tree):
    ns = tree.ns("")
    result = tree.newns("-f", str(ns), "id", "-u")
    assert result.stdout.strip() == str(tree.caller.uid)
    result = tree.newns("-f", str(ns), "id", "-g")
    assert result.stdout.strip() == str(tree.caller.gid)


def test_new_is_taken_by_object_when_its_line_runs(tree):
    tree.make({"a/from-a": "", "b/from-b": "", "t/": "", "u/": ""})
    ns = tree.ns("bind $T/a $T/t\nbind $T/b $T/a\nbind $T/a $T/u\n")
    result = tree.newns("-f", str(ns), "sh", "-c", 'ls "$T/t"; echo --; ls "$T/u"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-a", "--", "from-b"]


def test_variables_quotes_includes_and_comments(tree):
    tree.make({"with space/f": "x", "t/": "", "inc/": ""})
    tree.ns("# included\nbind $T/'with space' $T/t\n", "inc/part.ns")
    ns = tree.ns("#!/usr/bin/env newns\n# a comment\n\n   . inc/part.ns\n")
    result = tree.newns("-f", str(ns), "ls", str(tree / "t"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["f"]


def test_a_variable_is_one_literal_argument(tree):
    tree.make({"-a/f": "", "t/": ""})
    ns = tree.ns("bind $T/$V $T/t\n")
    result = tree.newns("-f", str(ns), "ls", str(tree / "t"), env={"V": "-a"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["f"]
    result = tree.newns("-f", str(ns), "true", env={"V": "x y"})
    assert result.returncode == 125
    assert f"{tree / 'x y'}: no such file or directory" in result.stderr


def test_user_and_home_come_from_the_account():
    import pwd

    from newns.linux.world import Host
    from newns.interp import Interpreter

    from newns.nsfile import parse

    entry = pwd.getpwuid(os.getuid())
    ops, _ = parse("setenv U $user\nsetenv H $home\n", "t.ns")

    def read(env: dict[str, str]) -> tuple[str, str]:
        made = Interpreter(env, "/", Host()).plan(ops).settings.env
        assert made is not None
        return made["U"], made["H"]

    assert read({}) == (entry.pw_name, entry.pw_dir)
    assert read({"user": "u", "home": "/h"}) == ("u", "/h")


def test_an_unset_variable_is_an_error_naming_it(tree):
    ns = tree.ns("bind $NOPE/a /tmp\n")
    result = tree.newns("-f", str(ns), "true")
    assert result.returncode == 125
    assert result.stderr.startswith(f"newns: {ns}:1:6: $NOPE is not set")
    assert "  bind $NOPE/a /tmp\n       ^" in result.stderr


def test_every_mistake_stops_newns_before_the_command(tree):
    tree.make({"a/": ""})
    ns = tree.ns("bind $T/a $T/a # why\nbnid /a /b\nbind $T/missing $T/a\n")
    result = tree.newns("-f", str(ns), "touch", str(tree / "ran"))
    assert result.returncode == 125
    assert not (tree / "ran").exists()
    for line, col, message in [(1, 16, "comments go on their own line"), (2, 1, "unknown command"), (3, 6, "no such file")]:
        assert f"{ns}:{line}:{col}: " in result.stderr
        assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_include_cycle_is_an_error(tree):
    tree.ns(". b.ns\n", "a.ns")
    tree.ns(". a.ns\n", "b.ns")
    result = tree.newns("-f", str(tree / "a.ns"), "true")
    assert result.returncode == 125
    assert "include cycle" in result.stderr


def test_quiet_lines_may_fail(tree):
    ns = tree.ns("bind -q $T/missing $T\n. -q $T/missing.ns\n")
    result = tree.newns("-f", str(ns), "echo", "ran")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran\n"


def test_missing_or_unreadable_file(tree):
    result = tree.newns("-f", str(tree / "nope.ns"), "true")
    assert result.returncode == 125
    assert result.stderr.startswith("newns: can't read namespace file")
    result = tree.newns("-f", str(tree.base), "true")
    assert result.returncode == 125


def test_exit_status_passes_through(tree):
    ns = tree.ns("")
    assert tree.newns("-f", str(ns), "sh", "-c", "exit 7").returncode == 7
    assert tree.newns("-f", str(ns), "--", "sh", "-c", "exit 0").returncode == 0
    killed = tree.newns("-f", str(ns), "sh", "-c", "kill -TERM $$")
    assert killed.returncode == -signal.SIGTERM


def test_not_found_is_127_and_not_executable_is_126(tree):
    tree.make({"script": "#!/bin/sh\n"})
    ns = tree.ns("")
    result = tree.newns("-f", str(ns), "no-such-command-here")
    assert result.returncode == 127
    assert "command not found" in result.stderr
    assert tree.newns("-f", str(ns), str(tree / "script")).returncode == 126
    assert tree.newns("-f", str(ns), str(tree / "missing")).returncode == 127


def test_path_lookup_skips_unreadable_directories(tree):
    tree.make({"bin/tool": "#!/bin/sh\necho tool\n"})
    (tree / "bin/tool").chmod(0o755)
    ns = tree.ns("")
    result = tree.newns("-f", str(ns), "tool", env={"PATH": f"/nonexistent:{tree / 'bin'}"})
    assert result.stdout == "tool\n", result.stderr


def test_options_stop_at_the_command(tree):
    tree.make({"d/x": ""})
    ns = tree.ns("")
    result = tree.newns("-f", str(ns), "ls", "-a", str(tree / "d"))
    assert result.stdout.split() == [".", "..", "x"]


def test_default_command_is_the_shell(tree):
    ns = tree.ns("")
    result = tree.newns("-f", str(ns), env={"SHELL": "/bin/sh"}, input="echo from-shell\n")
    assert result.stdout == "from-shell\n"


def test_d_echoes_each_operation_after_expansion(tree):
    tree.make({"a/": ""})
    ns = tree.ns("bind $T/a $T/a\n")
    result = tree.newns("-d", "-f", str(ns), "true")
    assert f"bind {tree / 'a'} {tree / 'a'}\n" in result.stderr


def test_a_is_accepted(tree):
    ns = tree.ns("")
    assert tree.newns("-a", "-f", str(ns), "true").returncode == 0


def test_shebang_namespace_file(tree):
    tree.make({"a/f": "", "t/": ""})
    script = tree.ns(f"#!{os.path.dirname(NEWNS)}/newns\nbind $T/a $T/t\n", "tool.ns")
    script.chmod(0o755)
    result = tree.caller.run([str(script), "ls", str(tree / "t")], cwd=tree.base, env={"T": str(tree.base)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["f"]


def test_ci_step_status(tree):
    tree.make({"step.sh": "echo step > $T/scratch/out; cat $T/scratch/out; false\n", "scratch/": ""})
    ns = tree.ns("mount -c #tmpfs $T/scratch\n")
    result = tree.newns("-f", str(ns), "bash", "-e", str(tree / "step.sh"))
    assert result.returncode == 1
    assert result.stdout == "step\n"
    assert os.listdir(tree / "scratch") == []


def test_cd_and_the_callers_directory_looked_up_again(tree):
    tree.make({"a/in-a": "", "w/": ""})
    ns = tree.ns("bind $T/a $T/w\n")
    result = tree.caller.run(
        [NEWNS, "-f", str(ns), "ls"], cwd=tree / "w", env={"T": str(tree.base)}
    )
    assert result.stdout.split() == ["in-a"]
    ns = tree.ns("cd $T/a\n", "cd.ns")
    result = tree.newns("-f", str(ns), "pwd")
    assert result.stdout.strip() == str(tree / "a")


def test_no_descriptor_of_newns_leaks_into_the_command(tree):
    tree.make({"a/": "", "t/": ""})
    ns = tree.ns("bind $T/a $T/t\nmount -bc #tmpfs $T/t\n")
    result = tree.newns("-f", str(ns), "sh", "-c", "ls /proc/$$/fd")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "1", "2"]


def test_other_processes_never_see_the_namespace(tree):
    tree.make({"a/f": "", "t/": ""})
    ns = tree.ns("bind $T/a $T/t\n")
    result = tree.newns("-f", str(ns), "sh", "-c", f"ls {tree / 't'}; sleep 0.2")
    assert result.stdout.split() == ["f"]
    assert os.listdir(tree / "t") == []
