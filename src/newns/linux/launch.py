"""Launching the command: its namespace built (in this process, or in a child newns
supervises), then the command exec'd in it."""
from __future__ import annotations

import os
import sys

from ..diagnostics import EXIT_FAILURE, MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, note, report
from ..plan import Plan
from ..record import Record
from . import libc, namespaces, seccomp
from .cache import UnsafeCache, cache_dir
from .door import Door, Refused, enter_new_root
from .execute import execute
from .supervisor import (
    ENDING, SUPERVISED, CallerSignals, Supervisor, as_child, die_with, exit_like, foreground_terminal, own_group,
)
from .world import INIT_KEEPS

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: the signal module loads enum, slow at every start
    import signal
    from collections.abc import Callable

    from .network import Engine
    from .posted import Holder
    from .sshfs import Importer
    from .workdirs import WorkArea
else:
    import _signal as signal  # its core, all newns needs


class Launch(Record):
    """What running a command in a namespace needs; replan makes the file's plan again
    without the operations given (by index), which the kernel refused. hold: for --post,
    no command: the namespace is held instead. importer: what mounts import lines; launch
    starts one when the plan has them."""

    plan: Plan
    replan: Callable[[frozenset[int]], Plan]
    argv: list[str]
    env: dict[str, str]
    cwd: str
    signals: CallerSignals
    debug: bool = False
    die_with_parent: bool = False
    hold: Holder | None = None
    importer: Importer | None = None  # for import lines: started in the caller's namespaces
    relayed: bool = False  # on a terminal of its own, relayed by the newns above: see on_own_terminal
    engine: Engine | None = None  # for net lines: pasta, started by launch beside newns


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
    if plan.settings.network is not None:
        run.engine = engine(plan)
    if not plan.work_dirs and not plan.pid_namespace and not run.relayed and run.engine is None:
        _tell_holder(run, os.getpid())
        unshare(plan, libc.CLONE_NEWNS)
        namespaces.make_mounts_private()
        build_and_enter(run, None)
        _exec(run)
    area = work_area(plan, run.env, debug=run.debug) if plan.work_dirs else None
    terminal = foreground_terminal()
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
    parent = libc.pidfd_open(os.getpid())
    if plan.pid_namespace:
        unshare(plan, libc.CLONE_NEWPID, run.engine)
        records, writable = os.pipe()
        kept = _keep_for_init()
        pid = os.fork()
        if pid == 0:
            os.close(records)
            as_child(parent, lambda: _init(run, area, terminal, writable))
        os.close(writable)
        if kept:
            os.close(INIT_KEEPS)
        _close_importer(run)
        _tell_holder(run, pid)
        supervisor = Supervisor(pid, terminal, records=records)
    else:
        # The command's background processes, orphaned, come to newns: they use the
        # union whose work directories newns removes, and end with the command.
        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
        pid = os.fork()
        if pid == 0:
            as_child(parent, lambda: _in_place(run, area, terminal))
        if run.engine is not None:
            run.engine.close()
        _close_importer(run)
        _tell_holder(run, pid)
        supervisor = Supervisor(pid, terminal)
    os.close(parent)
    status = supervisor.wait()
    if area is not None:
        area.remove()
    exit_like(status)


def on_own_terminal(uid: int, on_stop: Callable[[], object] | None = None) -> bool:
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
        die_with(parent)
        os.close(parent)
        relay.enter(uid)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return True
    os.close(parent)
    relay.started()
    supervisor = Supervisor(pid, None, relay=relay, on_stop=on_stop)
    status = supervisor.wait()
    exit_like(status)
    raise AssertionError("unreachable")


def work_area(plan: Plan, env: dict[str, str], *, debug: bool) -> WorkArea:
    """The plan's work directories' place, in the cache directory env names (XDG_CACHE_HOME, HOME)."""
    from .workdirs import WorkArea  # only a union that creates in a real directory needs it

    assert plan.work_dirs is not None
    try:
        area = WorkArea(cache_dir(env), os.geteuid())
    except UnsafeCache as e:
        raise NewnsError(f"no place for overlayfs's work directories: {e.strerror}", plan.work_dirs) from None
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        raise NewnsError(
            f"no place for overlayfs's work directories: {where}{e.strerror}: set XDG_CACHE_HOME to a directory of your own",
            plan.work_dirs,
        ) from None
    if debug and area.stale:
        print(f"newns: removed {len(area.stale)} work directories of ended runs from {area.path}", file=sys.stderr)
    return area


def _in_place(run: Launch, area: WorkArea | None, terminal: int | None) -> None:
    """The child that becomes the command, in a process group of its own."""
    own_group(terminal)
    signal.pthread_sigmask(signal.SIG_SETMASK, run.signals.mask)  # a signal sent so far ends it now
    unshare(run.plan, libc.CLONE_NEWNS, run.engine)
    namespaces.make_mounts_private()
    build_and_enter(run, area)
    _exec(run)


def _init(run: Launch, area: WorkArea | None, terminal: int | None, records: int) -> None:
    """PID 1 of the new PID namespace: builds the namespace (its /proc must be mounted from
    inside), runs the command as its child, reaps orphans, and tells the parent, on
    records, the command's PID (P), each stop (T) and how it ended (S).

    The init of a namespace gets no signal it has no handler for, so each one
    sent before the command runs ends it here, as it would have ended newns;
    job control (stop, continue, the terminal) is the parent's, which signals
    the command itself. The init runs under the command's seccomp filter too: a
    command running as root could otherwise make it push input into the terminal.
    It keeps the parent's /proc directory (INIT_KEEPS); rootless, it holds no
    capability once the command is forked, so that the command may read it."""
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
    build_and_enter(run, area)
    _close_importer(run)
    seccomp.keep_out_of_the_terminal()  # (a filter set without no_new_privs needs CAP_SYS_ADMIN)
    _drop_over_the_network(run)
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)  # the command's until it execs: see execute()
    released, release = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(records)
        os.close(release)
        os.read(released, 1)  # until the init has let go of its capabilities
        os.close(released)
        own_group(terminal)
        _exec(run)
    if namespaces.rootless():
        libc.clear_capabilities()  # a command without any may read the init's descriptors: INIT_KEEPS
    os.close(release)
    os.close(released)
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


def _keep_for_init() -> bool:
    """Open this process's /proc directory at INIT_KEEPS, for the init to keep (when that
    descriptor is not one the caller gave the command); whether it is."""
    try:
        os.get_inheritable(INIT_KEEPS)
        return False
    except OSError:
        pass
    try:
        held = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.dup2(held, INIT_KEEPS, inheritable=False)
        return True
    except OSError:
        return False
    finally:
        os.close(held)


def importer(env: dict[str, str], *, rehearsal: bool) -> Importer:
    """What mounts import lines, started here, before newns leaves the caller's namespaces:
    sshfs runs with env, the environment newns was started with."""
    from .sshfs import Importer

    return Importer(dict(env), rehearsal=rehearsal)


def engine(plan: Plan) -> Engine:
    """pasta, for net lines, waiting in the caller's namespaces: names resolved and what it
    needs checked before any namespace is made."""
    from .network import Engine, Prepared

    assert plan.settings.network is not None
    return Engine(Prepared(plan.settings.network))


def unshare(plan: Plan, flags: int, engine: Engine | None = None) -> None:
    """New namespaces of these kinds and of those the plan gives the command beyond mounts
    (network, IPC, UTS), set up as it says: the engine attached to the network. A new PID
    namespace comes last: nft, run to set the rules, would be its init, and end it."""
    kinds = 0
    for kind in plan.settings.isolated:
        kinds |= namespaces.ISOLATING[kind]
    namespaces.unshare(flags & ~libc.CLONE_NEWPID | kinds)
    namespaces.isolate(plan.settings.isolated, plan.settings.hostname)
    if engine is not None:
        engine.started()
    if flags & libc.CLONE_NEWPID:
        namespaces.unshare_more(libc.CLONE_NEWPID)


def build_and_enter(run: Launch, area: WorkArea | None, found: list[Diagnostic] | None = None) -> Plan:
    """Build the namespace (this process is in a new one of its own) and enter it; the plan
    that went through (see build). The command's environment becomes the plan's."""
    plan = build(run, area, found)
    if plan.cleared:
        enter_new_root()
    if run.engine is not None:
        run.engine.give_resolver()
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


def build(run: Launch, area: WorkArea | None, found: list[Diagnostic] | None = None, *, again: bool = True) -> Plan:
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
    if run.hold is not None:
        run.hold.tell(pid)


def _exec(run: Launch) -> None:
    """Exec the command, with the file's `user` ids (take_ids). For --post, hold the namespace instead."""
    _drop_over_the_network(run)
    if run.hold is not None:
        _close_importer(run)
        run.hold.hold()
    take_ids(run.plan.settings.ids)
    execute(run.argv, run.env, run.signals, no_new_privs=not run.plan.settings.setuid_allowed)


def take_ids(ids: tuple[int, int] | None) -> None:
    """The file's `user` ids, for good: as root, dropped to them with no privilege left (user 0
    stays root, in those groups); rootless, mapped to them in a user namespace of the command's own."""
    if ids is not None and namespaces.rootless():
        namespaces.nested_user(*ids)
    elif ids is not None and ids[0] == 0:
        os.setgroups([])
        os.setresgid(ids[1], ids[1], ids[1])
    elif ids is not None:
        namespaces.become(*ids)


def _drop_over_the_network(run: Launch) -> None:
    """As root, with a network of newns's rules: what could lift them dropped, by the
    command, by the holder of a posted namespace and by a PID namespace's init, the
    processes whose bounding set an --attach takes on (see Joined.withheld)."""
    if run.engine is not None and not namespaces.rootless():
        namespaces.drop(namespaces.OVER_THE_NETWORK)


def try_chdir(path: str) -> bool:
    """Go to path; whether that worked."""
    try:
        os.chdir(path)
        return True
    except OSError:
        return False


def run_joined(argv: list[str], env: dict[str, str], signals: CallerSignals) -> None:
    """Run the command as a child, in the PID namespace this process joined; never returns."""
    exit_like(run_command(argv, env, signals))


def run_command(
    argv: list[str], env: dict[str, str], signals: CallerSignals, on_stop: Callable[[], object] | None = None,
    ids: tuple[int, int] | None = None, *, no_new_privs: bool = True,
) -> int:
    """Run the command as a child, supervised (on_stop: see Supervisor), with these ids (take_ids),
    gaining no privilege on exec unless no_new_privs is False (`allow setuid`); its wait status."""
    terminal = foreground_terminal()
    signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISED)
    parent = libc.pidfd_open(os.getpid())
    pid = os.fork()
    if pid == 0:

        def command() -> None:
            own_group(terminal)
            take_ids(ids)
            execute(argv, env, signals, no_new_privs=no_new_privs)

        as_child(parent, command)
    os.close(parent)
    return Supervisor(pid, terminal, on_stop=on_stop).wait()
