"""The newns command. A plain run (-f FILE, -d, -a, the command) is read here, without
click: newns's own start-up is the cost of every call. Every other option goes to click,
in options.py."""
from __future__ import annotations

import os
import sys

from .diagnostics import EXIT_FAILURE, NewnsError, error, fail
from .linux import libc
from .linux.supervisor import CallerSignals

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable


def plain_run(args: list[str]) -> tuple[str | None, bool, bool, list[str]] | None:
    """The options of a plain run, read as the click command in options.py reads
    them (-f/-n FILE, -d, -a, then --, or the command): the file, -d, whether -- came,
    and the command; None for anything else, which goes to click."""
    nsfile, debug = None, False
    while args:
        word = args[0]
        if word in ("-f", "-n") and len(args) > 1:
            nsfile, args = args[1], args[2:]
        elif word in ("-d", "-a"):
            debug, args = debug or word == "-d", args[1:]
        elif word == "--":
            return nsfile, debug, True, args[1:]
        elif word.startswith("-"):
            return None
        else:
            break
    return nsfile, debug, False, args


def _options() -> Callable[..., None]:
    """The click command of the modes (click is imported with it)."""
    from .options import newns

    return newns


def main() -> None:
    signals = CallerSignals()
    signals.default_int()
    if libc.secure_exec() or os.getuid() != os.geteuid() or os.getgid() != os.getegid():
        fail([error(
            "refusing to run with privileges it was not given (set-user-ID, set-group-ID or file "
            "capabilities: remove them with chmod u-s,g-s and setcap -r), and run it as root or as yourself"
        )], EXIT_FAILURE)
    if sys.stdout is not None:
        sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]  # paths are bytes: print them back as they came
    plain = None if "_NEWNS_COMPLETE" in os.environ else plain_run(sys.argv[1:])
    if plain is None:
        from .packages import needed

        try:
            options = needed(_options)
        except NewnsError as missing:
            fail(missing.diagnostics)
        options(prog_name="newns", obj=signals)
        return
    from . import run

    nsfile, debug, dashdash, argv = plain
    nsfile, argv = run.shebang(nsfile, argv, dashdash)
    run.guarded(run.plain, nsfile, argv, debug=debug, die_with_parent=False, signals=signals)
