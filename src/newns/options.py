"""newns's options, for --help and every mode but a plain run (see cli.main)."""
from __future__ import annotations

import os
import sys

import click

from . import __version__, modes
from .run import guarded, plain, shebang

EPILOG = """\b
Examples:
  newns -f namespaces/demo              a shell in the demo namespace
  newns -f go1.2.ns go version          one command in a namespace
  newns -f ci.ns -- make test           a CI step; its exit status passes through
  #!/usr/bin/env newns                  first line of an executable namespace file

Exit status: the command's own; 125 when newns fails; 126 when the command
can't be executed; 127 when it is not found.
"""


def process_or_name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A process by its number, or a posted namespace by its name."""
    if value is not None and value.isdigit() and int(value) == 0:
        raise click.BadParameter("0 is not a process ID")
    return value


def ssh_hosts(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """The hosts ~/.ssh/config names (not its patterns) that start with what is typed."""
    try:
        with open(os.path.expanduser("~/.ssh/config"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    names = [word for line in lines if line.split()[:1] and line.split()[0].lower() == "host" for word in line.split()[1:]]
    return [name for name in names if name.startswith(incomplete) and not set(name) & set("*?!")]


@click.command(
    context_settings={"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.option("-f", "-n", "nsfile", metavar="FILE", type=click.Path(readable=False), help="The namespace file.")
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
    metavar="[PID|NAME]",
    callback=process_or_name,
    is_flag=False,
    flag_value="self",
    help="Print the lines that build the mount namespace of PID (default: your own), or of the one posted as NAME, "
    "from the namespace it was built from.",
)
@click.option(
    "--attach",
    "attach_to",
    metavar="PID|NAME",
    callback=process_or_name,
    help="Apply the file (if any) to the running namespace of PID (or posted as NAME), then run COMMAND (if any) in it.",
)
@click.option("--post", metavar="NAME", help="Build the file's namespace and keep it alive as NAME, for --attach NAME.")
@click.option("--posted", is_flag=True, help="List your posted namespaces.")
@click.option("--unpost", metavar="NAME", help="End the namespace posted as NAME.")
@click.option(
    "--as-owner",
    is_flag=True,
    help="With --attach as root, act as the user who owns that namespace: their ids, no privilege.",
)
@click.option(
    "--allow-host-namespace",
    is_flag=True,
    help="Let --attach change your own or the initial mount namespace: the host's mount table.",
)
@click.option(
    "--cpu",
    "cpu_host",
    metavar="HOST",
    shell_complete=ssh_hosts,
    help="Run COMMAND (default: your shell there) on HOST over ssh, in a namespace there that has yours at "
    "/mnt/term and starts in /mnt/term followed by your working directory; FILE's lines are applied there after.",
)
@click.option("--die-with-parent", is_flag=True, help="Kill the command when the process that started newns dies.")
@click.version_option(__version__, "--version", prog_name="newns")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def newns(
    ctx: click.Context,
    nsfile: str | None,
    debug: bool,
    addns: bool,
    check: bool,
    explain: bool,
    ns_pid: str | None,
    attach_to: str | None,
    post: str | None,
    posted: bool,
    unpost: str | None,
    as_owner: bool,
    allow_host_namespace: bool,
    die_with_parent: bool,
    cpu_host: str | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (default: $SHELL) in a new mount namespace built from a
    Plan 9 namespace file.

    Usage: newns [-d] [-f FILE] [--] [COMMAND [ARG...]], or with a namespace
    file that starts with #!/usr/bin/env newns: ./FILE [COMMAND [ARG...]].
    """
    signals = ctx.obj
    nsfile, argv = shebang(nsfile, list(command), _after_double_dash(list(command)))
    if (check or explain and cpu_host is None) and nsfile is None:
        raise click.UsageError("--check and --explain need a namespace file: -f FILE")
    if as_owner and attach_to is None:
        raise click.UsageError("--as-owner goes with --attach PID")
    if post is not None and nsfile is None:
        raise click.UsageError("--post NAME needs a namespace file: -f FILE")
    if post is not None and argv:
        raise click.UsageError("--post runs no command: --attach NAME COMMAND runs one in the namespace")
    if check:
        guarded(modes.check, nsfile, signals)
    elif explain and cpu_host is not None:
        guarded(modes.explain_cpu, cpu_host, nsfile)
    elif explain:
        guarded(modes.explain, nsfile)
    elif ns_pid is not None:
        guarded(modes.ns, ns_pid)
    elif attach_to is not None:
        guarded(
            modes.attach, attach_to, nsfile, argv, debug=debug, allow_host=allow_host_namespace, as_owner=as_owner,
            signals=signals,
        )
    elif post is not None:
        guarded(modes.post, post, nsfile, debug=debug, signals=signals)
    elif cpu_host is not None:
        guarded(modes.cpu, cpu_host, nsfile, argv, signals)
    elif posted:
        guarded(modes.posted)
    elif unpost is not None:
        guarded(modes.unpost, unpost)
    else:
        guarded(plain, nsfile, argv, debug=debug, die_with_parent=die_with_parent, signals=signals)


def _after_double_dash(command: list[str]) -> bool:
    """Whether the command came after --: the arguments end with it, just after a --."""
    args = sys.argv[1:]
    return bool(command) and len(args) > len(command) and args[-len(command) - 1] == "--" and args[-len(command) :] == command
