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
import shlex
import shutil
import tempfile
import zipfile

from ..diagnostics import EXIT_FAILURE, NewnsError
from . import libc
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
if sys.version_info<(3,11):os.write(1,b"E python3 is "+sys.version.split()[0].encode()+b", and newns needs 3.11 or later\n");sys.exit(125)
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
    try:
        ssh = ["ssh", "-S", os.path.join(place, "control"), "-o", "ConnectTimeout=30", "-e", "none"]
        if not has_terminal():
            ssh += ["-o", "BatchMode=yes"]
        said = os.memfd_create("ssh", os.MFD_CLOEXEC)
        far_in, to_far = os.pipe()
        from_far, far_out = os.pipe()
        master = _spawn(
            [*ssh, "-M", "-o", "ControlPersist=no", "-T", "--", host, PYTHON + shlex.quote(BOOT)],
            env, signals, (far_in, far_out, said),
        )
        os.close(far_in)
        os.close(far_out)
        try:
            payload = _package()
            _write_all(to_far, b"%12d" % len(payload) + payload + b"%12d" % len(request) + request)
        except BrokenPipeError:
            pass
        answer = _line(from_far)
        if not answer.startswith(b"R "):
            os.close(to_far)
            os.close(from_far)
            _, status = os.waitpid(master, 0)
            raise NewnsError(_why(host, answer, status, said))
        holder, payload_fd, told = (int(word) for word in answer.split()[1:])
        server = _spawn([sftp], env, signals, (from_far, to_far, 2))
        os.close(from_far)
        os.close(to_far)
        terminal = "-t" if os.isatty(0) and os.isatty(1) else "-T"
        command = _spawn(
            [*ssh, "-o", "ControlMaster=no", terminal, "--", host,
             PYTHON + shlex.quote(JOIN.format(holder, payload_fd, told))],
            env, signals, (0, 1, 2),
        )
        _, status = os.waitpid(command, 0)
        for pid in (master, server):
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    finally:
        shutil.rmtree(place, ignore_errors=True)
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status))


def _spawn(argv: list[str], env: dict[str, str], signals: CallerSignals, fds: tuple[int, int, int]) -> int:
    """A process with these descriptors as 0-2, killed when newns dies."""
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _line(fd: int) -> bytes:
    """A line the far side wrote first (without its newline; empty at the end of input)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line.rstrip(b"\n")


def _why(host: str, answer: bytes, status: int, said: int) -> str:
    """One line on why the far side never became ready: its own word, or ssh's."""
    if answer.startswith(b"E "):
        return "--cpu " + answer[2:].decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status)
    lines = [line.strip() for line in os.pread(said, 65536, 0).decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and not line.startswith("Warning: Permanently added")]
    if code == 127:
        return f"--cpu {host}: no python3 there (as ssh runs commands): install Python 3.11 or later (apt install python3)"
    return f"--cpu {host}: " + ("; ".join(lines) or f"ssh ended with status {code}")
