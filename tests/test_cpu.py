"""--cpu: a command on another machine (a real sshd on 127.0.0.1, tests/sshd.py) with the
caller's namespace at /mnt/term, as root and rootless.

The caller runs `newns --cpu` inside a namespace of its own, with a private tmpfs only it
sees: what the remote command finds there can only have come through the connection. The
remote account has no newns on its PATH."""
from __future__ import annotations

import fcntl
import glob
import os
import select
import signal
import stat
import struct
import subprocess
import termios
import time

import pytest
import sshd
from helpers import HANG, NEWNS, Terminal, spawn
from test_import import no_sshfs_left

pytestmark = pytest.mark.skipif(
    sshd.available() is not None or not os.path.exists("/usr/bin/sshfs"),
    reason=sshd.available() or "sshfs is missing (apt install sshfs)",
)
HOST = sshd.ALIAS


def private(place, script: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """script (sh) run by the caller in a namespace where $T/private is a tmpfs of its own,
    holding secret: 'mine'."""
    place.make({"private/": ""})
    ns = place.ns("mount -c '#tmpfs' $T/private\n", "private.ns")
    setup = 'echo mine > "$T/private/secret" && mkdir "$T/private/dir" && '
    return place.newns("-f", str(ns), "sh", "-c", setup + script, "sh", *args, env={"N": NEWNS}, **kwargs)


def test_the_remote_command_reads_and_writes_the_callers_private_files_as_the_caller(place, server):
    script = (
        f'$N --cpu {HOST} sh -c "cat /mnt/term$T/private/secret; echo far > /mnt/term$T/private/new"'
        ' && cat "$T/private/new" && stat -c %u "$T/private/new"'
    )
    result = private(place, script)
    assert (result.returncode, result.stdout) == (0, f"mine\nfar\n{place.caller.uid}\n"), result.stderr
    assert not (place / "private/new").exists()  # it was in the caller's namespace only


@pytest.mark.skipif(not os.path.exists("/usr/bin/fincore"), reason="fincore is missing (apt install util-linux-extra)")
def test_a_file_read_again_unchanged_comes_from_the_far_kernels_cache(place, server):
    """Its pages stay in the far side's page cache from one open to the next while its size
    and time are the same (sshfs's auto_cache): each read is not a round trip to the caller."""
    script = "cat /mnt/term$T/private/secret > /dev/null && fincore -nb -o RES /mnt/term$T/private/secret"
    result = private(place, f'$N --cpu {HOST} sh -c "{script}"')
    assert result.returncode == 0 and int(result.stdout) > 0, result


def test_the_command_starts_in_mnt_term_and_the_callers_working_directory(place, server):
    result = private(place, f'cd "$T/private/dir" && $N --cpu {HOST} pwd')
    assert (result.returncode, result.stdout) == (0, f"/mnt/term{place / 'private/dir'}\n"), result.stderr


def test_streams_stdin_and_the_exit_status_pass_through(place, server):
    result = place.newns("--cpu", HOST, "sh", "-c", "cat; echo to-err >&2; exit 3", input="from stdin\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "from stdin\n", "to-err\n")
    killed = place.newns("--cpu", HOST, "sh", "-c", "kill -TERM $$")
    assert killed.returncode == 128 + signal.SIGTERM, killed.stderr


def test_the_file_arranges_the_remote_namespace(place, server):
    ns = place.ns("bind /mnt/term$T/private /srv\nmount -c '#tmpfs' /mnt/term$T/private/dir\ncd /srv\n", "far.ns")
    result = private(place, f'$N --cpu {HOST} -f {ns} sh -c "pwd; cat secret; ls dir | wc -l"')
    assert (result.returncode, result.stdout) == (0, "/srv\nmine\n0\n"), result.stderr


def test_a_mistake_in_the_file_stops_newns_before_it_connects(place, server):
    ns = place.ns("bind /a\n", "far.ns")
    result = place.newns("--cpu", HOST, "-f", str(ns), "echo", "ran")
    assert result.returncode == 125 and result.stdout == "" and f"{ns}:1:" in result.stderr, result
    assert "Accepted" not in server.log_text()


def test_an_import_line_in_the_file_is_refused_before_connecting_and_says_where_to_import(place, server):
    ns = place.ns(f"mount -c '#tmpfs' /tmp\nimport {HOST} /srv /srv\n", "far.ns")
    result = place.newns("--cpu", HOST, "-f", str(ns), "echo", "ran")
    assert result.returncode == 125 and result.stdout == "" and f"{ns}:2:1: " in result.stderr, result
    assert "newns -f" in result.stderr and "/mnt/term" in result.stderr, result.stderr
    assert "Accepted" not in server.log_text()


def test_a_directory_imported_here_shows_under_mnt_term_there(place, server):
    place.make({"remote/hello": "from afar\n", "here/": ""})
    ns = place.ns(f"import {HOST} $T/remote $T/here\n", "import.ns")
    result = place.newns("-f", str(ns), NEWNS, "--cpu", HOST, "cat", f"/mnt/term{place / 'here/hello'}")
    assert (result.returncode, result.stdout) == (0, "from afar\n"), result.stderr


def test_explain_tells_what_runs_on_each_side_and_connects_nowhere(place):
    ns = place.ns("bind /mnt/term/tmp /srv\n", "far.ns")
    result = place.newns("--explain", "--cpu", "nosuch.invalid", "-f", str(ns))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("here: ssh ") and "sftp-server" in result.stdout, lines
    assert "nosuch.invalid: sshfs -o passive" in result.stdout and "nosuch.invalid: bind /mnt/term/tmp /srv" in lines, lines


def test_newns_is_not_on_the_remote_accounts_path(place, server):
    result = place.newns("--cpu", HOST, "sh", "-c", "command -v newns || echo none")
    assert (result.returncode, result.stdout) == (0, "none\n"), result.stderr


@pytest.mark.parametrize(
    "host, said",
    [("nosuch.invalid", "Could not resolve hostname nosuch.invalid"), (f"nobody@{HOST}", "Permission denied")],
)
def test_an_unknown_host_or_a_refused_key_is_one_line_naming_the_host(place, server, host, said):
    result = place.newns("--cpu", host, "echo", "ran")
    assert result.returncode == 125 and result.stdout == "", result
    assert result.stderr.startswith(f"newns: --cpu {host}: ") and said in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def far_lacking(place, programs: dict[str, str]) -> subprocess.CompletedProcess:
    """newns --cpu to an sshd whose sessions' PATH holds these programs alone (name: the one
    it stands for)."""
    place.make({"far-bin/": ""})
    for name, program in programs.items():
        os.symlink(program, place / "far-bin" / name)
    with sshd.Sshd(place.caller.uid, path=str(place / "far-bin")) as lacking:
        lacking.install_client_config()
        if lacking.ssh("echo $PATH").stdout != f"{place / 'far-bin'}\n":
            pytest.skip(f"{lacking.user}'s shell changes PATH as it starts (its ~/.bashrc, say)")
        return place.newns("--cpu", HOST, "echo", "ran")


def one_line_naming_the_host(result: subprocess.CompletedProcess, *said: str) -> None:
    assert result.returncode == 125 and result.stdout == "", result
    assert result.stderr.startswith(f"newns: --cpu {HOST}: ") and result.stderr.count("\n") == 1, result.stderr
    assert all(s in result.stderr for s in said), result.stderr


def older_python() -> str | None:
    """A Python before 3.11 this machine has (pyenv's, root's alone), if any."""
    found = sorted(glob.glob("/usr/bin/python3.[0-9]") + glob.glob("/usr/bin/python3.10")
                   + glob.glob("/root/.pyenv/versions/3.[0-9].*/bin/python3") + glob.glob("/root/.pyenv/versions/3.10.*/bin/python3"))
    return found[0] if found else None


def test_a_far_side_without_python3_is_one_line_saying_how_to_get_it(place, fuse_open):
    one_line_naming_the_host(far_lacking(place, {}), "no python3 there", "apt install python3")


def test_a_far_side_with_an_older_python3_is_one_line_saying_which(place, fuse_open):
    python = older_python()
    if python is None or not os.access(python, os.X_OK) or place.caller.uid != 0:
        pytest.skip("no Python before 3.11 here that the caller may run")
    result = far_lacking(place, {"python3": python})
    one_line_naming_the_host(result, "python3 there is 3.", "newns needs 3.11 or later")


def test_a_far_side_without_sshfs_is_one_line_saying_how_to_get_it(place, fuse_open):
    result = far_lacking(place, {"python3": "/usr/bin/python3"})
    one_line_naming_the_host(result, "sshfs is not installed", "apt install sshfs")


def test_a_far_side_where_fuse_is_closed_to_the_account_is_one_line_saying_how_to_open_it(place, fuse_open):
    if place.caller.uid == 0 or os.geteuid() != 0:
        pytest.skip("root opens /dev/fuse whatever its mode; only root can close it to the account")
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o600)
    try:
        result = far_lacking(place, {"python3": "/usr/bin/python3", "sshfs": "/usr/bin/sshfs"})
    finally:
        os.chmod("/dev/fuse", mode)
    one_line_naming_the_host(result, "/dev/fuse", "chmod 0666 /dev/fuse")


def test_a_far_side_without_user_namespaces_is_one_line_saying_how_to_allow_them(place, fuse_open):
    if place.caller.uid == 0 or os.geteuid() != 0:
        pytest.skip("root needs no user namespace; only root can turn them off")
    sysctl = "/proc/sys/user/max_user_namespaces"
    before = open(sysctl).read()
    try:
        with open(sysctl, "w") as f:
            f.write("0")
    except PermissionError:
        pytest.skip(f"this machine doesn't let root write {sysctl}")
    try:
        result = far_lacking(place, {"python3": "/usr/bin/python3", "sshfs": "/usr/bin/sshfs"})
    finally:
        with open(sysctl, "w") as f:
            f.write(before)
    one_line_naming_the_host(result, "user namespace", "max_user_namespaces")


def test_a_refused_command_session_is_one_line_naming_the_host(place, fuse_open):
    with sshd.Sshd(place.caller.uid, max_sessions=1) as one_session:
        one_session.install_client_config()
        result = place.newns("--cpu", HOST, "echo", "ran")
    assert result.returncode == 125 and result.stdout == "", result
    assert result.stderr.startswith(f"newns: --cpu {HOST}: ") and "refused" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_the_remote_account_has_no_privilege_and_reads_nothing_the_caller_cant(place, server):
    if place.caller.uid == 0:
        pytest.skip("root reads everything")
    place.make({"closed": "secret\n"})
    os.chmod(place / "closed", 0)
    result = place.newns("--cpu", HOST, "sh", "-c", f"grep CapEff /proc/self/status; cat /mnt/term{place / 'closed'}")
    assert result.returncode != 0 and "CapEff:\t0000000000000000" in result.stdout, result
    assert "secret" not in result.stdout and "Permission denied" in result.stderr, result.stderr


def test_a_terminal_and_ctrl_c_reach_the_command(place, server):
    needs_terminals(server)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(place.base), "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    terminal = Terminal(place.caller, [NEWNS, "--cpu", HOST, "sh", "-c", 'tty; echo "$TERM"; exec sleep 300'],
                        env, place.base)
    terminal.expect(r"/dev/pts/\d+")
    terminal.expect("xterm-256color")
    far_side_runs(server, ["sleep", "300"], terminal)  # a shell between commands may hold a Ctrl-C back
    terminal.send("\x03")
    assert terminal.close(HANG) == 128 + signal.SIGINT, terminal.text()


def test_the_window_size_reaches_the_remote_terminal_and_follows_its_changes(place, server):
    needs_terminals(server)
    until_resized = 'stty size; echo ready; while stty size | grep -vx "40 120"; do sleep 0.1; done; echo resized'
    sized = ["/bin/sh", "-c", 'stty rows 33 cols 101 && exec "$@"', "sh", NEWNS, "--cpu", HOST, "sh", "-c", until_resized]
    terminal = Terminal(place.caller, sized, {"PATH": "/usr/bin:/bin", "TERM": "xterm"}, place.base)
    terminal.expect("33 101")
    terminal.expect("ready")
    fcntl.ioctl(terminal.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    terminal.expect("resized")
    assert terminal.close(HANG) == 0, terminal.text()


def test_ctrl_z_stops_the_remote_command_as_a_local_job_and_fg_resumes_it(place, server):
    needs_terminals(server)
    shell = bash(place)
    shell.send(f"{NEWNS} --cpu {HOST} sh -c 'echo ready; read line; echo \"got $line\"'\n")
    shell.expect(r"\rready")
    shell.send("\x1a")
    shell.expect("Stopped")
    shell.send("echo local-$((6*7))\n")
    shell.expect("local-42")  # the local shell has the terminal back
    shell.send("fg\n")
    shell.send("typed\n")
    shell.expect("got typed")
    shell.expect(r"\$ ")  # the shell again, once newns has ended
    shell.send("echo status-$?\n")
    shell.expect("status-0")
    shell.send("exit\n")
    assert shell.close(HANG) == 0, shell.text()


def test_after_ctrl_z_bg_lets_the_remote_command_run_on_and_wait_gets_its_status(place, server):
    needs_terminals(server)
    go, end = place / "go", place / "end"  # FIFOs: the far side is this machine, and opens them where they are
    for fifo in (go, end):
        os.mkfifo(fifo)
    place.own()
    far = f"echo ready; read x < {go}; echo running-$((6*7)); read x < {end}; exit 7"  # no fork for a stop to catch
    shell = bash(place)
    shell.send(f"{NEWNS} --cpu {HOST} sh -c '{far}'\n")
    shell.expect(r"\rready")
    shell.send("\x1a")
    shell.expect("Stopped")
    shell.send("bg\n")
    shell.expect(r" &\r\n")
    shell.send(f"echo go > {go}\n")  # typed while the job runs in the background
    shell.expect("running-42")
    shell.send(f"echo end > {end}; wait %1; echo status-$?\n")
    shell.expect("status-7")
    shell.send("exit\n")
    assert shell.close(HANG) == 0, shell.text()


def test_killing_the_callers_newns_leaves_nothing_on_either_side(place, server):
    place.make({"run/": ""})  # where newns keeps the SSH connection's control socket
    run = spawn(place, [NEWNS, "--cpu", HOST, "sh", "-c", "echo started; exec sleep 300"],
                {"XDG_RUNTIME_DIR": str(place / "run")}, stdin=subprocess.DEVNULL)
    try:
        assert first_line(run) == "started\n", ended(run)
        local = sshd.descendants(run.pid)
        assert local
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=HANG)
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline and (alive(local) or alive(server.processes()[1:])):
            time.sleep(0.1)
        assert alive(local) == [] and alive(server.processes()[1:]) == []
        assert no_sshfs_left(server.uid) == []
        assert os.listdir(place / "run") == []
    finally:
        ended(run)


def first_line(run: subprocess.Popen) -> str:
    """The first line run writes (empty if it ends first); AssertionError after HANG without one."""
    if not select.select([run.stdout], [], [], HANG)[0]:
        raise AssertionError(f"no line from {run.args} after {HANG}s: {ended(run)}")
    return run.stdout.readline()


def ended(run: subprocess.Popen) -> tuple[str, str]:
    """What run wrote, once it has ended (killed if it still runs)."""
    if run.poll() is None:
        run.kill()
    return run.communicate(timeout=HANG)


def bash(place) -> Terminal:
    """An interactive bash of the caller's on a terminal of its own, with job control."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(place.base), "TERM": "xterm", "PS1": "$ "}
    return Terminal(place.caller, ["/bin/bash", "--norc", "--noprofile", "-i"], env, place.base)


def far_side_runs(server: sshd.Sshd, argv: list[str], terminal: Terminal) -> None:
    """Wait until a process under the tests' sshd runs argv."""
    wanted = "".join(arg + "\0" for arg in argv)
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        for pid in server.processes():
            try:
                with open(f"/proc/{pid}/cmdline") as f:
                    if f.read() == wanted:
                        return
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no {argv} on the far side after {HANG}s; the terminal shows {terminal.text()!r}")


def needs_terminals(server: sshd.Sshd) -> None:
    if not server.as_root:
        pytest.skip("an sshd not run as root can't give a session a terminal (chown to group tty): run the tests as root")


def alive(pids: list[int]) -> list[int]:
    """Those of pids that still run (not zombies)."""
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(") ")[2][0] != "Z":
                    found.append(pid)
        except OSError:
            continue
    return found


def test_what_the_far_sides_mnt_holds_stays_visible_beside_mnt_term(place, server):
    held = sorted(os.listdir("/mnt"))  # the far side is this machine
    if not held or "term" in held:
        pytest.skip("/mnt here holds nothing to see, or has a term of its own")
    with open("/proc/self/mountinfo") as f:
        mounts_under = any(line.split()[4].startswith("/mnt/") for line in f)
    if place.caller.uid != 0 and mounts_under:
        held = []  # rootless, overlayfs takes no member with mounts under it: the #tmpfs hides /mnt
    script = f'$N --cpu {HOST} sh -c "ls -A /mnt; cat /mnt/term$T/private/secret"'
    result = private(place, script)
    assert (result.returncode, result.stdout) == (0, "\n".join(sorted([*held, "term"])) + "\nmine\n"), result.stderr


def test_a_file_mounting_proc_gives_the_remote_command_a_proc_of_its_own_pid_namespace(place, server):
    ns = place.ns("mount '#proc' /proc\n", "far.ns")
    result = place.newns("--cpu", HOST, "-f", str(ns), "sh", "-c", "echo $$; exec readlink /proc/self")
    assert result.returncode == 0, result.stderr
    shell, seen = result.stdout.split()
    assert shell == seen and int(shell) < 100, result.stdout  # the shell's own PID, as /proc shows it


def far_runs(server) -> tuple[str, set[str]]:
    """The remote account's directory of work directories (this machine's), and its runs now."""
    import pwd

    cache = os.path.join(pwd.getpwuid(server.uid).pw_dir, ".cache", "newns")
    return cache, set(os.listdir(cache)) if os.path.isdir(cache) else set()


def test_a_union_creating_in_a_far_real_directory_works_and_leaves_no_work_directory(place, server):
    place.make({"upper/": "", "view/old": "old\n"})  # on the far side: the far side is this machine
    ns = place.ns("bind -bc $T/upper $T/view\n", "far.ns")
    cache, before = far_runs(server)
    result = place.newns("--cpu", HOST, "-f", str(ns), "sh", "-c",
                         f'cat {place / "view/old"} && echo made > {place / "view/new"} && ls {cache}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("old\n") and (place / "upper/new").read_text() == "made\n", result.stdout
    during = set(result.stdout.split()[1:]) - before
    assert during and during & far_runs(server)[1] == set(), during


def test_killing_the_callers_newns_removes_the_far_sides_work_directories(place, server):
    place.make({"upper/": "", "view/": "", "run/": ""})
    ns = place.ns("bind -bc $T/upper $T/view\n", "far.ns")
    cache, before = far_runs(server)
    run = spawn(place, [NEWNS, "--cpu", HOST, "-f", str(ns), "sh", "-c", f"ls {cache}; echo started; exec sleep 300"],
                {"XDG_RUNTIME_DIR": str(place / "run"), "T": str(place.base)}, stdin=subprocess.DEVNULL)
    try:
        during = set()
        while (line := run.stdout.readline()) not in ("started\n", ""):
            during.add(line.strip())
        assert during - before, run.stderr.read()
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=HANG)
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline and (during - before) & far_runs(server)[1]:
            time.sleep(0.1)
        assert (during - before) & far_runs(server)[1] == set()
    finally:
        run.stdout.close()
        run.stderr.close()


@pytest.mark.parametrize("line, ids", [("user 1234 1234", "1234 1234"), ("user 0 1234", "0 1234")])
def test_a_user_line_gives_the_remote_command_those_ids_with_no_way_back(place, server, line, ids):
    ns = place.ns(line + "\n", "far.ns")
    show = f'echo "$(id -u) $(id -g)"; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; cat /mnt/term{place.base}/private/secret'
    result = private(place, f"$N --cpu {HOST} -f {ns} sh -c '{show}'")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ids and lines[-1] == "mine" and "NoNewPrivs:\t1" in lines, result.stdout
    if line == "user 1234 1234":  # user 0 keeps its capabilities (root's, or those of its own user namespace)
        assert "CapEff:\t0000000000000000" in lines, result.stdout


def test_a_user_line_as_root_gives_the_remote_command_a_terminal_of_its_own(place, server):
    if place.caller.uid != 0:
        pytest.skip("only root drops to other ids")
    ns = place.ns("user 1234 1234\n", "far.ns")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(place.base), "TERM": "xterm"}
    show = 'id -u; stat -c "owner %u" "$(tty)"; echo ready; sleep 300'
    terminal = Terminal(place.caller, [NEWNS, "--cpu", HOST, "-f", str(ns), "sh", "-c", show], env, place.base)
    terminal.expect(r"1234\r?\nowner 1234")
    terminal.expect("ready")
    terminal.send("\x03")
    assert terminal.close(HANG) == 128 + signal.SIGINT, terminal.text()


def test_a_file_that_clears_the_root_runs_its_command_on_the_far_side(place, server):
    binds = "".join(f"bind '#old/{d}' /{d}\n" for d in ("usr", "bin", "lib", "lib64") if os.path.exists(f"/{d}"))
    ns = place.ns("clear\n" + binds + "mount '#proc' /proc\n", "far.ns")
    result = place.newns("--cpu", HOST, "-f", str(ns), "sh", "-c", "ls /; echo $$; exec readlink /proc/self")
    assert result.returncode == 0, result.stderr
    *listed, shell, seen = result.stdout.split()
    assert sorted(listed) == sorted(["proc", *(d for d in ("usr", "bin", "lib", "lib64") if os.path.exists(f"/{d}"))])
    assert shell == seen, result.stdout


def test_ctrl_z_and_fg_act_on_a_remote_command_root_runs_as_another_user(place, server):
    if place.caller.uid != 0:
        pytest.skip("only root drops to other ids")
    ns = place.ns("user 1234 1234\n", "far.ns")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(place.base), "TERM": "xterm", "PS1": "$ "}
    shell = Terminal(place.caller, ["/bin/bash", "--norc", "--noprofile", "-i"], env, place.base)
    shell.send(f"{NEWNS} --cpu {HOST} -f {ns} sh -c 'echo ready; read line; echo \"got $line\"'\n")
    shell.expect(r"\rready")
    shell.send("\x1a")
    shell.expect("Stopped")
    shell.send("echo local-$((6*7))\n")
    shell.expect("local-42")
    shell.send("fg\n")
    shell.send("typed\n")
    shell.expect("got typed")
    shell.expect(r"\$ ")
    shell.send("echo status-$?\n")
    shell.expect("status-0")
    shell.send("exit\n")
    assert shell.close(HANG) == 0, shell.text()


@pytest.mark.parametrize(("text", "expected"), [("", "1"), ("allow setuid\n", "0")], ids=["default", "allowed"])
def test_the_remote_command_gains_no_privilege_on_exec_unless_the_file_allows_it(place, server, text, expected):
    """As a local run: no_new_privs, but where the file says `allow setuid`."""
    ns = place.ns(text, "far.ns")
    result = place.newns("--cpu", HOST, "-f", str(ns), "grep", "^NoNewPrivs:", "/proc/self/status")
    assert (result.returncode, result.stdout.split()[1:]) == (0, [expected]), result.stderr
