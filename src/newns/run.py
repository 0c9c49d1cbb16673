"""A plain run: the caller's environment, the file planned, the namespace built and the
command run in it; and how newns's own failures end newns (guarded). The other modes are
in modes.py, off a plain run's path."""
from __future__ import annotations

import gc
import os
import sys

from .diagnostics import EXIT_FAILURE, Diagnostic, Error, NewnsError, failure, report
from .linux import cache, launch, world
from .loader import Loader
from .interp import Interpreter

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable

    from .linux.supervisor import CallerSignals
    from .plan import Plan


def caller() -> tuple[dict[str, str], str]:
    """The caller's environment and working directory, with PWD made right, as a shell does."""
    env = dict(os.environ)
    env["PWD"] = cwd = world.working_directory(env.get("PWD"))
    _undo_pyenv_exec(env)
    return env, cwd


def _undo_pyenv_exec(env: dict[str, str]) -> None:
    """newns installed with a pyenv Python's pip is started through a pyenv shim, whose
    `pyenv exec` puts that Python's bin directory first on PATH: the command would find
    that Python before the one a namespace file chose. Take it off again."""
    root, path = env.get("PYENV_ROOT"), env.get("PATH", "")
    first, _, rest = path.partition(":")
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    if root and first == here and here.startswith(os.path.join(root, "versions", "")):
        env["PATH"] = rest


def planned(nsfile: str | None, env: dict[str, str], cwd: str) -> tuple[Plan, Callable[[frozenset[int]], Plan]]:
    """The file's plan, and how to plan it again without operations the kernel refused;
    raises NewnsError with every problem.

    The operations and the plan live until newns ends: Python's cycle collector,
    which would walk them again and again as they grow, is off while they are made,
    and they are left out of its walks after (gc.freeze). A 100,000-line file is
    read in two thirds of the time."""
    host = world.Host()
    parsed = cache.ParsedFiles(env)
    loader = Loader(host, env, cwd, parsed)
    gc.disable()
    try:
        ops = loader.load(nsfile) if nsfile is not None else []
        try:
            first = Interpreter(env, cwd, host, loader=loader).plan(ops)
        except NewnsError as failed:
            raise NewnsError.of(sorted(loader.problems + failed.diagnostics, key=Diagnostic.position)) from None
    finally:
        parsed.close()
        gc.freeze()
        gc.enable()

    def plan(skipped: frozenset[int] = frozenset()) -> Plan:
        return Interpreter(env, cwd, host, loader=loader).plan(ops, skipped)

    if loader.problems:
        raise NewnsError.of(sorted(loader.problems + first.warnings, key=Diagnostic.position))
    return first, plan


def plain(nsfile: str | None, argv: list[str], *, debug: bool, die_with_parent: bool, signals: CallerSignals) -> None:
    env, cwd = caller()
    try:
        plan, replan = planned(nsfile, env, cwd)
    except NewnsError as failed:  # the problems; the warnings and notes with them under -d
        raise NewnsError.of([d for d in failed.diagnostics if debug or isinstance(d, Error)]) from None
    if debug:
        report(plan.warnings)
    if nsfile is not None:
        env["NEWNS"] = os.path.normpath(os.path.join(cwd, nsfile))
    argv = argv or [env.get("SHELL") or "/bin/sh"]
    launch.launch(launch.Launch(
        plan=plan, replan=replan, argv=argv, env=env, cwd=cwd, debug=debug, die_with_parent=die_with_parent,
        signals=signals,
    ))


def reader_gone() -> None:
    """The reader of standard output left (newns --ns | head): end as a process SIGPIPE
    killed does, without a word."""
    os._exit(128 + 13)


def shebang(nsfile: str | None, argv: list[str], dashdash: bool) -> tuple[str | None, list[str]]:
    """Without -f, the first argument is the namespace file when the kernel ran that file
    as a script: a path to an executable file whose #! line runs newns, and no -- before it."""
    if nsfile is None and not dashdash and argv and world.names_newns(argv[0]):
        return argv[0], argv[1:]
    return nsfile, argv


def guarded(mode: Callable[..., int | None], *args: object, **options: object) -> None:
    """Run a mode; newns's own failures are a message and exit 125."""
    try:
        code = mode(*args, **options)
        if sys.stdout is not None:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                reader_gone()
        sys.exit(code)
    except Exception as exception:  # a bug too: say so in one line, and exit as newns's failures do
        report(failure(exception))
    os._exit(EXIT_FAILURE)  # nothing more to flush: what was to be written could not be
