"""The command's life under newns: job control, signals, exit statuses, dying parents.

newns execs the command in place unless it must stay as its parent (a file
with '#proc', a union creating in a real directory, --attach into another PID
namespace). Either way the command must behave as if it ran directly, or as
under bubblewrap where newns must stay. The interactive tests type at a real
bash or dash on a pseudo-terminal of their own; nothing waits on a clock but
generous time-outs.
"""
from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from helpers import HANG, NEWNS, Terminal, Tree, newns_started, small_root, spawn

REPO = Path(__file__).resolve().parent.parent
NAMESPACES = REPO / "namespaces"

FILES = {
    "exec": "",
    "proc": "mount '#proc' /proc\n",
    "work": "bind -bc $T/w $T/t\n",
    "both": "mount '#proc' /proc\nbind -bc $T/w $T/t\n",
}
"""One file for each way newns runs the command: in place; as the parent of a PID namespace's
init; as the parent that removes work directories; both."""
STAYS = ["proc", "work", "both"]


def namespace(tree: Tree, kind: str) -> Path:
    tree.make({"t/": "", "w/": ""})
    return tree.ns(FILES[kind], f"{kind}.ns")


def shell_env(tree: Tree) -> dict[str, str]:
    return {"PATH": f"{Path(NEWNS).parent}:/usr/local/bin:/usr/bin:/bin", "T": str(tree.base), "HOME": str(tree.base),
            "PS1": "PROMPT$ ", "TERM": "dumb", "LANG": "C.UTF-8"}


def interactive(tree: Tree, shell: str) -> Terminal:
    argv = ["/bin/bash", "--norc", "--noprofile", "-i"] if shell == "bash" else ["/bin/dash", "-i"]
    term = Terminal(tree.caller, argv, shell_env(tree), tree.base)
    term.expect(r"PROMPT\$ ")
    return term


READER = "sh -c 'echo running-$((6*7)); read x; echo got-$x'"
"""Prints running-42 (not in the line typed, which the terminal echoes), then reads a line."""


def suspend_and_resume(term: Terminal, command: str) -> None:
    """Start command, stop it with Ctrl-Z, see the job stopped, bring it back with fg (the
    terminal with it: it reads a line), then the same with bg, where reading the terminal
    stops it again."""
    term.send(command + "\n")
    term.expect("running-42")
    term.send("\x1a")  # Ctrl-Z
    term.expect("Stopped")
    term.expect(r"PROMPT\$ ")
    term.send("jobs\n")
    term.expect("Stopped")
    term.expect(r"PROMPT\$ ")
    term.send("fg\n")
    time.sleep(0.3)  # not a threshold: let fg hand the terminal over before typing
    term.send("one\n")
    term.expect("got-one")
    term.expect(r"PROMPT\$ ")
    term.send(command + "\n")
    term.expect("running-42")
    term.send("\x1a")
    term.expect("Stopped")
    term.expect(r"PROMPT\$ ")
    term.send("bg\n")
    term.expect(r"PROMPT\$ ")
    stopped_again(term)  # the job read the terminal in the background
    term.send("fg\n")
    time.sleep(0.3)
    term.send("two\n")
    term.expect("got-two")
    term.expect(r"PROMPT\$ ")


def stopped_again(term: Terminal) -> None:
    """Ask the shell for its jobs until it sees the job stopped, as a person would."""
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        term.send("jobs\n")
        found = term.expect(r"(Stopped|Running)[^\n]*\n(.|\n)*?PROMPT\$ ")
        if found.group(1) == b"Stopped":
            return
        time.sleep(0.1)
    raise AssertionError(f"the job never stopped: {term.text()!r}")


def interrupt(term: Terminal, command: str, key: str, status: int) -> None:
    term.send(command + "\n")
    term.expect("running-42")
    term.send(key)
    term.expect(r"PROMPT\$ ")
    term.send("echo status=$?\n")
    term.expect(f"status={status}")
    term.expect(r"PROMPT\$ ")


@pytest.mark.parametrize("shell", ["bash", "dash"])
@pytest.mark.parametrize("kind", list(FILES))
def test_ctrl_z_fg_bg_and_ctrl_c_from_a_shell(tree, kind, shell):
    ns = namespace(tree, kind)
    term = interactive(tree, shell)
    command = f"newns -f {ns} {READER}"
    suspend_and_resume(term, command)
    interrupt(term, command, "\x03", 130)  # Ctrl-C
    interrupt(term, command, "\x1c", 131)  # Ctrl-\
    term.send("jobs; echo jobs-done\n")
    term.expect("jobs-done")
    assert "Stopped" not in term.text()[term.seen :]
    term.send("exit 0\n")
    assert term.close() == 0


def test_ctrl_z_in_nested_newns(tree):
    proc, work = namespace(tree, "proc"), namespace(tree, "work")
    term = interactive(tree, "bash")
    command = f"newns -f {proc} newns -f {work} {READER}"
    suspend_and_resume(term, command)
    interrupt(term, command, "\x03", 130)
    term.send("exit 0\n")
    assert term.close() == 0


def test_ctrl_z_in_the_sandbox(tree):
    tree.make({"checkout/README": "hi\n"})
    term = interactive(tree, "bash")
    term.send(f"cd {tree / 'checkout'}\n")
    term.expect(r"PROMPT\$ ")
    suspend_and_resume(term, f"newns -f {NAMESPACES / 'sandbox'} {READER}")
    term.send("exit 0\n")
    assert term.close() == 0


def test_ctrl_z_under_rerootwin(tree):
    """A shell on another root (dash, alone in a tree) run by rerootwin under bash."""
    root = small_root(tree, "root")
    term = interactive(tree, "bash")
    term.send(f"export NSROOT={root}\n")
    term.expect(r"PROMPT\$ ")
    suspend_and_resume(term, f"newns -f {NAMESPACES / 'rerootwin'} /bin/sh -c 'echo running-$((6*7)); read x; echo got-$x'")
    term.send("exit 0\n")
    assert term.close() == 0


# -- exit statuses ------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGSEGV, signal.SIGQUIT],
                         ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("kind", list(FILES))
def test_a_command_killed_by_a_signal_ends_newns_by_it(tree, kind, sig):
    ns = namespace(tree, kind)
    result = tree.newns("-f", str(ns), "sh", "-c", f"ulimit -c 0; kill -{int(sig)} $$")
    assert result.returncode == -sig, result
    assert result.stderr == "", result.stderr
    assert not any(name.startswith("core") for name in os.listdir(tree.base))


@pytest.mark.parametrize("kind", list(FILES))
def test_exit_codes_pass_through(tree, kind):
    ns = namespace(tree, kind)
    for code in (0, 1, 7, 125, 126, 127, 255):
        assert tree.newns("-f", str(ns), "sh", "-c", f"exit {code}").returncode == code


# -- signals sent to newns ----------------------------------------------------------------------

SETUP_LINES = 400


def slow_setup(tree: Tree) -> Path:
    """A #proc namespace with hundreds of binds: a set-up long enough to be interrupted."""
    tree.make({f"d{i}/": "" for i in range(SETUP_LINES)})
    lines = ["mount '#proc' /proc"] + [f"bind $T/d{i} $T/d{i}" for i in range(SETUP_LINES)]
    return tree.ns("\n".join(lines) + "\n", "slow.ns")


TRAPPING = "trap 'exit 3' TERM INT; touch \"$T/ran\"; while :; do sleep 0.05; done"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_set_up_ends_newns_and_the_command_never_runs(tree, sig):
    """Sent at random moments: before the command starts, newns dies of it and the command
    never ran; after, the command got it (and its trap exits 3)."""
    ns = slow_setup(tree)
    start = time.monotonic()
    whole = spawn(tree, [NEWNS, "-f", str(ns), "true"])
    whole.communicate(timeout=HANG)
    span = time.monotonic() - start  # the scale for the random moments, not a threshold
    rng = random.Random(1234 + sig)
    outcomes = set()
    for _ in range(12):
        (tree / "ran").unlink(missing_ok=True)
        run = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", TRAPPING])
        newns_started(run.pid)
        time.sleep(rng.uniform(0, span * 1.5))
        run.send_signal(sig)
        out, err = run.communicate(timeout=HANG)
        ran = (tree / "ran").exists()
        if ran:
            assert run.returncode == 3, (run.returncode, err)
        else:
            assert run.returncode == -sig, (run.returncode, err)
        assert "Traceback" not in err and "internal error" not in err, err
        outcomes.add(ran)
    assert False in outcomes, "no signal arrived during set-up: the test proved nothing"


def unique_sleep() -> str:
    """A duration for sleep (600 seconds and a bit) that names this one process."""
    return f"600.{os.getpid()}{random.randrange(10**9):09d}"


def sleeping(marker: str) -> list[int]:
    """The processes running `sleep marker`, once there are some."""
    deadline = time.monotonic() + HANG
    while not (found := descendants_alive(marker)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def descendants_alive(marker: str) -> list[int]:
    """The processes running `sleep marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read() == f"sleep\0{marker}\0".encode():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("kind", STAYS)
def test_killing_newns_kills_the_command(tree, kind):
    ns = namespace(tree, kind)
    marker = unique_sleep()
    run = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", f"echo started; exec sleep {marker}"])
    assert run.stdout.readline() == "started\n"
    assert sleeping(marker)
    os.kill(run.pid, signal.SIGKILL)  # newns alone
    deadline = time.monotonic() + HANG
    run.communicate(timeout=HANG)
    while descendants_alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert descendants_alive(marker) == [], "the command outlived newns"


@pytest.mark.parametrize("kind", ["exec", "proc"])
def test_die_with_parent(tree, kind):
    ns = namespace(tree, kind)
    marker = unique_sleep()
    script = f"{NEWNS} --die-with-parent -f {ns} sh -c 'exec sleep {marker}' & echo $!; wait"
    parent = spawn(tree, ["sh", "-c", script])
    parent.stdout.readline()
    assert sleeping(marker)
    parent.kill()  # the caller dies
    deadline = time.monotonic() + HANG
    parent.communicate(timeout=HANG)
    while descendants_alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert descendants_alive(marker) == []


def test_orphans_in_the_pid_namespace_are_killed_when_the_command_exits(tree):
    ns = namespace(tree, "proc")
    marker = unique_sleep()
    result = tree.newns("-f", str(ns), "sh", "-c", f"(exec sleep {marker}) & echo left")
    assert (result.returncode, result.stdout) == (0, "left\n"), result
    deadline = time.monotonic() + HANG
    while descendants_alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert descendants_alive(marker) == []


# -- what the command inherits ------------------------------------------------------------------


def signal_state(text: str) -> dict[str, str]:
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines()) if k in ("SigIgn", "SigBlk")}


@pytest.mark.parametrize("kind", list(FILES))
def test_the_command_gets_the_callers_signal_dispositions_and_mask(tree, kind):
    ns = namespace(tree, kind)
    direct = tree.caller.run(["cat", "/proc/self/status"], cwd=tree.base)
    inside = tree.newns("-f", str(ns), "cat", "/proc/self/status")
    assert signal_state(inside.stdout) == signal_state(direct.stdout)
    pipe = tree.newns("-f", str(ns), "sh", "-c", "yes | head -1")
    assert (pipe.returncode, pipe.stdout, pipe.stderr) == (0, "y\n", "")


def test_a_signal_the_caller_ignores_stays_ignored(tree):
    ns = namespace(tree, "both")
    direct = tree.caller.run(["sh", "-c", "trap '' HUP; exec cat /proc/self/status"], cwd=tree.base)
    inside = tree.caller.run(["sh", "-c", f"trap '' HUP; exec {NEWNS} -f {ns} cat /proc/self/status"],
                             cwd=tree.base, env={"T": str(tree.base)})
    assert signal_state(inside.stdout) == signal_state(direct.stdout)
    assert int(signal_state(inside.stdout)["SigIgn"], 16) & (1 << (signal.SIGHUP - 1))


# -- --attach and --ns --------------------------------------------------------------------------------


def test_attach_joins_the_pid_namespace_of_a_proc_namespace(tree):
    ns = namespace(tree, "proc")
    marker = unique_sleep()
    holder = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", f"echo ready; exec sleep {marker}"])
    try:
        assert holder.stdout.readline() == "ready\n"
        [command] = sleeping(marker)
        result = tree.newns("--attach", str(command), "ps", "-e", "-o", "pid=,comm=")
        assert result.returncode == 0, result.stderr
        processes = [tuple(line.split()) for line in result.stdout.splitlines()]
        assert [name for _, name in processes] == ["newns", "sleep", "ps"], result.stdout  # the init, the command, ps
        assert processes[0][0] == "1"
        exited = tree.newns("--attach", str(command), "sh", "-c", "kill -TERM $$")
        assert exited.returncode == -signal.SIGTERM
    finally:
        holder.kill()
        holder.wait()


def test_ns_with_an_unreadable_working_directory_leaves_out_cd(tree):
    if not tree.caller.rootless:
        pytest.skip("root reads every process's working directory")
    result = tree.newns("--ns", "1")
    if result.returncode != 0 and "Permission denied" in result.stderr:
        pytest.skip("PID 1's mount table is not readable here")
    assert result.returncode == 0, result.stderr
    assert result.stdout and not any(line.startswith("cd ") for line in result.stdout.splitlines())


@pytest.mark.parametrize("value", ["0", "-1"])
def test_ns_of_something_that_is_neither_a_process_nor_a_name_is_a_usage_error(tree, value):
    result = tree.newns(f"--ns={value}")
    assert result.returncode == 2, result
    assert "Error:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["abc", "1x"])
def test_ns_of_a_name_no_namespace_is_posted_as_fails(tree, value):
    result = tree.newns(f"--ns={value}")
    assert result.returncode == 125, result
    assert result.stderr.startswith("newns: ") and "Traceback" not in result.stderr


def test_the_command_of_a_union_ends_with_its_background_processes(tree):
    """newns removes the union's work directories when the command is done: what the command
    left running, which uses them, ends with it, as in a PID namespace."""
    ns = namespace(tree, "work")
    marker = unique_sleep()
    result = tree.newns("-f", str(ns), "sh", "-c", f"(exec sleep {marker}) & echo left")
    assert (result.returncode, result.stdout) == (0, "left\n"), result
    assert descendants_alive(marker) == []


def test_signals_that_change_nothing_do_not_end_the_set_up(tree):
    """A terminal resized (SIGWINCH) or a job continued (SIGCONT) while newns builds."""
    ns = slow_setup(tree)
    for sig in (signal.SIGWINCH, signal.SIGCONT, signal.SIGURG):
        run = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", "echo ran"])
        for _ in range(20):
            time.sleep(0.005)
            run.send_signal(sig)
        out, err = run.communicate(timeout=HANG)
        assert (run.returncode, out) == (0, "ran\n"), (sig, run.returncode, err)


@pytest.mark.parametrize("kind", list(FILES))
def test_a_signal_to_newns_process_group_reaches_the_command_once(tree, kind):
    ns = namespace(tree, kind)
    script = 'n=0; trap "n=\\$((n+1))" USR1; echo ready; sleep 1; while [ $n -lt 1 ]; do sleep 0.1; done; sleep 1; echo got $n'
    run = spawn(tree, [NEWNS, "-f", str(ns), "sh", "-c", script], start_new_session=True)
    assert run.stdout.readline() == "ready\n"
    os.killpg(run.pid, signal.SIGUSR1)
    out, err = run.communicate(timeout=HANG)
    assert (run.returncode, out) == (0, "got 1\n"), err
