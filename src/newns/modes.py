"""The modes beyond a plain run (run.py): --check, --explain, --ns, --attach, --post,
--posted, --unpost, --cpu and --explain --cpu, each a function of its options. A plain
run imports none of this."""
from __future__ import annotations

import os
import sys

from .diagnostics import EXIT_FAILURE, Diagnostic, Error, NewnsError, Note, printable
from .linux import cache, execute, launch, namespaces, processes, world
from .linux.joined import Joined, shared_mount, user_name
from .loader import Loader
from .ops import Import, Op
from .interp import Interpreter
from .run import caller, planned, reader_gone

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from .linux.supervisor import CallerSignals
    from .plan import Plan


def post(name: str, nsfile: str, *, debug: bool, signals: CallerSignals) -> int:
    """Build the file's namespace and keep it alive under name, held by a process of its own
    that outlives newns; return once it is ready."""
    from .linux.posted import Registry, end_holder, start_holder

    registry = Registry()
    env, cwd = caller()
    env["NEWNS"] = os.path.normpath(os.path.join(cwd, nsfile))
    registry.reserve(name, env["NEWNS"])
    try:
        plan, replan = planned(nsfile, {k: v for k, v in env.items() if k != "NEWNS"}, cwd)
        if plan.settings.ids is not None:
            raise NewnsError(
                "--post: the file has a user line, and a posted namespace is joined with the ids of whoever "
                "attaches: run `newns -f FILE` for a command with other ids",
                plan.settings.user_line,
            )
        holder = start_holder(lambda hold: launch.launch(launch.Launch(
            plan=plan, replan=replan, argv=[], env=env, cwd=cwd, signals=signals, debug=debug, hold=hold,
        )))
        if holder is None:
            registry.remove(name)
            return EXIT_FAILURE
        try:
            registry.record(name, holder, env["NEWNS"])
        except BaseException:
            end_holder(holder)
            raise
        return 0
    except BaseException:
        registry.remove(name)
        raise
    finally:
        registry.close()


def cpu(host: str, nsfile: str | None, argv: list[str], signals: CallerSignals) -> None:
    """Run argv on host, in a namespace of its own there with the caller's at /mnt/term, the
    file's lines applied after; the file is read here first, so a mistake stops newns before
    it connects."""
    from .linux import cpu
    from .nsfile import entries

    env, cwd = caller()
    cpu.run(host, entries(_cpu_file(host, nsfile, env, cwd)), argv, env, cwd, signals)


def explain_cpu(host: str, nsfile: str | None) -> None:
    """What --cpu host would run on each side; it connects nowhere."""
    from .linux import cpu

    env, cwd = caller()
    for line in cpu.explain(host, [op.where.text for op in _cpu_file(host, nsfile, env, cwd)]):
        output(line)


def _cpu_file(host: str, nsfile: str | None, env: dict[str, str], cwd: str) -> list[Op]:
    """The file's operations for --cpu host, read here (none without a file)."""
    from .interp import host_problem

    problem = host_problem(host)
    if problem is not None:
        raise NewnsError(f"--cpu: {problem}")
    if nsfile is None:
        return []
    parsed = cache.ParsedFiles(env)
    try:
        loader = Loader(world.Host(), env, cwd, parsed)
        ops = loader.flattened(loader.load(nsfile))
    finally:
        parsed.close()
    if loader.problems:
        raise NewnsError.of(loader.problems)
    for op in ops:
        if isinstance(op, Import):  # the far side's one SFTP channel is /mnt/term's
            raise NewnsError(
                f"--cpu: an import line applies on {host}, where it can't run: import here instead, in a "
                f"namespace --cpu runs from (newns -f import.ns newns --cpu {host} ...), and it shows under /mnt/term there",
                op.where,
            )
    return ops


def posted() -> None:
    """The caller's posted namespaces, one a line: name, file, since when."""
    import time

    from .linux.posted import Registry

    registry = Registry()
    for record in registry.all():
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.since))
        output(f"{record.name}\t{printable(record.file)}\tsince {since}")
    registry.close()


def unpost(name: str) -> None:
    """End a posted namespace: its holder is killed; processes attached to it keep running
    (with '#proc', ending its PID namespace's init ends them too)."""
    from .linux.posted import Registry

    registry = Registry()
    try:
        registry.end(name)
    finally:
        registry.close()


def check(nsfile: str, signals: CallerSignals) -> int:
    """Every problem and warning, one a line as FILE:LINE:COL: ...; 125 when there are problems.

    A file whose lines all check is then carried out in a throwaway namespace,
    so that what only the kernel can refuse is found at its line too."""
    from .linux.carry import carry_out

    env, cwd = caller()
    try:
        plan, replan = planned(nsfile, env, cwd)
    except NewnsError as failed:
        if all(d.where is None for d in failed.diagnostics):
            raise  # the file as a whole: newns's own failure
        found = failed.diagnostics
    else:
        rehearsal = launch.Launch(plan=plan, replan=replan, argv=[], env=env, cwd=cwd, signals=signals)
        found = plan.warnings + carry_out(rehearsal)[0]
        if plan.settings.network is not None:  # what a run finds before it starts the engine
            from .linux.network import Prepared

            try:
                Prepared(plan.settings.network)
            except NewnsError as refused:
                found += refused.diagnostics
    for diagnostic in sorted((d for d in found if not isinstance(d, Note)), key=Diagnostic.position):
        output(diagnostic.shown(line_only=True))
    return EXIT_FAILURE if any(isinstance(d, Error) for d in found) else 0


def explain(nsfile: str) -> None:
    from .explain import explain

    plan, _ = planned(nsfile, *caller())
    resolver = None
    if plan.settings.network is not None:
        from .linux.network import caller_resolver

        resolver = caller_resolver()
    for line in explain(plan, rootless=namespaces.rootless(), uid=os.geteuid(), gid=os.getegid(), resolver=resolver):
        output(line)


UNREAD_HOST_NAME = "# hostname: a host name of its own, in a namespace newns may not join to read it"
"""--ns's line for a UTS namespace of the process's own whose name can't be read: one of a
user namespace that is not the caller's to join."""


def ns(target: str) -> None:
    """Print the lines that build target's namespace (a PID, self, or a name --post gave) from
    the one it was built from."""
    from .nsdump import namespace_lines
    from .nsfile import quote

    pid = target if target == "self" or target.isdigit() else str(_posted(target))
    mountinfo, cwd = processes.process_view(pid)
    held = processes.origin(pid, mountinfo)
    origin = f"self/fd/{held}" if held is not None else pid
    try:
        kinds, ids = processes.isolation(pid, origin)
        lines = [f"clear {kind}" for kind in kinds if kind != "uts"]
        if "uts" in kinds:
            from .linux.uts import host_name

            name = host_name(pid)
            lines.append(f"hostname {quote(name)}" if name is not None else UNREAD_HOST_NAME)
        lines += [f"user {ids[0]} {ids[1]}"] if ids else []
        if "net" in kinds:
            from .linux.network import described

            lines += described(pid)
        lines += namespace_lines(mountinfo, cwd, processes.process_view(origin)[0])
    finally:
        processes.let_go(held)
    for line in lines:
        output(line)


def _posted(name: str) -> int:
    """The PID of the holder of the namespace posted as name."""
    from .linux.posted import Registry

    registry = Registry()
    try:
        record = registry.find(name)
    finally:
        registry.close()
    if not record.alive():
        raise NewnsError(f"the namespace posted as {name!r} has ended")
    return record.pid


def attach(
    target: str, nsfile: str | None, argv: list[str], *, debug: bool, allow_host: bool, as_owner: bool,
    signals: CallerSignals,
) -> None:
    """Change the running namespace of target (a PID, or a name --post gave) as the file says
    (all of it, or nothing), then run a command in it if one is given."""
    from .linux.carry import carry_out

    if target.isdigit():
        pid = int(target)
        joined = Joined(pid)
    else:
        from .linux.posted import Registry

        registry = Registry()
        record = registry.find(target)
        registry.close()
        pid = record.pid
        joined = Joined(pid)
        if not record.alive():
            joined.close()
            raise NewnsError(f"the namespace posted as {target!r} has ended")
    _refuse_host(pid, joined, allow_host)
    withheld = joined.withheld()
    _, cwd = processes.process_view(pid)
    env = dict(os.environ)
    relayed = entered = False
    whose = _whose(pid, joined)
    if whose is not None:
        uid, stranger_gid, why = whose
        owner = user_name(uid)
        if not as_owner:
            raise NewnsError(
                f"--attach {pid}: {why.format(owner=owner, uid=uid)}: what runs there runs whatever {owner} put there. "
                f"Add --as-owner to act as {owner} there, with their ids and no privilege"
            )
        if os.geteuid() != 0:
            raise NewnsError(f"--attach {pid}: that namespace belongs to {owner}: only root can act as another user")
        stranger = stranger_gid is not None
        if stranger and nsfile is not None:
            raise NewnsError(
                f"--attach {pid} --as-owner -f: that namespace's mounts belong to root's user namespace, where "
                f"{owner} has no privilege to change them"
            )
        gid = stranger_gid if stranger_gid is not None else joined.owner_gid()
        relayed = launch.on_own_terminal(uid)
        if stranger:
            joined.enter()  # a namespace of root's user namespace: joined while newns can
            entered = True
        namespaces.become(uid, gid)
        env = _owners_environment(env, uid)  # become() let no descriptor of root's go with them
    else:
        env = _joined_environment(pid, env)
    joined.alive()
    cwd = cwd or "/"
    env["PWD"] = cwd
    if nsfile is not None:
        host = world.Host()
        parsed = cache.ParsedFiles(env)
        try:
            loader = Loader(host, env, caller()[1], parsed)
            file_ops = loader.load(nsfile)
            # The included files are read here, before joining, as the caller has them (the plan
            # reads them from here; an include the plan finds elsewhere is read in the joined
            # namespace); sshfs for import lines runs in this process's namespaces, not the joined ones.
            imports = any(isinstance(op, Import) for op in loader.flattened(file_ops))
            if loader.problems:
                raise NewnsError.of(loader.problems)
            importer = launch.importer(env, rehearsal=False) if imports else None
            joined.enter()

            def replan(skipped: frozenset[int] = frozenset()) -> Plan:
                return Interpreter(env, cwd, host, loader=loader).plan(file_ops, skipped)

            plan = replan()
        finally:
            parsed.close()
        if plan.imports and importer is None:
            raise NewnsError(
                f"--attach: an import line of {nsfile} is in a file included through the joined namespace: newns "
                "starts sshfs before it joins, for the import lines of the files it finds next to the file"
            )
        if plan.cleared or plan.pid_namespace or plan.work_dirs or plan.settings.isolated or plan.settings.ids:
            raise NewnsError(
                f"--attach: {nsfile} needs clear, a line onto /, #proc, a real directory taking creations, "
                "clear net, clear ipc, hostname or user, which only a new namespace can have"
            )
        # A copy first: a file that fails there changes nothing; then the plan that went through there.
        rehearsal = launch.Launch(plan=plan, replan=replan, argv=argv, env=env, cwd=cwd, signals=signals)
        problems, skipped = carry_out(rehearsal, joined)
        if problems:
            raise NewnsError.of(problems)
        attaching = launch.Launch(
            plan=replan(skipped), replan=replan, argv=argv, env=env, cwd=cwd, signals=signals, debug=debug,
            importer=importer,
        )
        problems, _ = carry_out(attaching, joined, throwaway=False)
        if problems:
            raise NewnsError.of(problems)
        if not argv:
            return
        if attaching.plan.settings.env is not None:
            shell = env.get("SHELL")
            env = {**attaching.plan.settings.env, "PWD": cwd}
            argv = argv or [shell or "/bin/sh"]
    elif not entered:
        joined.enter()
    if not launch.try_chdir(cwd):
        launch.try_chdir("/")
    argv = argv or [env.get("SHELL") or "/bin/sh"]
    if withheld and whose is None:  # an owner's command was left no capability at all
        namespaces.drop(withheld)
    if joined.other_pid_namespace() or relayed:  # relayed: to stop it on Ctrl-Z, newns stays its parent
        launch.run_joined(argv, env, signals)
    execute.execute(argv, env, signals, no_new_privs=True)


def _whose(pid: int, joined: Joined) -> tuple[int, int | None, str] | None:
    """Another user whose namespace this is, and why, when it is not the caller's alone: the
    owner of its user namespace; for root, also a user with a process in a namespace of
    root's user namespace (a set-user-ID sandbox tool makes those for users), with the group
    of that process (None for an owner, whose group its namespace's map tells)."""
    if joined.owner != os.geteuid():
        return joined.owner, None, "that namespace belongs to {owner} (uid {uid}), not to you"
    if os.geteuid() != 0:
        return None
    strangers = joined.strangers()
    if len(strangers) > 1:
        names = ", ".join(sorted(user_name(uid) for uid in strangers))
        raise NewnsError(
            f"--attach {pid}: processes of several users ({names}) are in that namespace: what runs there runs "
            "whatever they put there, and newns can act as one user, not several"
        )
    for uid, gid in strangers.items():
        return uid, gid, (
            "processes of {owner} (uid {uid}) are in that namespace, which a set-user-ID tool may have made for "
            "them, with mounts of theirs"
        )
    return None


TERMINAL_VARIABLES = (
    "TERM", "COLORTERM", "COLUMNS", "LINES", "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "SSH_AUTH_SOCK", "SSH_CONNECTION",
    "SSH_CLIENT", "SSH_TTY", "TMUX", "TMUX_PANE", "STY", "WINDOW", "WINDOWID", "TERM_PROGRAM", "TERM_PROGRAM_VERSION",
)
"""What describes the terminal a command runs on, not the namespace it runs in."""


def _joined_environment(pid: int, env: dict[str, str]) -> dict[str, str]:
    """The environment of a command run in the namespace of pid: when pid is a command newns
    started from a file (NEWNS is in its environment), the one it was started with, so that a
    second terminal gets the PATH and variables the file set, with this terminal's own
    variables; else the caller's."""
    try:
        started = processes.process_environment(pid)
    except OSError:
        return env
    if "NEWNS" not in started:
        return env
    started = {k: v for k, v in started.items() if k not in TERMINAL_VARIABLES}
    return started | {k: v for k, v in env.items() if k in TERMINAL_VARIABLES}


def _owners_environment(env: dict[str, str], uid: int) -> dict[str, str]:
    """The environment a command gets as another user: theirs, as su gives it; none of root's."""
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        raise NewnsError(
            f"--as-owner: uid {uid} has no account (no passwd entry), so no environment to run with, "
            "as su and sudo refuse: give it one (useradd), or run nsenter and setpriv yourself"
        ) from None
    kept = {k: v for k, v in env.items() if k in ("TERM", "LANG", "COLORTERM") or k.startswith("LC_")}
    return kept | {
        "HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name, "SHELL": entry.pw_shell or "/bin/sh",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }


def _refuse_host(pid: int, joined: Joined, allow_host: bool) -> None:
    """--attach changes only the namespace it names: not the host's (the caller's own, or
    PID 1's), nor any other through mounts that propagate."""
    target = joined.mount_namespace()
    hosts = {world.namespace_id("self")}
    try:
        hosts.add(world.namespace_id(1))
    except OSError:
        pass
    if target in hosts:
        if allow_host:
            return
        raise NewnsError(
            f"--attach {pid}: that process is in your own mount namespace or the initial one (PID 1's): "
            "changing it changes the host's mount table, which newns otherwise never touches. "
            "Add --allow-host-namespace if that is what you want."
        )
    shared = shared_mount(processes.process_view(pid)[0])
    joined.alive()
    if shared is not None:
        point, group = shared
        raise NewnsError(
            f"--attach {pid}: its mount {printable(point)} is shared (peer group {group}): a mount made under it "
            "would appear in the other namespaces of the group, the host's perhaps. "
            "Make the namespace's mounts private first (mount --make-rprivate /, inside it)"
        )


def output(line: str) -> None:
    """A line of a mode's output; standard output that is closed is newns's own failure."""
    if sys.stdout is None:
        raise NewnsError("can't write the output: standard output is closed")
    try:
        print(line)
    except BrokenPipeError:
        reader_gone()
