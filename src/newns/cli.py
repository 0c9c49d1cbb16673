"""The newns command: options, then a namespace file's plan run before the command."""
from __future__ import annotations

import os
import sys

import click

from . import __version__, ops
from .errors import EXIT_FAILURE, NewnsError, NewnsErrors
from .explain import explain
from .interp import Interpreter
from .nsdump import namespace_lines
from .plan import Plan

EPILOG = """\b
Examples:
  newns -f namespaces/demo              a shell in the demo namespace
  newns -f go1.2.ns go version          one command in a namespace
  newns -f ci.ns -- make test           a CI step; its exit status passes through
  #!/usr/bin/env newns                  first line of an executable namespace file

Exit status: the command's own; 125 when newns fails; 126 when the command
can't be executed; 127 when it is not found.
"""


@click.command(
    context_settings={"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.option("-f", "-n", "nsfile", metavar="FILE", help="The namespace file.")
@click.option("-d", "debug", is_flag=True, help="Echo each operation to stderr as it is applied.")
@click.option(
    "-a",
    "addns",
    is_flag=True,
    help="Accepted for Plan 9: newns always starts from a private copy of the caller's namespace.",
)
@click.option("--check", is_flag=True, help="Check the file and its includes; report every problem; run nothing.")
@click.option("--explain", is_flag=True, help="Print the Linux operations the file stands for; do nothing.")
@click.option(
    "--ns",
    "ns_pid",
    metavar="[PID]",
    is_flag=False,
    flag_value="self",
    help="Print the mount namespace of PID (default: your own) as a namespace file.",
)
@click.option(
    "--attach",
    "attach_pid",
    metavar="PID",
    type=int,
    help="Apply the file to the running namespace of PID, or run COMMAND in it.",
)
@click.option(
    "--allow-host-namespace",
    is_flag=True,
    help="Let --attach change your own or the initial mount namespace: the host's mount table.",
)
@click.version_option(__version__, "--version", prog_name="newns")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def newns(
    nsfile: str | None,
    debug: bool,
    addns: bool,
    check: bool,
    explain: bool,
    ns_pid: str | None,
    attach_pid: int | None,
    allow_host_namespace: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (default: $SHELL) in a new mount namespace built from a
    Plan 9 namespace file.

    Usage: newns [-d] [-f FILE] [--] [COMMAND [ARG...]], or with a namespace
    file that starts with #!/usr/bin/env newns: ./FILE [COMMAND [ARG...]].
    """
    argv = list(command)
    if nsfile is None and argv and ops.names_newns(argv[0]):
        nsfile = argv.pop(0)
    if (check or explain) and nsfile is None:
        raise click.UsageError("--check and --explain need a namespace file: -f FILE")
    try:
        if check:
            sys.exit(run_check(nsfile))
        if explain:
            run_explain(nsfile)
        elif ns_pid is not None:
            run_ns(ns_pid)
        elif attach_pid is not None:
            run_attach(attach_pid, nsfile, argv, debug, allow_host_namespace)
        else:
            run(nsfile, argv, debug)
    except NewnsError as error:
        print(error, file=sys.stderr)
        sys.exit(EXIT_FAILURE)
    except OSError as error:
        print(f"newns: {error.filename + ': ' if error.filename else ''}{error.strerror}", file=sys.stderr)
        sys.exit(EXIT_FAILURE)


def planned(nsfile: str | None, cwd: str | None = None) -> Plan:
    """The file's plan; raises NewnsErrors with every problem."""
    cwd = cwd or ops.getcwd()
    interp = Interpreter(dict(os.environ), cwd)
    return interp.plan(interp.load(nsfile) if nsfile else [])


def run(nsfile: str | None, argv: list[str], debug: bool) -> None:
    env = dict(os.environ)
    cwd = ops.getcwd()
    plan = planned(nsfile, cwd)
    if debug:
        for warning in plan.warnings:
            print(f"{warning} (warning)", file=sys.stderr)
    if nsfile:
        env["NEWNS"] = os.path.abspath(nsfile)
    argv = argv or [env.get("SHELL") or "/bin/sh"]
    ops.launch(plan, argv, env, cwd, debug)


def run_check(nsfile: str) -> int:
    """Every problem and warning, one a line as FILE:LINE:COL: ...; 125 when there are problems."""
    interp = Interpreter(dict(os.environ), ops.getcwd())
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
    plan = planned(nsfile)
    for line in explain(plan, rootless=ops.rootless(), uid=os.geteuid(), gid=os.getegid()):
        print(line)


def run_ns(pid: str) -> None:
    mountinfo, cwd = ops.process_view(pid)
    for line in namespace_lines(mountinfo, cwd):
        print(line)


def run_attach(pid: int, nsfile: str | None, argv: list[str], debug: bool, allow_host: bool) -> None:
    """Change the running namespace of pid as the file says, or run a command in it."""
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
    if nsfile is None:
        ops.join_namespace(pid)
        if not ops.chdir(cwd):
            ops.chdir("/")
        ops.execute(argv or [os.environ.get("SHELL") or "/bin/sh"], dict(os.environ))
    interp = Interpreter(dict(os.environ), cwd)
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


def main() -> None:
    newns(prog_name="newns")
