"""--cpu on the far machine: newns's own code, come over the connection as a zip (cpu.py).

The first session runs hold(): it reads the caller's request, plans the namespace
(/mnt/term, then the file's lines), enters new user (rootless), mount and PID
namespaces, tells the caller it is ready, and builds the namespace, /mnt/term served
by sshfs in passive mode over this session's standard input and output, which the
caller's sftp-server answers. It then stays until sshfs or the namespace's init ends
(the connection dropped, or the caller closed it), and ends them both: the kernel
kills whatever the command left in the PID namespace.

The second session runs join(): it waits for the holder to tell how the build went,
joins its namespaces, and runs the command there as a child, as --attach does, with
the session's standard streams and terminal; it exits with the command's status. When
the command stops (Ctrl-Z on the session's terminal), join says so on the first
session's error stream, the one way back to the caller's side, and stops itself
until the caller's side continues it.
"""
from __future__ import annotations

import json
import os
import pwd
import sys
from typing import Any

from ..diagnostics import EXIT_FAILURE, NewnsError, Where, failure
from ..interp import Interpreter
from ..nsfile import load
from ..ops import Import, Mount, Op, Quoted, Word
from ..table import is_under
from . import libc, namespaces
from .launch import Launch, build_and_enter, run_command, unshare
from .sshfs import FUSE_HINT, PACKAGE_HINT, Importer, fuse_mount
from .supervisor import CallerSignals
from .world import Host, find_executable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal

    from ..plan import Plan
else:
    import _signal as signal  # its core, all newns needs

TERM = "/mnt/term"
"""Where the caller's namespace is, on the far side."""
STOPPED = b"\0newns: stopped %d\n"
"""What join writes to the first session's error stream as the command stops (Ctrl-Z), with
its PID, for the caller's side to stop like a local job and, resumed, continue it."""


def hold(payload: int, read: object) -> None:
    """The first session: read (n -> n bytes of standard input) gives the request."""
    request = json.loads(read(int(read(12))))  # type: ignore[operator]
    told_r, told_w = os.pipe()
    try:
        run = _planned(request)
        unshare(run.plan, libc.CLONE_NEWNS)
        namespaces.make_mounts_private()
        namespaces.unshare_more(libc.CLONE_NEWPID)
        init = _start_init()
    except Exception as e:
        _say(b"E " + _one_line(e, request["host"]).encode("utf-8", "surrogateescape") + b"\n")
        os._exit(EXIT_FAILURE)
    _say(b"R %d %d %d\n" % (os.getpid(), payload, told_r))
    try:
        build_and_enter(run, None)
        settings = run.plan.settings.env
        told = {"argv": request["argv"], "cwd": run.env["PWD"], "env": _changes(request["env"], settings)}
    except Exception as e:
        told = {"error": _one_line(e, request["host"])}
    os.write(told_w, json.dumps(told).encode("utf-8", "surrogateescape"))
    os.close(told_w)
    assert isinstance(run.importer, Passive)
    sshfs = run.importer.pid
    if "error" in told:
        os._exit(EXIT_FAILURE)
    for fd in (0, 1):
        os.close(fd)
    os.open("/dev/null", os.O_RDWR)
    os.dup2(0, 1)
    while True:
        ended, _ = os.waitpid(-1, 0)
        if ended in (init, sshfs):
            break
    for pid in (init, sshfs):
        if pid is not None and pid != ended:
            os.kill(pid, signal.SIGKILL)
    os._exit(0)


def _planned(request: dict[str, object]) -> Launch:
    """The far side's namespace: the caller's at /mnt/term, then the file's lines, read from
    the caller's environment and planned in this machine's tree."""
    env = dict(request["env"])  # type: ignore[call-overload]
    cwd = os.path.normpath(TERM + str(request["cwd"]))
    host = Host()
    ops = _prelude(str(request["host"]), host)
    for name, text, entry in request["files"]:  # type: ignore[attr-defined]
        loaded = load(entry, name, text)
        if loaded is None:
            raise NewnsError(f"{name}: what came from the caller's side does not read back")
        ops += loaded

    def replan(skipped: frozenset[int] = frozenset()) -> Plan:
        return Interpreter(env, cwd, host).plan(ops, skipped)

    plan = Interpreter(env, cwd, host).plan(ops)
    if plan.pid_namespace or plan.work_dirs or plan.settings.ids is not None:
        raise NewnsError(
            "with --cpu, the file can't mount '#proc', have a union take creations in a real directory, "
            "or have a user line (not yet)"
        )
    sshfs = find_executable("sshfs", os.environ.get("PATH", "/usr/bin:/bin"))[0]
    if sshfs is None:
        raise NewnsError(PACKAGE_HINT)
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        raise NewnsError(FUSE_HINT.format(e.strerror)) from None
    return Launch(
        plan=plan, replan=replan, argv=[], env=env, cwd=cwd, signals=CallerSignals(), importer=Passive(sshfs),
    )


def _prelude(host: str, world: Host) -> list[Op]:
    """import of the caller's / at /mnt/term; where this machine has no /mnt/term, a #tmpfs
    in a union before /mnt first, taking the mount point (what /mnt holds stays in sight).
    Rootless, overlayfs takes no member with mounts under it: there the #tmpfs hides /mnt."""
    where = Where(f"newns --cpu {host}", 1, 1, f"import term / {TERM}")
    ops: list[Op] = []
    if not os.path.isdir(TERM):
        flags = "c" if namespaces.rootless() and any(is_under(p, "/mnt") for p in world.mount_points()) else "bc"
        line = f"mount -{flags} '#tmpfs' /mnt"
        first = Where(where.file, 1, 1, line)
        words = [Word((Quoted("#tmpfs"),), first.at(len(flags) + 9)), Word(("/mnt",), first.at(len(flags) + 18))]
        ops.append(Mount.of_words(flags, first, words))
    words = [Word(("term",), where.at(8)), Word(("/",), where.at(13)), Word((TERM,), where.at(15))]
    ops.append(Import.of_words("", where, words))
    return ops


def _changes(before: dict[str, str], after: dict[str, str] | None) -> dict[str, str | None]:
    """What the file's lines did to the environment (None: unset), for the command's."""
    if after is None:
        return {}
    changed: dict[str, str | None] = {k: v for k, v in after.items() if before.get(k) != v}
    return changed | {k: None for k in before if k not in after}


def _start_init() -> int:
    """The init of the new PID namespace: it reaps what the command orphans, and its end
    ends everything in the namespace."""
    pid = os.fork()
    if pid == 0:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.close_all_but(())
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        while True:
            try:
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                pass
            signal.sigwait([signal.SIGCHLD])
    return pid


def _say(line: bytes) -> None:
    os.write(1, line)


def _one_line(exception: BaseException, host: str) -> str:
    return f"{host}: " + "; ".join(
        (f"{d.where}: " if d.where is not None else "") + d.message for d in failure(exception)
    )


class Passive(Importer):
    """/mnt/term's mount: sshfs in passive mode, speaking SFTP on this session's standard
    input and output, to the caller's sftp-server at the other end."""

    def __init__(self, sshfs: str) -> None:
        self.sshfs, self.rehearsal, self.batch, self.sock = sshfs, False, True, None
        self.pid: int | None = None

    def mount(self, host: str, remote: str) -> int | None:
        fuse = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        try:
            mnt = fuse_mount(fuse, f"{host}:{remote}")
            assert self.sshfs is not None
            argv = [self.sshfs, "-f", "-o", "passive", f"{host}:{remote}", f"/dev/fd/{fuse}"]
            pid = os.fork()
            if pid == 0:
                try:
                    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
                    os.set_inheritable(fuse, True)
                    os.execv(self.sshfs, argv)
                finally:
                    os._exit(127)
            self.pid = pid
        finally:
            os.close(fuse)
        return mnt


def join(holder: int, told: int) -> None:
    """The second session: the command in the holder's namespaces; exits with its status
    (128+N when signal N ended it)."""
    signals = CallerSignals()
    fd = os.open(f"/proc/{holder}/fd/{told}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(fd, True)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    message: dict[str, Any] = json.loads(data) if data else {"error": "the namespace's builder ended"}
    if "error" in message:
        print(f"newns: {message['error']}", file=sys.stderr)
        os._exit(EXIT_FAILURE)
    try:
        caller = os.open(f"/proc/{holder}/fd/2", os.O_WRONLY | os.O_CLOEXEC)
        kinds = [(kind, os.open(f"/proc/{holder}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
                 for kind in ("user", "mnt", "pid_for_children")]
        if namespaces.rootless():
            libc.setns(kinds[0][1], libc.CLONE_NEWUSER)
        libc.setns(kinds[1][1], libc.CLONE_NEWNS)
        libc.setns(kinds[2][1], libc.CLONE_NEWPID)
        for _, fd in kinds:
            os.close(fd)
        os.chdir(message["cwd"])
    except OSError as e:
        print(f"newns: can't join the namespace built for the command: {e.strerror}", file=sys.stderr)
        os._exit(EXIT_FAILURE)
    env = dict(os.environ)
    for name, value in message["env"].items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PWD"] = message["cwd"]
    argv = message["argv"] or [env.get("SHELL") or _login_shell()]
    status = run_command(argv, env, signals, on_stop=lambda: os.write(caller, STOPPED % os.getpid()))
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status))


def _login_shell() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        return "/bin/sh"

