"""The newns that stays as the command's parent, and what it hands the command.

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

import os
import select

from ..diagnostics import EXIT_FAILURE, fail, failure
from . import libc

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: the signal module loads enum, slow at every start
    import signal
    from collections.abc import Callable

    from .relay import Relay
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


def own_group(terminal: int | None) -> None:
    """Lead a process group of its own, in the terminal's foreground when there is one (the
    caller blocked SIGTTOU): a signal sent to newns's group reaches the command once,
    through newns, and a shell in the namespace can see its group."""
    os.setpgid(0, 0)
    if terminal is not None:
        os.tcsetpgrp(terminal, os.getpgrp())


def as_child(parent: int, body: object) -> None:
    """Run body in a forked child that dies with its parent (a pidfd of it); never returns."""
    try:
        die_with(parent)
        os.close(parent)
        body()  # type: ignore[operator]
    except BaseException as exception:
        fail(failure(exception))
    finally:
        os._exit(EXIT_FAILURE)


def die_with(parent: int) -> None:
    """Be killed when the parent (held by a pidfd) dies; if it has already, go now. (getppid
    can't tell: in a new PID namespace it is 0.)"""
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([parent], [], [], 0)[0]:
        os._exit(EXIT_FAILURE)


def foreground_terminal() -> int | None:
    """A descriptor of the terminal whose foreground newns is in, if it is."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd
        except OSError:
            continue
    return None


class Supervisor:
    """The newns that waits for the command: forwards signals, mirrors stops, returns its status.

    child is newns's child: the command itself, or the init that runs it (then
    records carries what the init tells). Each leads a process group of its own;
    the command has the terminal when newns had it, and newns hands it back
    whenever the shell resumes newns in the foreground."""

    def __init__(
        self, child: int, terminal: int | None, *, records: int | None = None, relay: Relay | None = None,
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        self.child = child
        self.terminal = terminal
        self.records = records
        self.relay = relay
        self.on_stop = on_stop
        """Called as the command stops, before newns stops itself (--cpu tells the caller's side)."""
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
        if self.on_stop is not None:
            self.on_stop()
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
