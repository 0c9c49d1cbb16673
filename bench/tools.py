"""Finding newns and the peers it is measured against."""
from __future__ import annotations

import os
import shutil


class Skip(Exception):
    """A row can't run here; the message says why, as in 'bwrap not installed'."""


def need(name: str, package: str | None = None) -> str:
    """The path of a program a row runs, or Skip."""
    path = shutil.which(name)
    if path is None:
        raise Skip(f"{package or name} not installed")
    return path


def find_newns(given: str | None) -> tuple[str, list[str]]:
    """The newns to measure and notes on how it was chosen.

    Default: the first newns on $PATH that is not a pyenv shim (a shim would
    add pyenv's own start-up to every row), else the one ./tests/run installs.
    """
    if given:
        path = shutil.which(given) or given
        if not os.access(path, os.X_OK):
            raise SystemExit(f"bench: --newns {given}: not an executable file")
        return os.path.abspath(path), []
    notes = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(directory or ".", "newns")
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        if _is_pyenv_shim(path):
            notes.append(f"not measured: {path}, a pyenv shim")
            continue
        return os.path.abspath(path), notes
    venv = os.environ.get("NEWNS_VENV") or f"/var/tmp/newns-test-venv-{os.getuid()}"
    path = os.path.join(venv, "bin", "newns")
    if os.access(path, os.X_OK):
        return path, notes
    raise SystemExit("bench: no newns on $PATH and none in the test venv: run ./tests/run -q or give --newns PATH")


def _is_pyenv_shim(path: str) -> bool:
    if os.path.basename(os.path.dirname(path)) != "shims":
        return False
    try:
        with open(path, "rb") as f:
            return b"pyenv" in f.read(1024)
    except OSError:
        return False


def script_python(script: str) -> str:
    """The Python interpreter named by a script's #! line (newns's own), or Skip."""
    with open(script, "rb") as f:
        first = f.readline(512).decode(errors="replace")
    words = first[2:].split() if first.startswith("#!") else []
    if words and os.path.basename(words[0]) == "env":
        words = [shutil.which(words[1]) or ""] if len(words) > 1 else []
    if not words or "python" not in os.path.basename(words[0]):
        raise Skip(f"{script} is not a Python script")
    return words[0]


def pyenv() -> tuple[str, str]:
    """pyenv's root and the version the Python rows run: 3.9.18 when installed, else the newest."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    versions_dir = os.path.join(root, "versions")
    try:
        names = os.listdir(versions_dir)
    except OSError:
        raise Skip("pyenv not installed") from None
    versions = sorted(
        (n for n in names if os.access(os.path.join(versions_dir, n, "bin", "python3"), os.X_OK)),
        key=_version_key,
    )
    if not versions or not os.access(os.path.join(root, "shims", "python3"), os.X_OK):
        raise Skip(f"no pyenv python3 (and shim) under {root}")
    return root, "3.9.18" if "3.9.18" in versions else versions[-1]


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))
