"""--cpu on the far machine: newns's own code, come over the connection as a zip (cpu.py).

The first session runs hold(): it reads the caller's request, plans the namespace
(/mnt/term, then the file's lines), prepares the work directories a union creating in
a real directory needs (in this machine's cache), enters new user (rootless), mount
and PID namespaces, and tells the caller it is ready. The PID namespace's init then
builds the namespace, from inside it (a '#proc' there is the command's), /mnt/term
served by sshfs in passive mode over this session's standard input and output, which
the caller's sftp-server answers. sshfs runs outside the command's namespaces, started
by a process the holder forked before making them (Passive), which alone keeps the
connection; the holder keeps the built mount namespace for join. The init stays,
reaping orphans, until that process ends (the connection dropped, or the caller closed
it); its end ends everything in the PID namespace, and the holder, which waited for
it, removes the work directories and ends, the last of the run.

The second session runs join(): it waits for the holder to tell how the build went,
joins its namespaces, and runs the command there as a child, as --attach does, with
the session's standard streams and terminal, with the file's `user` ids as a local run
takes them (launch.take_ids; as root, on a terminal of its own); it exits with the
command's status. When the command stops (Ctrl-Z on the session's terminal), join says
so on the first session's error stream, the one way back to the caller's side, and
stops itself until the caller's side continues it.
"""
from __future__ import annotations

import json
import os
import pwd
import select
import socket
import sys
from typing import Any

from ..diagnostics import EXIT_FAILURE, NewnsError, Where, failure
from ..interp import Interpreter
from ..nsfile import load
from ..ops import Import, Mount, Op, Quoted, Word
from ..table import is_under
from . import libc, namespaces
from .launch import Launch, build_and_enter, on_own_terminal, run_command, unshare, work_area
from .sshfs import CACHING, FUSE_HINT, PACKAGE_HINT, Importer, fuse_mount, serve, served
from .supervisor import CallerSignals, die_with
from .world import Host, find_executable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal

    from ..plan import Plan
    from .workdirs import WorkArea
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
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)  # opened here: a file's `clear` may leave no /dev/null
    mnt = os.dup(null)  # its number kept for the command's mount namespace
    area = None
    try:
        run = _planned(request)
        if run.plan.work_dirs:
            area = work_area(run.plan, dict(os.environ), debug=False)  # in this machine's cache, not the caller's
        unshare(run.plan, libc.CLONE_NEWNS)
        namespaces.make_mounts_private()
        namespaces.unshare_more(libc.CLONE_NEWPID)
    except Exception as e:
        if area is not None:
            area.remove()
        _say(b"E " + _one_line(e, request["host"]).encode("utf-8", "surrogateescape") + b"\n")
        os._exit(EXIT_FAILURE)
    _say(b"R %d %d %d\n" % (os.getpid(), payload, told_r))
    report_r, report_w = os.pipe()
    proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # this one, whatever the file mounts there
    holder = libc.pidfd_open(os.getpid())
    importer = run.importer
    assert isinstance(importer, Passive)
    server = libc.pidfd_open(importer.server)
    init = os.fork()
    if init == 0:
        for fd in (report_r, told_w, proc):
            os.close(fd)
        _init(run, area, request, report_w, holder, server, null)
    for fd in (holder, server, report_w):
        os.close(fd)
    importer.close()  # the init's, closed as it reports, is the last: the command never finds it
    data = libc.read_to_end(report_r)
    os.close(report_r)
    told = json.loads(data) if data else {"error": f"{request['host']}: the namespace's builder ended"}
    if "error" not in told:
        try:
            held = os.open(f"{init}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)  # init, unreaped, keeps its PID
            os.dup2(held, mnt, inheritable=False)
            os.close(held)
            told["mnt"] = mnt
        except OSError as e:
            told = {"error": f"{request['host']}: can't hold the command's mount namespace: {e.strerror}"}
    for fd in (0, 1):
        os.dup2(null, fd)  # the connection is sshfs's server's alone, before the command starts
    os.write(told_w, json.dumps(told).encode("utf-8", "surrogateescape"))
    os.close(told_w)
    os.close(proc)
    os.waitpid(init, 0)
    if area is not None:
        area.remove()
    os.waitpid(importer.server, 0)  # on an error, the caller's side ends the connection once join has told why
    os._exit(0)


def _init(
    run: Launch, area: WorkArea | None, request: dict[str, Any], report: int, holder: int, server: int, null: int,
) -> None:
    """PID 1 of the command's PID namespace: builds the namespace there (a #proc is its own),
    reports how that went (the command's argv, working directory and environment changes, or
    the error), then reaps what the command orphans until sshfs's server ends (the connection
    dropped, or the caller closed it); its end ends everything in the namespace. It holds
    nothing of the connection's: the command may ptrace it. Never returns."""
    try:
        die_with(holder)
        os.close(holder)
        for fd in (0, 1):
            os.dup2(null, fd)
        try:
            build_and_enter(run, area)
            told = {"argv": request["argv"], "cwd": run.env["PWD"], "ids": run.plan.settings.ids,
                    "setuid": run.plan.settings.setuid_allowed, "env": _changes(request["env"], run.plan.settings.env)}
        except Exception as e:
            told = {"error": _one_line(e, request["host"])}
        if run.importer is not None:
            run.importer.close()
        os.dup2(null, 2)  # the caller's error stream: the command's own is join's
        os.write(report, json.dumps(told).encode("utf-8", "surrogateescape"))
        os.close(report)
        if "error" in told:
            os._exit(EXIT_FAILURE)
        _reap_until_ended(server)
    finally:
        os._exit(0)


def _reap_until_ended(server: int) -> None:
    """Reap what ends in the PID namespace until sshfs's server (a pidfd of it) ends."""
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    children = libc.SignalFd([signal.SIGCHLD])
    ends = select.poll()
    ends.register(server, select.POLLIN)
    ends.register(children.fd, select.POLLIN)
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if any(fd == server for fd, _ in ends.poll()):
            return
        children.read()


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
    sshfs = find_executable("sshfs", os.environ.get("PATH", "/usr/bin:/bin"))[0]
    if sshfs is None:
        raise NewnsError(PACKAGE_HINT)
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        raise NewnsError(FUSE_HINT.format(e.strerror)) from None
    return Launch(
        plan=plan, replan=replan, argv=[], env=env, cwd=cwd, signals=CallerSignals(),
        importer=Passive(sshfs, others=plan.settings.ids is not None and not namespaces.rootless()),
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


def _say(line: bytes) -> None:
    os.write(1, line)


def _one_line(exception: BaseException, host: str) -> str:
    return f"{host}: " + "; ".join(
        (f"{d.where}: " if d.where is not None else "") + d.message for d in failure(exception)
    )


class Passive(Importer):
    """/mnt/term's mount: sshfs in passive mode, speaking SFTP on this session's standard
    input and output, to the caller's sftp-server at the other end. The mount is made where
    the namespace is built; sshfs runs in a process started before any of the command's
    namespaces were made (_serve), sent the /dev/fuse descriptor over a socket that is
    closed before the command starts: nothing the command can reach holds the SFTP channel.
    others: open to other ids than the mount's (allow_other), for a command root runs with a
    file's `user` ids, which then reach only what their modes give them (fuse_mount); FUSE's
    own check lets in the mount's uid and gid alone, even root's other processes."""

    def __init__(self, sshfs: str, *, others: bool) -> None:
        self.sshfs, self.rehearsal, self.batch = sshfs, False, True
        self.others = others
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server = os.fork()
        if self.server == 0:
            try:
                ours.close()
                _serve(theirs, sshfs)
            finally:
                os._exit(0)
        theirs.close()
        self.sock: socket.socket | None = ours

    def mount(self, host: str, remote: str) -> int | None:
        fuse = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        try:
            mnt = fuse_mount(fuse, f"{host}:{remote}", others=self.others)
            return served(self.sock, f"{host}:{remote}", fuse, mnt)
        finally:
            os.close(fuse)


def _serve(sock: socket.socket, sshfs: str) -> None:
    """sshfs's parent, outside the namespaces the command will be in, not dumpable: the
    command, in a user namespace of its own (or with a `user` line's ids, not root's), can't
    trace it or sshfs, or open their descriptors through any /proc. Runs sshfs
    for each request (source, and the /dev/fuse descriptor) until the socket is closed,
    then stays until the connection's input is hung up (the caller closed it, or it
    dropped) — not till sshfs's end: a file may unmount /mnt/term, or clear it away, and
    sshfs with it. Never returns."""
    libc.prctl(libc.PR_SET_DUMPABLE, 0)
    libc.close_all_but((sock.fileno(),))
    serve(sock, lambda source, fuse: _sshfs(sshfs, source, fuse))
    sock.close()
    hung_up = select.poll()
    hung_up.register(0, 0)  # hang-up and errors alone: its data is sshfs's
    hung_up.poll()
    os._exit(0)


def _sshfs(sshfs: str, source: str, fuse: int) -> str:
    """Start sshfs serving fuse over 0 and 1: "ok", as passive mode says nothing until the
    caller's sftp-server answers."""
    if os.fork() == 0:
        try:
            libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
            os.set_inheritable(fuse, True)
            os.execv(sshfs, [sshfs, "-f", "-o", "passive", *CACHING, source, f"/dev/fd/{fuse}"])
        finally:
            os._exit(127)
    return "ok"


def join(holder: int, told: int) -> None:
    """The second session: the command in the holder's namespaces; exits with its status
    (128+N when signal N ended it)."""
    signals = CallerSignals()
    fd = os.open(f"/proc/{holder}/fd/{told}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(fd, True)
    data = libc.read_to_end(fd)
    os.close(fd)
    message: dict[str, Any] = json.loads(data) if data else {"error": "the namespace's builder ended"}
    if "error" in message:
        print(f"newns: {message['error']}", file=sys.stderr)
        os._exit(EXIT_FAILURE)
    ids = tuple(message["ids"]) if message["ids"] is not None else None
    caller = os.open(f"/proc/{holder}/fd/2", os.O_WRONLY | os.O_CLOEXEC)

    def stopped() -> None:
        os.write(caller, STOPPED % os.getpid())

    relayed = False
    if ids is not None and ids[0] != os.geteuid() and not namespaces.rootless():
        relayed = on_own_terminal(ids[0], on_stop=stopped)  # as a local run: see launch(); stops told from here
    _forget_where_newns_came_from(holder)
    try:
        kinds = [(kind, os.open(f"/proc/{holder}/{path}", os.O_RDONLY | os.O_CLOEXEC)) for kind, path in (
            (libc.CLONE_NEWUSER, "ns/user"), (libc.CLONE_NEWNS, f"fd/{message['mnt']}"),
            (libc.CLONE_NEWPID, "ns/pid_for_children"),
        )]
        for kind, fd in kinds:
            if kind != libc.CLONE_NEWUSER or namespaces.rootless():
                libc.setns(fd, kind)
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
    status = run_command(
        argv, env, signals, on_stop=None if relayed else stopped, ids=ids, no_new_privs=not message["setuid"],
    )
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status))


def _forget_where_newns_came_from(holder: int) -> None:
    """Once join has joined the command's mount namespace, /proc/HOLDER/fd/N (where newns's
    modules came from) names whatever the command's /proc has there, maybe a process of its
    own with a zip of its own: join imports everything it needs before, and from here on a
    late import of newns's fails instead of reading from there."""
    origin = f"/proc/{holder}/"
    sys.path[:] = [entry for entry in sys.path if not entry.startswith(origin)]
    for name, module in list(sys.modules.items()):
        if (name == "newns" or name.startswith("newns.")) and hasattr(module, "__path__"):
            module.__path__ = [entry for entry in module.__path__ if not entry.startswith(origin)]
    sys.path_importer_cache.clear()


def _login_shell() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        return "/bin/sh"

