"""--cpu: a command on another machine, with the caller's namespace at /mnt/term there.

Everything goes over one SSH connection, the caller's own ssh with the caller's
configuration. Its first session (the connection's master) runs a short bootstrap
in the far side's python3, which reads newns's own modules as a zip and the request
(the file's lines, already read here; the caller's environment, working directory
and command), then answers R when it is ready for SFTP (farside.hold). From then on
that session's streams are SFTP: this side's sftp-server, run as the caller in the
caller's namespace, answers sshfs there. The second session, through the master's
control socket, runs the command there (farside.join), with the caller's standard
streams and terminal. Every process started here dies with newns (a death signal),
and the far side ends everything once its session's connection does.
"""
from __future__ import annotations

import io
import json
import os
import select
import shlex
import shutil
import tempfile
import zipfile

from ..diagnostics import EXIT_FAILURE, NewnsError
from . import libc
from .farside import STOPPED
from .relay import Relay
from .sshfs import has_terminal
from .supervisor import CallerSignals

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal  # its core, all newns needs

SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
)
"""Where OpenSSH's packages put sftp-server: Debian and Ubuntu, Fedora, Arch, Alpine."""

BOOT = r"""import os,sys
if sys.version_info<(3,11):os.write(1,b"V "+sys.version.split()[0].encode()+b"\n");sys.exit(125)
def read(n):
 b=b""
 while len(b)<n:
  c=os.read(0,n-len(b))
  if not c:sys.exit(125)
  b+=c
 return b
z=os.memfd_create("newns")
os.write(z,read(int(read(12))))
sys.path.insert(0,"/proc/self/fd/%d"%z)
from newns.linux.farside import hold
hold(z,read)"""
"""The first session's program: newns's modules from standard input into a memfd, imported from there."""

JOIN = 'import sys;sys.path.insert(0,"/proc/{0}/fd/{1}");from newns.linux.farside import join;join({0},{2})'
"""The second session's program: newns's modules from the holder's memfd."""

PYTHON = "exec python3 -I -S -c "
FAR_END = 30
"""Seconds the far side has, once its input ended, to remove what the run made there before its
ssh is killed (ssh 9.2 can miss a SIGTERM that comes as it begins to wait, so it is not asked)."""
WATCHED = (signal.SIGWINCH, signal.SIGCONT)
"""What newns acts on while the command runs, relaying a terminal: the caller's window size,
and fg or bg."""


def run(host: str, files: list[tuple[str, str, str]], argv: list[str], env: dict[str, str], cwd: str,
        signals: CallerSignals) -> None:
    """Run argv on host as the module says; never returns. files: the file's lines (nsfile.entries)."""
    sftp = next((path for path in SFTP_SERVERS if os.access(path, os.X_OK)), None)
    if sftp is None:
        raise NewnsError(
            "--cpu: no sftp-server here to serve your namespace: apt install openssh-sftp-server "
            "(Debian, Ubuntu), dnf install openssh-server (Fedora)"
        )
    request = json.dumps({"host": host, "files": files, "env": env, "cwd": cwd, "argv": argv}).encode()
    place = tempfile.mkdtemp(prefix="newns-cpu-", dir=env.get("XDG_RUNTIME_DIR") or None)
    _remove_after_newns(place)
    said = os.path.join(place, "said")
    ssh = ["ssh", "-S", os.path.join(place, "control"), "-E", said, "-o", "ConnectTimeout=30", "-e", "none"]
    if not has_terminal():
        ssh += ["-o", "BatchMode=yes"]
    far_in, to_far = os.pipe()
    from_far, far_out = os.pipe()
    far_errors, far_err = os.pipe()
    master = _spawn(
        [*ssh, "-M", "-o", "ControlPersist=no", "-T", "--", host, PYTHON + shlex.quote(BOOT)],
        env, signals, (far_in, far_out, far_err),
    )
    for fd in (far_in, far_out, far_err):
        os.close(fd)
    try:
        payload = _package()
        libc.write_all(to_far, b"%12d" % len(payload) + payload + b"%12d" % len(request) + request)
    except BrokenPipeError:
        pass
    answer = _line(from_far)
    if not answer.startswith(b"R "):
        os.close(to_far)
        os.close(from_far)
        _, status = os.waitpid(master, 0)
        raise NewnsError(_why(host, answer, status, _said(said) + _said_by(far_errors)))
    holder, payload_fd, told = (int(word) for word in answer.split()[1:])
    server = _spawn([sftp], env, signals, (from_far, to_far, 2))
    os.close(from_far)
    os.close(to_far)
    terminal = os.isatty(0) and os.isatty(1)
    session = Session(host, [*ssh, "-o", "ControlMaster=no", "-o", "ProxyCommand=false"], env, signals)
    status = session.run(PYTHON + shlex.quote(JOIN.format(holder, payload_fd, told)), terminal, far_errors)
    os.kill(server, signal.SIGKILL)
    os.waitpid(server, 0)
    _ended(master)  # the far side ends at the end of its input: its namespace gone, its work directories removed
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 255 and _said(said):
        raise NewnsError(f"--cpu {host}: {_said(said)[0]}")  # the first line: ssh's reason, not its retries
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status))


class Session:
    """The command's session, through the master alone (never a connection of its own: no
    ProxyCommand); its stops on the far side (farside.STOPPED, on the first session's
    error stream) are mirrored here as a local command's are.

    With a terminal, ssh gets a terminal of its own, relayed to the caller's while newns
    is in its foreground (relay.py): ssh reads its terminal whenever something is typed,
    and on the caller's it would do so from the background too (after Ctrl-Z and `bg`),
    which stops the job (SIGTTIN) where a local command runs on."""

    def __init__(self, host: str, ssh: list[str], env: dict[str, str], signals: CallerSignals) -> None:
        self.host, self.ssh, self.env, self.signals = host, ssh, env, signals
        self.pid = 0
        self.relay: Relay | None = None

    def run(self, command: str, terminal: bool, far_errors: int) -> int:
        """The session's wait status; meanwhile the far side's error stream goes to newns's."""
        self.relay = Relay(0) if terminal else None
        signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
        watched = libc.SignalFd(WATCHED)
        self.pid = _spawn([*self.ssh, "-t" if terminal else "-T", "--", self.host, command], self.env, self.signals,
                          (0, 1, 2), self.relay)
        if self.relay is not None:
            self.relay.started()
        ended = libc.pidfd_open(self.pid)
        held = b""
        errors = [far_errors]
        while True:
            ready = select.select([ended, watched.fd, *errors, *(self.relay.readable() if self.relay else [])], [], [])[0]
            if self.relay is not None:
                self.relay.pump(ready)
            if watched.fd in ready:
                self._signalled(watched.read())
            if ended in ready:
                break
            if far_errors not in ready:
                continue
            chunk = os.read(far_errors, 65536)
            if not chunk:
                errors.remove(far_errors)
            *lines, held = (held + chunk).split(b"\n")
            if b"\0" not in held:
                lines.append(held)
                held = b""
            for line in lines:
                before, far = _stop_told(line)
                libc.write_all(2, before + (b"" if far is not None else b"\n") if line else b"")
                if far is not None:
                    self._stop(far)
        os.close(ended)
        watched.close()
        if self.relay is not None:
            self.relay.close()
        return os.waitpid(self.pid, 0)[1]

    def _signalled(self, signals: list[int]) -> None:
        """The caller's window changed (SIGWINCH), or newns was continued (SIGCONT: fg, bg)."""
        for sig in signals:
            if self.relay is not None and sig == signal.SIGWINCH:
                self.relay.resize()
            elif self.relay is not None:
                self.relay.take()

    def _stop(self, far: int) -> None:
        """The command stopped on the far side as far (its supervisor's PID there): stop here as
        a local command does, the terminal as it was; once continued (fg, bg), continue the
        far side."""
        if self.relay is not None:
            self.relay.give_back()
        os.kill(os.getpid(), signal.SIGTSTP)
        if self.relay is not None:
            self.relay.take()
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        os.waitpid(_spawn([*self.ssh, "-T", "--", self.host, f"kill -CONT {far}"], self.env, self.signals,
                          (null, null, null)), 0)
        os.close(null)


def _stop_told(line: bytes) -> tuple[bytes, int | None]:
    """A line of the far side's error stream: the text before a stop join told (STOPPED),
    and the stopped PID; the whole line, and None, where it holds no well-formed one. What
    else can write there (sshfs; as root there, a command that is root) may forge a stop,
    which costs no more than a stop the caller continues."""
    before, marker, pid = line.partition(STOPPED.split(b"%")[0])
    if not marker or not pid.isdigit() or len(pid) > 10:
        return line, None
    return before, int(pid)


def _remove_after_newns(place: str) -> None:
    """Have place removed once newns has ended, however it ends: by a child in a session of
    its own (no signal for newns's job reaches it) that waits for newns's end."""
    parent = libc.pidfd_open(os.getpid())
    if os.fork() == 0:
        try:
            os.setsid()
            libc.close_all_but((parent,))
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            select.select([parent], [], [])
            shutil.rmtree(place, ignore_errors=True)
        finally:
            os._exit(0)
    os.close(parent)


def explain(host: str, lines: list[str]) -> list[str]:
    """What run does on each side, the file's lines among it."""
    return [
        f"here: ssh -M {host} (your ssh, your ~/.ssh/config): the connection; its first session runs python3 "
        "there, sent newns's modules and the request (the file's lines, your environment, working directory "
        "and command)",
        f"{host}: work directories in ~/.cache/newns there, for a union taking creations in a real directory; "
        "unshare CLONE_NEWUSER (unless root there), CLONE_NEWNS, CLONE_NEWPID; the new PID namespace's init builds "
        f"the namespace (a #proc is its own): where {host} has no /mnt/term, a #tmpfs in a union before /mnt "
        "(mount -bc; rootless, where mounts are under /mnt, a #tmpfs on it)",
        f"{host}: sshfs -o passive at /mnt/term, over the first session, started outside those namespaces by a "
        "process forked before them, which alone holds the session; sshfs speaks SFTP to:",
        "here: sftp-server, as you, in your namespace: your / at /mnt/term",
        *(f"{host}: {line}" for line in lines),
        f"here: ssh -t (-T without a terminal) {host}, through the connection: the command's session",
        f"{host}: join those namespaces; run the command (default: your shell there) in /mnt/term followed by "
        "your working directory, with the file's user ids; its end ends sftp-server, then the connection, "
        "sshfs and the process that started it, the init and all in its PID namespace; the work directories are "
        "removed",
    ]


def _spawn(argv: list[str], env: dict[str, str], signals: CallerSignals, fds: tuple[int, int, int],
           relay: Relay | None = None) -> int:
    """A process with these descriptors as 0-2 (those that are the caller's terminal: the
    relay's, when given), killed when newns dies."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(EXIT_FAILURE)
            moved = [os.dup(fd) for fd in fds]
            for target, fd in enumerate(moved):
                os.dup2(fd, target)
            if relay is not None:
                relay.enter(os.getuid())
            libc.close_all_but(())
            signals.give_back()
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


def _package() -> bytes:
    """newns's modules, as a zip Python imports from."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory, subdirectories, names in os.walk(package):
            subdirectories[:] = [d for d in subdirectories if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    archive.write(path, os.path.relpath(path, os.path.dirname(package)))
    return data.getvalue()


def _line(fd: int) -> bytes:
    """A line the far side wrote first (without its newline; empty at the end of input)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line.rstrip(b"\n")


def _ended(pid: int) -> None:
    """Wait for ssh (pid) to end, and end it after FAR_END seconds."""
    held = libc.pidfd_open(pid)
    try:
        if not select.select([held], [], [], FAR_END)[0]:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(held)
    os.waitpid(pid, 0)


def _said(log: str) -> list[str]:
    """What ssh said in its log (-E), but that it added a host key or closed as asked."""
    try:
        with open(log, "rb") as f:
            return _lines(f.read())
    except FileNotFoundError:
        return []


def _said_by(fd: int) -> list[str]:
    """What an ended far side wrote to a pipe."""
    return _lines(libc.read_to_end(fd))


def _lines(data: bytes) -> list[str]:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line and not line.startswith(("Warning: Permanently added", "Shared connection"))]


def _why(host: str, answer: bytes, status: int, lines: list[str]) -> str:
    """One line on why the far side never became ready: its own word, or ssh's."""
    if answer.startswith(b"E "):
        return "--cpu " + answer[2:].decode("utf-8", "replace")
    if answer.startswith(b"V "):
        return (
            f"--cpu {host}: python3 there is {answer[2:].decode('ascii', 'replace')}, and newns needs 3.11 or later: "
            "install a newer one there (Debian 12 and Ubuntu 24.04 have it: apt install python3)"
        )
    code = os.waitstatus_to_exitcode(status)
    if code == 127:
        return f"--cpu {host}: no python3 there (as ssh runs commands): install Python 3.11 or later (apt install python3)"
    return f"--cpu {host}: " + ("; ".join(lines) or f"ssh ended with status {code}")
