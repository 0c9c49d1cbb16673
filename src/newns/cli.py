"""The newns command: options, then a namespace file's plan run before the command."""
from __future__ import annotations

import os
import sys

import click

from . import __version__, ops
from .errors import EXIT_FAILURE, NewnsError
from .interp import Interpreter

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
@click.version_option(__version__, "--version", prog_name="newns")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def newns(nsfile: str | None, debug: bool, addns: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND (default: $SHELL) in a new mount namespace built from a
    Plan 9 namespace file.

    Usage: newns [-d] [-f FILE] [--] [COMMAND [ARG...]], or with a namespace
    file that starts with #!/usr/bin/env newns: ./FILE [COMMAND [ARG...]].
    """
    argv = list(command)
    if nsfile is None and argv and ops.names_newns(argv[0]):
        nsfile = argv.pop(0)
    try:
        run(nsfile, argv, debug)
    except NewnsError as error:
        print(error, file=sys.stderr)
        sys.exit(EXIT_FAILURE)


def run(nsfile: str | None, argv: list[str], debug: bool) -> None:
    env = dict(os.environ)
    cwd = ops.getcwd()
    interp = Interpreter(env, cwd)
    plan = interp.plan(interp.load(nsfile) if nsfile else [])
    if debug:
        for warning in plan.warnings:
            print(f"{warning} (warning)", file=sys.stderr)
    if nsfile:
        env["NEWNS"] = os.path.abspath(nsfile)
    argv = argv or [env.get("SHELL") or "/bin/sh"]
    ops.launch(plan, argv, env, cwd, debug)


def main() -> None:
    newns(prog_name="newns")
