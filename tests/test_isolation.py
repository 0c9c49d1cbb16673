"""More than mounts: clear net, clear ipc, hostname, user, setenv, unsetenv and clear env,
run for real as root and rootless."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
from helpers import HANG, NEWNS, needs_root, spawn

PYTHON = sys.executable
TALK = """
import os, socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
if os.fork() == 0:
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"over lo")
    os._exit(0)
print(server.accept()[0].recv(100).decode())
"""
"""Two processes talking over 127.0.0.1: the child connects to the parent's server."""


def run_ok(tree, text: str, *command: str, env: dict[str, str] | None = None) -> str:
    result = tree.newns("-f", str(tree.ns(text)), *command, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def interfaces(tree, text: str) -> list[str]:
    dev = run_ok(tree, text, "cat", "/proc/self/net/dev")
    return sorted(line.split(":")[0].strip() for line in dev.splitlines()[2:])


# -- clear net ---------------------------------------------------------------------------


def test_clear_net_leaves_only_lo(tree):
    assert interfaces(tree, "clear net\n") == ["lo"]
    host = os.readlink("/proc/self/ns/net")
    assert run_ok(tree, "clear net\n", "readlink", "/proc/self/ns/net") != host + "\n"
    assert run_ok(tree, "", "readlink", "/proc/self/ns/net") == host + "\n"


def test_clear_net_keeps_the_hosts_127_0_0_1_out_of_reach(tree):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('reached')"
    try:
        assert run_ok(tree, "", PYTHON, "-c", probe) == "reached\n"
        inside = tree.newns("-f", str(tree.ns("clear net\n")), PYTHON, "-c", probe)
    finally:
        server.close()
    assert inside.returncode != 0 and "ConnectionRefused" in inside.stderr, inside


def test_two_processes_inside_clear_net_talk_over_lo(tree):
    assert run_ok(tree, "clear net\n", PYTHON, "-c", TALK) == "over lo\n"


# -- clear ipc ---------------------------------------------------------------------------


def test_clear_ipc_hides_the_hosts_message_queues(tree):
    made = tree.caller.run(["ipcmk", "-Q"], cwd=tree.base)
    assert made.returncode == 0, made.stderr
    queue = made.stdout.split()[-1]
    try:
        assert queue in run_ok(tree, "", "ipcs", "-q").split()
        assert queue not in run_ok(tree, "clear ipc\n", "ipcs", "-q").split()
    finally:
        tree.caller.run(["ipcrm", "-q", queue], cwd=tree.base)


# -- hostname ----------------------------------------------------------------------------


def test_hostname_is_the_commands_alone(tree):
    host = os.uname().nodename
    assert run_ok(tree, "hostname newns-box\n", "sh", "-c", "hostname; uname -n") == "newns-box\nnewns-box\n"
    assert os.uname().nodename == host
    assert run_ok(tree, "", "hostname") == host + "\n"


# -- user --------------------------------------------------------------------------------


@pytest.mark.parametrize("line, ids", [("user 0 0", "0 0"), ("user 1234 1234", "1234 1234"), ("user 1234", "1234 1234"),
                                       ("user 1234 100", "1234 100")])
def test_user_gives_the_command_those_ids(tree, line, ids):
    assert run_ok(tree, line + "\n", "sh", "-c", 'echo "$(id -u) $(id -g)"') == ids + "\n"


def test_rootless_user_0_is_still_the_caller_to_the_kernel(user_tree):
    user_tree.make({"mine": "x"})
    out = run_ok(user_tree, "user 0 0\n", "sh", "-c", "id -u; stat -c %u mine; cat /etc/shadow 2>/dev/null || echo denied")
    assert out == "0\n0\ndenied\n"


@needs_root("only root can run a command as another user")
def test_as_root_user_drops_every_privilege(root_tree):
    root_tree.make({"secret": "root's"})
    os.chmod(root_tree / "secret", 0o600)
    show = f'cat {root_tree / "secret"} 2>&1; id -G; grep -E "^(CapEff|CapPrm|NoNewPrivs)" /proc/self/status'
    out = run_ok(root_tree, "user 1234 1234\n", "sh", "-c", show)
    assert "Permission denied" in out and "root's" not in out
    assert "\n1234\n" in out
    assert "CapPrm:\t0000000000000000" in out and "CapEff:\t0000000000000000" in out and "NoNewPrivs:\t1" in out


# -- the environment -----------------------------------------------------------------------


ENV = {"SET": "x", "LIST": "/a:/b"}
SHOW = 'for v in SET LIST NEW UNSET; do eval "echo $v=\\${$v-(unset)}"; done; echo "NEWNS=$NEWNS PWD=$PWD"'


@pytest.mark.parametrize(
    "text, expected",
    [
        ("setenv NEW 'a b'\n", "SET=x LIST=/a:/b NEW=a b UNSET=(unset)"),
        ("setenv SET y\n", "SET=y LIST=/a:/b NEW=(unset) UNSET=(unset)"),
        ("setenv -b LIST /c\n", "SET=x LIST=/c:/a:/b NEW=(unset) UNSET=(unset)"),
        ("setenv -a LIST /c\n", "SET=x LIST=/a:/b:/c NEW=(unset) UNSET=(unset)"),
        ("setenv -b NEW /c\n", "SET=x LIST=/a:/b NEW=/c UNSET=(unset)"),
        ("setenv -a NEW /c\n", "SET=x LIST=/a:/b NEW=/c UNSET=(unset)"),
        ("unsetenv SET\n", "SET=(unset) LIST=/a:/b NEW=(unset) UNSET=(unset)"),
        ("unsetenv UNSET\n", "SET=x LIST=/a:/b NEW=(unset) UNSET=(unset)"),
        ("clear env\n", "SET=(unset) LIST=(unset) NEW=(unset) UNSET=(unset)"),
        ("clear env LIST UNSET\n", "SET=(unset) LIST=/a:/b NEW=(unset) UNSET=(unset)"),
        ("clear env\nsetenv NEW $home\n", "SET=(unset) LIST=(unset) NEW={home} UNSET=(unset)"),
        ("setenv NEW 1\nsetenv -a NEW $NEW\nunsetenv SET\nsetenv SET $NEW\n", "SET=1:1 LIST=/a:/b NEW=1:1 UNSET=(unset)"),
    ],
)
def test_the_environment_is_what_the_last_line_left(tree, text, expected):
    ns = tree.ns(text)
    out = tree.newns("-f", str(ns), "/bin/sh", "-c", SHOW, env=ENV)
    assert out.returncode == 0, out.stderr
    home = tree.caller.run(["sh", "-c", "getent passwd $(id -u) | cut -d: -f6"], cwd=tree.base).stdout.strip()
    lines = out.stdout.splitlines()
    assert " ".join(lines[:4]) == expected.format(home=home)
    assert lines[4] == f"NEWNS={ns} PWD={tree.base}"


def test_a_set_variable_is_read_by_later_lines(tree):
    tree.make({"a/in-a": "", "b/": ""})
    assert run_ok(tree, "setenv D $T/a\nbind $D $T/b\n", "ls", str(tree / "b")) == "in-a\n"


def test_setenv_b_path_finds_the_command(tree):
    tree.make({"bin/hello": "#!/bin/sh\necho hello\n"})
    os.chmod(tree / "bin/hello", 0o755)
    assert run_ok(tree, "setenv -b PATH $T/bin\n", "hello") == "hello\n"


# -- mistakes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("hostname a\nhostname b\n", "2:1: hostname comes once in a file, and line 1 of"),
        ("clear net\nclear net\n", "2:1: clear net comes once in a file"),
        ("user root\n", "1:6: user: 'root' is not a user id: ids are numbers"),
        ("user 0 -1\n", "1:8: user: '-1' is not a group id"),
        ("user 0\nuser 1\n", "2:1: user comes once in a file"),
        ("setenv 1X y\n", "1:8: setenv: '1X' is not a variable name"),
        ("setenv A=B y\n", "1:8: setenv: 'A=B' is not a variable name"),
        ("unsetenv 'A B'\n", "1:10: unsetenv: 'A B' is not a variable name"),
        ("clear env PATH 'X-Y'\n", "1:16: clear env: 'X-Y' is not a variable name"),
        ("setenv -ab X y\n", "1:1: setenv: -a and -b together"),
        ("clear nett\n", "1:7: clear: 'nett': clear alone starts an empty namespace"),
        ("clear net eth0\n", "1:11: clear net takes no more words"),
        ("hostname ''\n", "1:10: hostname: a host name is 1 to 64 bytes"),
        ("setenv X\n", "1:1: too few arguments to setenv"),
        ("setenv -r X y\n", "1:9: setenv: unknown flag -r"),
    ],
)
def test_mistakes_stop_newns_at_their_line(tree, text, message):
    ns = tree.ns(text)
    for args in (["--check", "-f", str(ns)], ["-f", str(ns), "true"]):
        result = tree.newns(*args)
        assert result.returncode == 125
        assert f"{ns}:{message}" in result.stdout + result.stderr, result


# -- with the rest -------------------------------------------------------------------------

EVERYTHING = "clear net\nclear ipc\nhostname box\nmount '#proc' /proc\nclear env PATH\nsetenv -b PATH /nowhere\n"


def test_every_line_works_with_proc_and_check(tree):
    ns = tree.ns(EVERYTHING)
    assert tree.newns("--check", "-f", str(ns)).returncode == 0
    out = run_ok(tree, EVERYTHING, "sh", "-c", "hostname; echo $$; echo $PATH; cat /proc/self/net/dev | wc -l")
    assert out == "box\n2\n/nowhere:/usr/local/bin:/usr/bin:/bin\n3\n"


def test_every_line_works_after_clear(tree):
    system = "".join(f"bind -r '#old/{d}' /{d}\n" for d in ("usr", "bin", "lib", "lib64") if os.path.isdir("/" + d))
    text = "clear net\nhostname box\nclear\n" + system + "mount '#proc' /proc\n"
    assert run_ok(tree, text, "sh", "-c", "hostname; cat /proc/self/net/dev | wc -l") == "box\n3\n"


def test_explain_names_the_new_namespaces(tree):
    ns = tree.ns("clear net\nclear ipc\nhostname box\nuser 0 0\n")
    out = tree.newns("--explain", "-f", str(ns))
    assert out.returncode == 0, out.stderr
    assert "CLONE_NEWNET" in out.stdout and "CLONE_NEWIPC" in out.stdout and "CLONE_NEWUTS" in out.stdout
    assert "sethostname 'box'" in out.stdout and "bring lo up" in out.stdout


def started(tree, text: str) -> subprocess.Popen:
    shell = spawn(tree, [NEWNS, "-f", str(tree.ns(text, "held.ns")), "sh", "-c", "echo ready; read x"], stdin=subprocess.PIPE)
    assert shell.stdout.readline() == "ready\n", shell.stderr.read()
    return shell


def test_ns_prints_the_namespaces_it_can_read_back(tree):
    shell = started(tree, "clear net\nclear ipc\nhostname box\n")
    try:
        dump = tree.newns("--ns", str(shell.pid))
    finally:
        shell.stdin.close()
        shell.wait(timeout=HANG)
    assert dump.returncode == 0, dump.stderr
    assert dump.stdout.splitlines()[:2] == ["clear net", "clear ipc"]


def test_attach_joins_the_network_and_host_name(tree):
    shell = started(tree, "clear net\nhostname box\n")
    try:
        joined = tree.newns("--attach", str(shell.pid), "sh", "-c", "hostname; cat /proc/self/net/dev | wc -l")
        refused = tree.newns("--attach", str(shell.pid), "-f", str(tree.ns("clear ipc\n")), "true")
    finally:
        shell.stdin.close()
        shell.wait(timeout=HANG)
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout == "box\n3\n"
    assert refused.returncode == 125 and "only a new namespace can have" in refused.stderr


def test_attach_gives_the_command_the_files_environment(tree):
    shell = started(tree, "")
    try:
        ns = tree.ns("clear env\nsetenv ONLY this\n", "env.ns")
        out = tree.newns("--attach", str(shell.pid), "-f", str(ns), "/usr/bin/env")
    finally:
        shell.stdin.close()
        shell.wait(timeout=HANG)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == ["ONLY=this", f"PWD={tree.base}"]


# -- the shipped toolchain files need no PATH set-up ------------------------------------------

NAMESPACES = os.path.join(os.path.dirname(__file__), "..", "namespaces")
TOOLCHAINS = {
    "go": ({"GOS": "gos", "GOVERSION": "go1.22.5"}, "gos/go1.22.5/bin/go", "gos/current/"),
    "go1.2": ({"GOS": "gos"}, "gos/go1.2/bin/go", "gos/current/"),
    "python": ({"PYENV_ROOT": "pyenv", "PYVERSION": "3.9.18"}, "pyenv/versions/3.9.18/bin/python3", "pyenv/versions/current/"),
    "node": ({"NVM_DIR": "nvm", "NODEVERSION": "v20.11.1"}, "nvm/versions/node/v20.11.1/bin/node", "nvm/versions/node/current/"),
}


@pytest.mark.parametrize("name", sorted(TOOLCHAINS))
def test_a_toolchain_file_puts_its_bin_first_on_path(place, name):
    variables, tool, fixed = TOOLCHAINS[name]
    place.make({tool: "#!/bin/sh\necho \"$0 GOTOOLCHAIN=${GOTOOLCHAIN-unset}\"\n", fixed: ""})
    os.chmod(place / tool, 0o755)
    env = {k: v if k.endswith("VERSION") else str(place / v) for k, v in variables.items()}
    result = place.newns("-f", os.path.join(NAMESPACES, name), os.path.basename(tool), env=env)
    assert result.returncode == 0, result.stderr
    path, toolchain = result.stdout.split()
    assert path == str(place / fixed / "bin" / os.path.basename(tool))
    assert toolchain == ("GOTOOLCHAIN=local" if name.startswith("go") else "GOTOOLCHAIN=unset")


# -- what `user` must not leave (attacks found in review) ---------------------------------------


@needs_root("only root drops to other ids")
def test_user_leaves_the_command_no_descriptor_of_roots(root_tree):
    ns = root_tree.ns("user 1234 1234\n")
    script = f'{NEWNS} -f {ns} -- sh -c "head -c 4 <&7 || echo closed" 7</etc/shadow'
    result = root_tree.caller.run(["sh", "-c", script], cwd=root_tree.base)
    assert result.stdout == "closed\n", result


@needs_root("only root drops to other ids")
def test_user_drops_capabilities_a_parent_kept_in_ambient_and_securebits(root_tree):
    capsh = shutil.which("capsh") or shutil.which("/usr/sbin/capsh")
    if capsh is None:
        pytest.skip("capsh is missing (apt install libcap2-bin)")
    ns = root_tree.ns("user 1234 1234\n")
    inner = f"{NEWNS} -f {ns} -- sh -c 'grep -E \"^Cap(Eff|Prm|Amb|Bnd|Inh)\" /proc/self/status; head -c 4 /etc/shadow'"
    keep = ["--inh=cap_sys_admin,cap_dac_override", "--addamb=cap_sys_admin,cap_dac_override", "--secbits=4"]
    result = root_tree.caller.run([capsh, *keep, "--", "-c", inner], cwd=root_tree.base)
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["0000000000000000"] * 5, result
    assert "Permission denied" in result.stderr


@needs_root("root as root")
def test_user_0_as_root_says_it_stays_root(root_tree):
    ns = root_tree.ns("user 0 1234\n")
    assert run_ok(root_tree, "user 0 1234\n", "sh", "-c", 'echo "$(id -u) $(id -g) $(id -G)"') == "0 1234 1234\n"
    explained = root_tree.newns("--explain", "-f", str(ns)).stdout
    assert "uid 0 stays root, with every capability" in explained and "no capability left" not in explained


def test_rootless_user_0_cant_unmount_what_hides_a_secret(user_tree):
    user_tree.make({"secret/key": "SECRET\n"})
    out = run_ok(user_tree, "mount -c '#tmpfs' $T/secret\nuser 0 0\n", "sh", "-c",
                 f'id -u; umount {user_tree / "secret"} 2>/dev/null; umount -l {user_tree / "secret"} 2>/dev/null; '
                 f'cat {user_tree / "secret/key"} 2>/dev/null || echo hidden')
    assert out == "0\nhidden\n"


@needs_root("root dumps a process of another user's")
def test_ns_never_prints_ids_a_process_only_borrows(root_tree):
    import textwrap

    script = textwrap.dedent(f"""
        import os, sys, time
        os.setresgid(995, 995, 0)
        os.setresuid({os.getuid() or 999}, {os.getuid() or 999}, 0)
        print("ready", flush=True)
        sys.stdin.read()
    """)
    borrowed = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert borrowed.stdout.readline() == "ready\n"
        dump = root_tree.newns("--ns", str(borrowed.pid))
    finally:
        borrowed.stdin.close()
        borrowed.wait(timeout=HANG)
    assert dump.returncode == 0 and not any(line.startswith("user ") for line in dump.stdout.splitlines()), dump


def test_attach_with_environment_lines_and_no_command_runs_nothing(tree):
    shell = started(tree, "")
    try:
        ns = tree.ns("setenv FOO bar\n", "env.ns")
        result = tree.newns("--attach", str(shell.pid), "-f", str(ns), input="echo SHELL-RAN\n")
    finally:
        shell.stdin.close()
        shell.wait(timeout=HANG)
    assert result.returncode == 0 and "SHELL-RAN" not in result.stdout, result


def test_a_q_line_skipped_for_a_variable_the_file_removed_is_a_warning(tree):
    tree.make({"home/.ssh/": ""})
    ns = tree.ns("clear env PATH\nmount -qc '#tmpfs' $HOME/.ssh\n")
    result = tree.newns("--check", "-f", str(ns), env={"HOME": str(tree / "home")})
    assert result.returncode == 0
    assert f"{ns}:2:20: warning: skipped (-q): $HOME is not set: line 1 of {ns} removed it" in result.stdout, result


@needs_root("root drops to the owner of the checkout")
def test_a_checkout_union_stays_writable_for_the_user_it_runs_as(root_tree):
    root_tree.make({"checkout/README": "x"})
    os.chown(root_tree / "checkout", 1234, 1234)
    os.chmod(root_tree / "checkout", 0o750)
    ns = root_tree.ns(f"mount -bc '#tmpfs' {root_tree / 'checkout'}\nuser 1234 1234\n")
    out = root_tree.newns("-f", str(ns), "sh", "-c", f'cd {root_tree / "checkout"} && touch made && stat -c "%u %a" .')
    assert (out.returncode, out.stdout) == (0, "1234 750\n"), out
    assert not (root_tree / "checkout/made").exists()
