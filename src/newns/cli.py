"""The newns command: a plain run, and the modes --check, --explain, --ns and --attach."""
from __future__ import annotations

import os
import sys

from . import ops
from .errors import EXIT_FAILURE, NewnsError, NewnsErrors
from .interp import Interpreter
from .plan import Plan

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable


def caller() -> tuple[dict[str, str], str]:
    """The caller's environment and working directory, with PWD made right, as a shell does."""
    env = dict(os.environ)
    env["PWD"] = cwd = ops.working_directory(env.get("PWD"))
    return env, cwd


def planned(nsfile: str | None, env: dict[str, str], cwd: str) -> Plan:
    """The file's plan; raises NewnsErrors with every problem."""
    interp = Interpreter(env, cwd)
    return interp.plan(interp.load(nsfile) if nsfile is not None else [])


def run(nsfile: str | None, argv: list[str], debug: bool) -> None:
    env, cwd = caller()
    plan = planned(nsfile, env, cwd)
    if debug:
        for warning in plan.warnings:
            print(warning.report("warning"), file=sys.stderr)
    if nsfile is not None:
        env["NEWNS"] = os.path.normpath(os.path.join(cwd, nsfile))
    argv = argv or [env.get("SHELL") or "/bin/sh"]
    ops.launch(plan, argv, env, cwd, debug)


def run_check(nsfile: str) -> int:
    """Every problem and warning, one a line as FILE:LINE:COL: ...; 125 when there are problems."""
    interp = Interpreter(*caller())
    try:
        interp.plan(interp.load(nsfile))
        problems: list[NewnsError] = []
    except NewnsErrors as errors:
        problems = errors.problems
    report = [(w.where, f"warning: {w.message}") for w in interp.warnings] + [(p.where, p.message) for p in problems]
    for where, message in sorted(report, key=lambda r: (r[0].file, r[0].line, r[0].col)):
        print(f"{where}: {message}")
    return EXIT_FAILURE if problems else 0


def run_explain(nsfile: str) -> None:
    from .explain import explain

    plan = planned(nsfile, *caller())
    uid, gid = ops.ids()
    for line in explain(plan, rootless=ops.rootless(), uid=uid, gid=gid):
        print(line)


def run_ns(pid: str) -> None:
    from .nsdump import namespace_lines

    mountinfo, cwd = ops.process_view(pid)
    for line in namespace_lines(mountinfo, cwd):
        print(line)


def run_attach(pid: int, nsfile: str | None, argv: list[str], debug: bool, allow_host: bool) -> None:
    """Change the running namespace of pid as the file says, then run a command in it if one is given."""
    target = ops.namespace_id(pid)
    host = {ops.namespace_id("self")}
    try:
        host.add(ops.namespace_id(1))
    except PermissionError:
        pass
    if target in host and not allow_host:
        raise NewnsError(
            f"--attach {pid}: that process is in your own mount namespace or the initial one (PID 1's): "
            "changing it changes the host's mount table, which newns otherwise never touches. "
            "Add --allow-host-namespace if that is what you want."
        )
    _, cwd = ops.process_view(pid)
    env = dict(os.environ, PWD=cwd)
    if nsfile is not None:
        interp = Interpreter(env, cwd)
        file_ops = interp.load(nsfile)
        ops.join_namespace(pid)
        plan = interp.plan(file_ops)
        if plan.cleared or plan.pid_namespace or plan.work_dirs:
            raise NewnsError(
                f"--attach: {nsfile} needs clear, #proc or a real directory taking creations, "
                "which only a new namespace can have"
            )
        mounter = ops.Mounter(debug)
        try:
            mounter.run(plan)
        finally:
            mounter.close()
        if not argv:
            return
    else:
        ops.join_namespace(pid)
    if not ops.chdir(cwd):
        ops.chdir("/")
    ops.execute(argv or [env.get("SHELL") or "/bin/sh"], env)


def shebang(nsfile: str | None, argv: list[str]) -> tuple[str | None, list[str]]:
    """Without -f, a first argument whose #! line runs newns is the namespace file."""
    if nsfile is None and argv and ops.names_newns(argv[0]):
        return argv[0], argv[1:]
    return nsfile, argv


def guarded(mode: Callable[..., int | None], *args: object) -> None:
    """Run a mode; newns's own failures are a message and exit 125."""
    try:
        sys.exit(mode(*args))
    except NewnsError as error:
        print(error, file=sys.stderr)
    except OSError as error:
        print(f"newns: {error.filename + ': ' if error.filename else ''}{error.strerror}", file=sys.stderr)
    except Exception as error:  # a bug: say so in one line, and still exit as newns's failures do
        print(f"newns: internal error, please report it: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(EXIT_FAILURE)


def plain_run(args: list[str]) -> tuple[str | None, bool, list[str]] | None:
    """The options of a plain run, read as the click command in options.py reads
    them (-f/-n FILE, -d, -a, then --, or the command); None for anything else,
    which goes to click."""
    nsfile, debug = None, False
    while args:
        word = args[0]
        if word in ("-f", "-n") and len(args) > 1:
            nsfile, args = args[1], args[2:]
        elif word in ("-d", "-a"):
            debug, args = debug or word == "-d", args[1:]
        elif word == "--":
            return nsfile, debug, args[1:]
        elif word.startswith("-"):
            return None
        else:
            break
    return nsfile, debug, args


def main() -> None:
    """The newns command. A plain run takes a short path that loads neither
    click nor the other modes: newns's own start-up is the cost of every call."""
    sys.stdout.reconfigure(errors="surrogateescape")  # paths are bytes: print them back as they came
    if ops.setuid():
        print(
            "newns: refusing to run set-user-ID or set-group-ID: newns needs no privilege it was not given; "
            "remove the bit (chmod u-s,g-s), and run it as root or as yourself",
            file=sys.stderr,
        )
        sys.exit(EXIT_FAILURE)
    plain = None if "_NEWNS_COMPLETE" in os.environ else plain_run(sys.argv[1:])
    if plain is None:
        from .options import newns

        newns(prog_name="newns")
        return
    nsfile, debug, argv = plain
    guarded(run, *shebang(nsfile, argv), debug)
