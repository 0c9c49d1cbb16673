"""The command's life: building its namespace, running it, and standing between it and the caller.

newns execs the command in place unless it must stay as its parent: to
remove overlay work directories afterwards, as the parent of the init of a
PID namespace (for #proc), or to put the command into another process's PID
namespace (--attach). Whatever stays:

- passes on the signals sent to it, and dies of the one that ends the
  command (so the caller sees "Killed", "Terminated", ...);
- stops when the command stops (Ctrl-Z), so the calling shell sees its job
  stopped, and resumes it on `fg` or `bg`, giving it the terminal back;
- makes the command and everything in its namespace die with it;
- hands the command exactly the signal dispositions and mask newns was given.

A signal that arrives before the command starts ends newns with that signal,
and the command never runs.
"""
from __future__ import annotations

import errno
import os
import select
import sys

from ..diagnostics import (
    EXIT_FAILURE, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, Where, error, fail,
    failure, note,
    report,
)
from ..plan import NEW_ROOT, Plan
from ..record import Record
from . import libc, namespaces, seccomp
from .cache import UnsafeCache, cache_dir
from .door import Door, Refused
from .world import find_executable

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: the signal module loads enum, slow at every start
    import signal
    from collections.abc import Callable

    from .relay import Relay
    from .sshfs import Importer
    from .workdirs import WorkArea
else:
    import _signal as signal  # its core, all newns needs

FORWARDED = frozenset((
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
    signal.SIGALRM, signal.SIGWINCH, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
))
"""Passed on to the command as they are. SIGCONT (fg, bg) continues the command, with the
terminal when newns has it."""
SUPERVISED = FORWARDED | {signal.SIGCHLD, signal.SIGCONT}
ENDING = FORWARDED - {signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH}
"""The forwarded signals whose default action ends a process."""
STOPS = frozenset((signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGSTOP))


class CallerSignals:
    """The signal dispositions and mask newns was started with, to give to the command.

    Python changes three before newns runs: it catches SIGINT (only when it was
    not ignored: that is told from the handler it put), and ignores SIGPIPE and
    SIGXFSZ, whose earlier state is lost: they go back to the default, which
    is what shells give the commands they run."""

    def __init__(self) -> None:
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        self.dispositions = {sig: signal.getsignal(sig) for sig in SUPERVISED}
        if self.dispositions[signal.SIGINT] is signal.default_int_handler:
            self.dispositions[signal.SIGINT] = signal.SIG_DFL
        self.dispositions[signal.SIGPIPE] = self.dispositions[signal.SIGXFSZ] = signal.SIG_DFL

    def default_int(self) -> None:
        """Let Ctrl-C end newns at once, as it would the command (status 130, no traceback)."""
        signal.signal(signal.SIGINT, self.dispositions[signal.SIGINT])

    def give_back(self) -> None:
        for sig, disposition in self.dispositions.items():
            signal.signal(sig, disposition)
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)


class Launch(Record):
    """What running a command in a namespace needs; replan makes the file's plan again
    without the operations given (by index), which the kernel refused. hold: for --post,
    no command: a pipe to tell the poster the holder's PID (P) and that it is ready (R),
    and /dev/null, which its standard error becomes then. importer: what mounts import
    lines; launch starts one when the plan has them."""

    plan: Plan
    replan: Callable[[frozenset[int]], Plan]
    argv: list[str]
    env: dict[str, str]
    cwd: str
    debug: bool
    die_with_parent: bool
    signals: CallerSignals
    hold: tuple[int, int] | None = None
    importer: Importer | None = None  # for import lines: started in the caller's namespaces
    relayed: bool = False  # on a terminal of its own, relayed by the newns above: see on_own_terminal


def launch(run: Launch) -> None:
    """Build the plan's namespace and run the command in it; never returns."""
    plan = run.plan
    if plan.imports and plan.settings.ids is not None and not namespaces.rootless():
        raise NewnsError(
            "import and user: as root, sshfs serves the imported tree to root alone, and a command "
            "dropped to other ids could not read it; import as the user those ids belong to",
            plan.settings.user_line,
        )
    if plan.imports and run.importer is None:
        run.importer = importer(run.env, rehearsal=False)
    if run.die_with_parent:
        caller = os.getppid()
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != caller:
            os._exit(EXIT_FAILURE)
    if plan.settings.ids is not None and plan.settings.ids[0] != os.geteuid() and not namespaces.rootless() and not run.relayed:
        run.relayed = on_own_terminal(plan.settings.ids[0])
    if not plan.work_dirs and not plan.pid_namespace and not run.relayed:
        _tell_holder(run, os.getpid())
        _unshare(plan, libc.CLONE_NEWNS)
        namespaces.make_mounts_private()
        _build(run, None)
        _exec(run)
    area = _work_area(run, plan) if plan.work_dirs else None
    terminal = _foreground_terminal()
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
    parent = libc.pidfd_open(os.getpid())
    if plan.pid_namespace:
        _unshare(plan, libc.CLONE_NEWPID)
        records, writable = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(records)
            _as_child(parent, lambda: _init(run, area, terminal, writable))
        os.close(writable)
        _close_importer(run)
        _tell_holder(run, pid)
        supervisor = Supervisor(pid, terminal, records=records)
    else:
        # The command's background processes, orphaned, come to newns: they use the
        # union whose work directories newns removes, and end with the command.
        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
        pid = os.fork()
        if pid == 0:
            _as_child(parent, lambda: _in_place(run, area, terminal))
        _close_importer(run)
        _tell_holder(run, pid)
        supervisor = Supervisor(pid, terminal)
    os.close(parent)
    status = supervisor.wait()
    if area is not None:
        area.remove()
    exit_like(status)


def on_own_terminal(uid: int) -> bool:
    """For a command root runs as uid: go on in a child on a terminal of its own (owned by
    uid), which this process relays to the caller's and stays to supervise; returns True in
    the child. False, in this process, when the caller has no terminal. The child must not
    exec in place: the command, in a session of its own, could not be stopped (Ctrl-Z)."""
    from .relay import Relay, caller_terminal  # decided before any namespace is made

    terminal = caller_terminal()
    if terminal is None:
        return False
    relay = Relay(terminal)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
    parent = libc.pidfd_open(os.getpid())
    pid = os.fork()
    if pid == 0:
        _die_with(parent)
        os.close(parent)
        relay.enter(uid)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return True
    os.close(parent)
    relay.started()
    supervisor = Supervisor(pid, None, relay=relay)
    status = supervisor.wait()
    exit_like(status)
    raise AssertionError("unreachable")


def _work_area(run: Launch, plan: Plan) -> WorkArea:
    from .workdirs import WorkArea  # only a union that creates in a real directory needs it

    assert plan.work_dirs is not None
    try:
        area = WorkArea(cache_dir(run.env), os.geteuid())
    except UnsafeCache as e:
        raise NewnsError(f"no place for overlayfs's work directories: {e.strerror}", plan.work_dirs) from None
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        raise NewnsError(
            f"no place for overlayfs's work directories: {where}{e.strerror}: set XDG_CACHE_HOME to a directory of your own",
            plan.work_dirs,
        ) from None
    if run.debug and area.stale:
        print(f"newns: removed {len(area.stale)} work directories of ended runs from {area.path}", file=sys.stderr)
    return area


def _in_place(run: Launch, area: WorkArea | None, terminal: int | None) -> None:
    """The child that becomes the command, in a process group of its own."""
    _own_group(terminal)
    signal.pthread_sigmask(signal.SIG_SETMASK, run.signals.mask)  # a signal sent so far ends it now
    _unshare(run.plan, libc.CLONE_NEWNS)
    namespaces.make_mounts_private()
    _build(run, area)
    _exec(run)


def _init(run: Launch, area: WorkArea | None, terminal: int | None, records: int) -> None:
    """PID 1 of the new PID namespace: builds the namespace (its /proc must be mounted from
    inside), runs the command as its child, reaps orphans, and tells the parent, on
    records, the command's PID (P), each stop (T) and how it ended (S).

    The init of a namespace gets no signal it has no handler for, so each one
    sent before the command runs ends it here, as it would have ended newns;
    job control (stop, continue, the terminal) is the parent's, which signals
    the command itself. The init runs under the command's seccomp filter too: a
    command running as root could otherwise make it push input into the terminal."""
    command = 0

    def on_signal(sig: int, _frame: object) -> None:
        if command:
            os.kill(command, sig)
        else:
            os.write(records, b"S%d\0" % sig)  # a wait status: killed by sig
            os._exit(0)

    os.setpgid(0, 0)  # no signal for newns's process group reaches the init too
    for sig in ENDING:
        if run.signals.dispositions[sig] is not signal.SIG_IGN:
            signal.signal(sig, on_signal)
    signal.pthread_sigmask(signal.SIG_SETMASK, run.signals.mask)
    namespaces.unshare_more(libc.CLONE_NEWNS)
    namespaces.make_mounts_private()
    _build(run, area)
    _close_importer(run)
    seccomp.keep_out_of_the_terminal()
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)  # the command's until it execs: see execute()
    pid = os.fork()
    if pid == 0:
        os.close(records)
        _own_group(terminal)
        _exec(run)
    signal.pthread_sigmask(signal.SIG_SETMASK, run.signals.mask)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    command = pid
    os.write(records, b"P%d\0" % pid)
    while True:
        done, status = os.waitpid(-1, os.WUNTRACED)
        if done != pid:
            continue
        if os.WIFSTOPPED(status):
            os.write(records, b"T%d\0" % os.WSTOPSIG(status))
            continue
        os.write(records, b"S%d\0" % status)
        os._exit(0)  # the kernel kills what the command left in the namespace


def _own_group(terminal: int | None) -> None:
    """Lead a process group of its own, in the terminal's foreground when there is one (the
    caller blocked SIGTTOU): a signal sent to newns's group reaches the command once,
    through newns, and a shell in the namespace can see its group."""
    os.setpgid(0, 0)
    if terminal is not None:
        os.tcsetpgrp(terminal, os.getpgrp())


def _as_child(parent: int, body: object) -> None:
    """Run body in a forked child that dies with its parent (a pidfd of it); never returns."""
    try:
        _die_with(parent)
        os.close(parent)
        body()  # type: ignore[operator]
    except BaseException as exception:
        fail(failure(exception))
    finally:
        os._exit(EXIT_FAILURE)


def _die_with(parent: int) -> None:
    """Be killed when the parent (held by a pidfd) dies; if it has already, go now. (getppid
    can't tell: in a new PID namespace it is 0.)"""
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([parent], [], [], 0)[0]:
        os._exit(EXIT_FAILURE)


def importer(env: dict[str, str], *, rehearsal: bool) -> Importer:
    """What mounts import lines, started here, before newns leaves the caller's namespaces:
    sshfs runs with env, the environment newns was started with."""
    from .sshfs import Importer

    return Importer(dict(env), rehearsal=rehearsal)


def _unshare(plan: Plan, flags: int) -> None:
    """New namespaces of these kinds and of those the plan gives the command beyond mounts
    (network, IPC, UTS), set up as it says."""
    kinds = 0
    for kind in plan.settings.isolated:
        kinds |= namespaces.ISOLATING[kind]
    namespaces.unshare(flags | kinds)
    namespaces.isolate(plan.settings.isolated, plan.settings.hostname)


def _build(run: Launch, area: WorkArea | None, found: list[Diagnostic] | None = None) -> Plan:
    """Build the namespace (this process is in a new one of its own) and enter it; the plan
    that went through (see _built). The command's environment becomes the plan's."""
    plan = _built(run, area, found)
    if plan.cleared:
        os.chdir(NEW_ROOT)
        libc.pivot_root(b".", b".")
        libc.umount_detach(b".")
        os.chdir("/")
    if plan.settings.env is not None:
        file = run.env.get("NEWNS")
        run.env.clear()
        run.env.update(plan.settings.env)
        if file is not None:
            run.env["NEWNS"] = file
    if plan.cwd_where is not None:
        try:
            os.chdir(plan.cwd)
        except OSError as e:
            raise NewnsError(f"cd {plan.cwd}: {e.strerror} (in the new namespace)", plan.cwd_where) from None
        run.env["PWD"] = plan.cwd
    elif try_chdir(run.cwd):
        run.env["PWD"] = run.cwd
    else:
        try_chdir("/")
        run.env["PWD"] = "/"
    return plan


def _built(run: Launch, area: WorkArea | None, found: list[Diagnostic] | None = None, *, again: bool = True) -> Plan:
    """Carry out the plan in this process's mount namespace; the plan that went through.

    A -q line the kernel refuses is left out: the namespace is built again,
    from a copy of it kept before the first mount (again), by the plan made
    without that line (unless that plan needs work directories the first did
    not: they are prepared, and newns stays to remove them, only from the
    start). found: --check's problems; it goes on likewise past each line
    refused, to find the next, MAX_PROBLEMS at most."""
    plan, skipped, pristine = run.plan, set(), None
    if again and (found is not None or any(action.quiet for action in plan.actions)):
        pristine = namespaces.keep_copy()
    try:
        while True:
            door = Door(
                debug=run.debug, rootless=namespaces.rootless(), work=area, importer=run.importer,
                rehearsal=found is not None,
            )
            try:
                door.run(plan)
                return plan
            except Refused as refused:
                action = refused.action
                if action.op is None or pristine is None or not action.quiet and found is None:
                    raise refused.problem from None
                if not action.quiet:
                    found += refused.problem.diagnostics  # type: ignore[operator]
                elif run.debug:
                    report([note(f"skipped (-q): {d.message}", d.where) for d in refused.problem.diagnostics])
                skipped.add(action.op)
                left_out = action.where
                if len(skipped) >= MAX_PROBLEMS:
                    stop = TooManyProblems(f"the kernel refused {MAX_PROBLEMS} lines: newns builds no further", left_out)
                    if found is None:
                        raise NewnsError.of([stop]) from None
                    found.append(stop)
                    return plan
            finally:
                door.close()
            namespaces.start_over(pristine)
            plan = run.replan(frozenset(skipped))
            if plan.work_dirs and not run.plan.work_dirs:
                raise NewnsError(
                    f"refused, and left out (-q): without this line, the union of line {plan.work_dirs.line} takes "
                    "creations in a real directory, whose work directories newns prepares only when the whole "
                    "file needs them: take -q off this line",
                    left_out,
                ) from None
    finally:
        if pristine is not None:
            os.close(pristine)


def _close_importer(run: Launch) -> None:
    """Let the sshfs server end once the namespace is built: only the builder talks to it."""
    if run.importer is not None:
        run.importer.close()


def _tell_holder(run: Launch, pid: int) -> None:
    """For --post: the process whose namespaces a later --attach joins (the holder, or the
    init of its PID namespace), by its PID in the poster's PID namespace."""
    if run.hold is not None:
        os.write(run.hold[0], b"P%d\0" % pid)


def _hold(run: Launch) -> None:
    """For --post: tell the poster the namespace is ready, let go of its standard error, and
    keep the namespace alive until killed (--unpost); never returns."""
    assert run.hold is not None
    _close_importer(run)
    ready, null = run.hold
    os.write(ready, b"R\0")
    os.close(ready)
    os.dup2(null, 2)
    os.close(null)
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
    while True:
        signal.sigwait(SUPERVISED)


def _exec(run: Launch) -> None:
    """Exec the command, with the file's `user` ids: as root, dropped to them with no
    privilege left (user 0 stays root, in those groups); rootless, mapped to them in a user
    namespace of the command's own. For --post, hold the namespace instead."""
    if run.hold is not None:
        _hold(run)
    ids = run.plan.settings.ids
    if ids is not None and namespaces.rootless():
        namespaces.nested_user(*ids)
    elif ids is not None and ids[0] == 0:
        os.setgroups([])
        os.setresgid(ids[1], ids[1], ids[1])
    elif ids is not None:
        namespaces.become(*ids)
    execute(run.argv, run.env, run.signals, no_new_privs=not run.plan.settings.setuid_allowed)


def try_chdir(path: str) -> bool:
    """Go to path; whether that worked."""
    try:
        os.chdir(path)
        return True
    except OSError:
        return False


def _foreground_terminal() -> int | None:
    """A descriptor of the terminal whose foreground newns is in, if it is."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd
        except OSError:
            continue
    return None


# -- the parent that stays ---------------------------------------------------------


class Supervisor:
    """The newns that waits for the command: forwards signals, mirrors stops, returns its status.

    child is newns's child: the command itself, or the init that runs it (then
    records carries what the init tells). Each leads a process group of its own;
    the command has the terminal when newns had it, and newns hands it back
    whenever the shell resumes newns in the foreground."""

    def __init__(self, child: int, terminal: int | None, *, records: int | None = None, relay: Relay | None = None) -> None:
        self.child = child
        self.terminal = terminal
        self.records = records
        self.relay = relay
        self.target = child  # where signals go: the command once known, else the child
        self.signals = libc.SignalFd(SUPERVISED)
        self.backlog: list[int] = []  # signals read, to be handled in order
        if relay is not None:
            return  # the child makes a session of its own
        try:
            os.setpgid(child, child)
        except OSError:
            pass  # the child did it, and may have exec'd already

    def wait(self) -> int:
        """The command's wait status, once it and the child have ended."""
        child_status: int | None = None
        command_status: int | None = None
        pending = b""
        while child_status is None or self.records is not None:
            readable = [self.signals.fd] + ([self.records] if self.records is not None else [])
            if self.relay is not None:
                readable += self.relay.readable()
            ready, _, _ = select.select(readable, [], [])
            if self.relay is not None:
                self.relay.pump(ready)
            if self.records is not None and self.records in ready:
                chunk = os.read(self.records, 4096)
                if not chunk:
                    os.close(self.records)
                    self.records = None
                pending += chunk
                *done, pending = pending.split(b"\0")
                for record in done:
                    command_status = self._record(record, command_status)
            if self.signals.fd in ready:
                self.backlog += self.signals.read()
            while self.backlog:
                sig = self.backlog.pop(0)
                if sig == signal.SIGCHLD:
                    child_status = self._reap(child_status)
                elif sig == signal.SIGCONT:
                    self._resume()
                elif sig == signal.SIGWINCH and self.relay is not None:
                    self.relay.resize()
                else:
                    self._forward(sig)
        self.signals.close()
        if self.relay is not None:
            self.relay.close()
        self._restore_terminal()
        return command_status if command_status is not None else child_status

    def _record(self, record: bytes, status: int | None) -> int | None:
        kind, value = record[:1], int(record[1:] or 0)
        if kind == b"P":
            self.target = _only_child(self.child)
        elif kind == b"T" and _stopped(self.target):  # not one the command was continued from since
            self._stop_like(value)
        elif kind == b"S":
            return value
        return status

    def _reap(self, status: int | None) -> int | None:
        """The child's wait status once it has ended; its stops are mirrored; orphans newns
        adopted (it is their subreaper) are reaped, and once the child has ended, killed."""
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                return status
            if pid == 0:
                break
            if pid != self.child:
                continue
            if os.WIFSTOPPED(wait_status):
                self._stop_like(os.WSTOPSIG(wait_status))
            else:
                status = wait_status
        if status is not None:
            _end_orphans()
        return status

    def _forward(self, sig: int) -> None:
        try:
            os.kill(self.target, sig)
        except ProcessLookupError:
            pass

    def _stop_like(self, sig: int) -> None:
        """The command stopped: stop newns the same way, so the shell sees its job stopped;
        once resumed (fg, bg), resume the command. A command with a process group of its
        own that stopped to use the terminal (SIGTTIN, SIGTTOU) while newns has it is given
        it, and goes on."""
        arrived = self.signals.read()
        self.backlog += [s for s in arrived if s != signal.SIGCONT]
        if signal.SIGCONT in arrived:
            self._resume()  # newns was continued (fg, bg) after the command stopped
            return
        if self.relay is not None:
            self.relay.give_back()
            sig = signal.SIGTSTP  # what stopped was the newns on the relay's terminal: stop as Ctrl-Z does
        if sig == signal.SIGSTOP or os.getsid(0) == os.getpid():
            # a session leader's group is orphaned: the kernel would drop a SIGTSTP to it
            os.kill(os.getpid(), signal.SIGSTOP)
        else:
            pending = sig in signal.sigpending()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
            # the last look, as close to the stop as can be: the shell may have given
            # newns the terminal (fg) since the command stopped for it
            handed = sig in (signal.SIGTTIN, signal.SIGTTOU) and self._has_terminal()
            if not pending and not handed:
                os.kill(os.getpid(), sig)
            signal.pthread_sigmask(signal.SIG_BLOCK, [sig])
        self._resume()

    def _has_terminal(self) -> bool:
        return self.terminal is not None and _foreground(self.terminal)

    def _resume(self) -> None:
        """Continue the command; with the terminal, when newns is in its foreground again."""
        if self.relay is not None:
            self.relay.take()
        try:
            if self._has_terminal():
                os.tcsetpgrp(self.terminal, self.target)  # type: ignore[arg-type]
            os.killpg(self.target, signal.SIGCONT)
        except OSError:
            pass

    def _restore_terminal(self) -> None:
        """Take the terminal back from the command's ended process group."""
        if self.terminal is None:
            return
        try:
            if os.tcgetpgrp(self.terminal) != os.getpgrp():
                os.tcsetpgrp(self.terminal, os.getpgrp())
        except OSError:
            pass


def _end_orphans() -> None:
    """Kill and reap every child left (orphans adopted as their subreaper), until none is."""
    while True:
        children = _children(os.getpid())
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return False
    return text[text.rindex(")") + 2 : text.rindex(")") + 3] == "T"


def _foreground(terminal: int) -> bool:
    try:
        return os.tcgetpgrp(terminal) == os.getpgrp()
    except OSError:
        return False


def _only_child(pid: int) -> int:
    """The PID, as seen here, of pid's one child (the command an init started)."""
    children = _children(pid)
    return children[0] if children else pid


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(word) for word in f.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def exit_like(status: int) -> None:
    """Exit as a child with this wait status did: the same code, or the same signal (without
    leaving a core file of newns's own); 128+N where the signal can't end newns."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        libc.prctl(libc.PR_SET_DUMPABLE, 0)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def run_joined(argv: list[str], env: dict[str, str], signals: CallerSignals) -> None:
    """Run the command as a child, in the PID namespace this process joined; never returns."""
    terminal = _foreground_terminal()
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
    parent = libc.pidfd_open(os.getpid())
    pid = os.fork()
    if pid == 0:

        def command() -> None:
            _own_group(terminal)
            execute(argv, env, signals, no_new_privs=True)

        _as_child(parent, command)
    os.close(parent)
    exit_like(Supervisor(pid, terminal).wait())


# -- exec ------------------------------------------------------------------------------


def find_command(name: str, env: dict[str, str]) -> str:
    """The file a shell would run for name; exits 127 or 126 as a shell does."""
    if "/" in name:
        return name
    found, denied = find_executable(name, env.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
    if found is not None:
        return found
    if denied:
        fail([error(f"{denied}: permission denied")], EXIT_NOT_EXECUTABLE)
    fail([error(f"{name}: command not found")], EXIT_NOT_FOUND)
    raise AssertionError("unreachable")


def execute(argv: list[str], env: dict[str, str], signals: CallerSignals, *, no_new_privs: bool) -> None:
    """Replace newns with the command: the caller's signals back, no privilege to gain, no
    way into the terminal's input. Exits 126/127 when it can't be run."""
    path = find_command(argv[0], env)
    signals.give_back()
    if no_new_privs:
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    seccomp.keep_out_of_the_terminal()
    try:
        os.execve(path, argv, env)
    except (OSError, ValueError) as e:
        err = getattr(e, "errno", None)
        code = EXIT_NOT_FOUND if err in (errno.ENOENT, errno.ENOTDIR) else EXIT_NOT_EXECUTABLE
        fail([error(f"{argv[0]}: {getattr(e, 'strerror', None) or e}")], code)


# -- --check and --attach: a plan carried out where nothing is kept -----------------


def carry_out(
    run: Launch, joined: namespaces.Joined | None = None, *, throwaway: bool = True
) -> tuple[list[Diagnostic], frozenset[int]]:
    """Carry out the plan in a child, with no command: the problems found, at their lines
    (none when it went through), and the operations left out because the kernel refused
    them (-q lines; with throwaway, any line, so as to find the next problem).

    throwaway: in new namespaces made and dropped like a run's (for --check),
    or in a copy of the namespace this process joined (to try an --attach
    first); else in the joined namespace itself. The child is forked after the
    join, so that it is in the joined PID namespace, where /proc/self is its own."""
    plan = run.plan
    area = _work_area(run, plan) if plan.work_dirs and not throwaway else None  # a rehearsal stands in a tmpfs
    if plan.imports and (throwaway or run.importer is None):
        run.importer = importer(run.env, rehearsal=True)
    readable, writable = os.pipe()
    parent = libc.pidfd_open(os.getpid())
    pid = os.fork()
    if pid == 0:
        os.close(readable)
        _as_child(parent, lambda: _carry(run, area, joined, throwaway, writable))
    os.close(parent)
    os.close(writable)
    data = b""
    while chunk := os.read(readable, 65536):
        data += chunk
    os.close(readable)
    _, status = os.waitpid(pid, 0)
    if area is not None:
        area.remove()
    lines = {(a.where.file, a.where.line, a.where.col): a.where for a in plan.actions}
    found, skipped = [], set()
    for record in data.decode("utf-8", "surrogateescape").split("\0\0")[:-1]:
        kind, *fields = record.split("\0", 4)
        if kind == "S":
            skipped.add(int(fields[0]))
        if kind != "E":
            continue
        file, line, col, message = fields
        where = lines.get((file, int(line), int(col))) or (Where(file, int(line), int(col), "") if file else None)
        found.append(error(message, where))
    if not data.endswith(b"D\0\0") and not found:
        found.append(error("carrying out the plan ended unexpectedly"))
    return found, frozenset(skipped)


def _carry(run: Launch, area: WorkArea | None, joined: namespaces.Joined | None, throwaway: bool, out: int) -> None:
    """The child of carry_out: writes on out each problem (E), each operation left out (S),
    and D when it is done."""
    found: list[Diagnostic] = []
    skipped: frozenset[int] = frozenset()
    collect = found if throwaway else None
    try:
        if joined is not None:
            if throwaway:
                namespaces.unshare_more(libc.CLONE_NEWNS)
                namespaces.make_mounts_private()
            skipped = _skipped(run, _built(run, None, collect, again=throwaway))
        elif run.plan.pid_namespace:
            _unshare(run.plan, libc.CLONE_NEWPID)
            parent = libc.pidfd_open(os.getpid())
            pid = os.fork()
            if pid == 0:  # the init: #proc can only be mounted from inside
                _die_with(parent)
                namespaces.unshare_more(libc.CLONE_NEWNS)
                namespaces.make_mounts_private()
                _tell(out, found, _skipped(run, _build(run, area, collect)))
            _, status = os.waitpid(pid, 0)
            os._exit(0)
        else:
            _unshare(run.plan, libc.CLONE_NEWNS)
            namespaces.make_mounts_private()
            skipped = _skipped(run, _build(run, area, collect))
    except (OSError, NewnsError) as problem:
        found += failure(problem)
    _tell(out, found, skipped)


def _skipped(run: Launch, plan: Plan) -> frozenset[int]:
    """The operations the plan that went through left out, of those the file has."""
    done = {action.op for action in plan.actions}
    return frozenset(op for op in {action.op for action in run.plan.actions} - done if op is not None)


def _tell(out: int, found: list[Diagnostic], skipped: frozenset[int]) -> None:
    """Write to the parent, NUL-separated, each record ended by two NULs: E, file, line,
    column and message for a problem; S and an operation's index; D at the end. Then end."""
    records = [["E", *([d.where.file, str(d.where.line), str(d.where.col)] if d.where else ["", "0", "0"]), d.message] for d in found]
    records += [["S", str(op)] for op in sorted(skipped)] + [["D"]]
    os.write(out, "".join("\0".join(r) + "\0\0" for r in records).encode("utf-8", "surrogateescape"))
    os._exit(0)
