"""The command's exec: the file a shell would run, the caller's signals given back, no
privilege to gain, no way into the terminal's input."""
from __future__ import annotations

import errno
import os

from ..diagnostics import EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, error, fail
from . import libc, seccomp
from .world import find_executable

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from .supervisor import CallerSignals


def find_command(name: str, env: dict[str, str]) -> str:
    """The file a shell would run for name; exits 127 or 126 as a shell does."""
    if "/" in name:
        return name
    found, denied = find_executable(name, env.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
    if found is not None:
        return found
    if denied:
        fail([error(f"{denied}: permission denied")], EXIT_NOT_EXECUTABLE)
    fail([error(f"{name}: command not found")], EXIT_NOT_FOUND)
    raise AssertionError("unreachable")


def execute(argv: list[str], env: dict[str, str], signals: CallerSignals, *, no_new_privs: bool) -> None:
    """Replace newns with the command: the caller's signals back, no privilege to gain, no
    way into the terminal's input. Exits 126/127 when it can't be run."""
    path = find_command(argv[0], env)
    signals.give_back()
    if no_new_privs:
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    seccomp.keep_out_of_the_terminal()
    try:
        os.execve(path, argv, env)
    except (OSError, ValueError) as e:
        err = getattr(e, "errno", None)
        code = EXIT_NOT_FOUND if err in (errno.ENOENT, errno.ENOTDIR) else EXIT_NOT_EXECUTABLE
        fail([error(f"{argv[0]}: {getattr(e, 'strerror', None) or e}")], code)
