"""Timing loops that run inside a namespace (or in a fresh process): `python -m bench.inner MODE ...`.

Each mode prints its samples in ms as JSON on standard output:
  loop RUNS COMMAND...        COMMAND's wall time, RUNS times after a warm-up run
  walk SETTINGS DIR_A DIR_B   a tree walk of DIR_A and of DIR_B, alternating
  list SETTINGS DIR_A DIR_B   the same, of the files' names alone (as find DIR -type f)
  plan FILE                   newns's load and plan of a namespace file, once
  receive PORT BYTES          the time to read BYTES from a server on 127.0.0.1:PORT
  binds FILE                  the kernel's own cost of a file of binds: a new mount namespace
                              and one mount(2) a line, from this Python, no checks (exits)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from time import perf_counter_ns

from .timing import Settings, paired, spawn


def loop(runs: int, command: list[str]) -> list[float]:
    """command's wall time, runs times after one untimed run (its name looked up in $PATH)."""
    path = shutil.which(command[0])
    if path is None:
        sys.exit(f"bench.inner: {command[0]}: command not found")
    argv = [path, *command[1:]]
    spawn(argv, os.environ)
    return [spawn(argv, os.environ) for _ in range(runs)]


def walk_tree(root: str) -> int:
    """Stat every file under root and read every .py file; the number of files."""
    files = 0
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            os.stat(path)
            files += 1
            if name.endswith(".py"):
                with open(path, "rb") as f:
                    f.read()
    return files


def list_tree(root: str) -> int:
    """The number of files under root, from their directory entries alone (no stat)."""
    return sum(len(names) for _, _, names in os.walk(root))


def timed_walk(root: str, how: Callable[[str], int]) -> list[float]:
    start = perf_counter_ns()
    how(root)
    return [(perf_counter_ns() - start) / 1e6]


def walk(settings: Settings, a: str, b: str, how: Callable[[str], int] = walk_tree) -> dict[str, list[float]]:
    """Paired walks of a and b, which must hold the same files."""
    if how(a) != how(b):
        sys.exit(f"bench.inner: {a} and {b} hold different numbers of files")
    xs, ys = paired(lambda: timed_walk(a, how), lambda: timed_walk(b, how), settings)
    return {"a": xs, "b": ys}


def plan(path: str) -> list[float]:
    """The time newns takes to read, parse and check a namespace file without mounting."""
    from newns.run import planned

    start = perf_counter_ns()
    planned(path, dict(os.environ), os.getcwd())
    return [(perf_counter_ns() - start) / 1e6]


def receive(port: int, size: int) -> list[float]:
    """The time from connecting to 127.0.0.1:port to having read size bytes."""
    import socket

    start = perf_counter_ns()
    with socket.create_connection(("127.0.0.1", port)) as s:
        left = size
        while left > 0:
            chunk = s.recv(min(left, 1 << 20))
            if not chunk:
                sys.exit(f"bench.inner: 127.0.0.1:{port} closed with {left} bytes to come")
            left -= len(chunk)
    return [(perf_counter_ns() - start) / 1e6]


def binds(path: str) -> None:
    """unshare, then mount(2) each `bind SOURCE TARGET` line of path: what the binds cost the
    kernel, with nothing of newns's reading, checking or descriptors."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pairs = [line.split()[1:3] for line in open(path) if line.startswith("bind ")]
    flags = 0x00020000 | (0x10000000 if os.geteuid() else 0)  # CLONE_NEWNS, CLONE_NEWUSER
    if libc.unshare(flags) != 0 or libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC|MS_PRIVATE
        sys.exit(f"bench.inner: unshare or make-private: {os.strerror(ctypes.get_errno())}")
    for source, target in pairs:
        if libc.mount(source.encode(), target.encode(), None, 0x1000, None) != 0:  # MS_BIND
            sys.exit(f"bench.inner: bind {source} {target}: {os.strerror(ctypes.get_errno())}")


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "loop":
        result: object = loop(int(args[0]), args[1:])
    elif mode in ("walk", "list"):
        result = walk(Settings(**json.loads(args[0])), args[1], args[2], walk_tree if mode == "walk" else list_tree)
    elif mode == "plan":
        result = plan(args[0])
    elif mode == "receive":
        result = receive(int(args[0]), int(args[1]))
    elif mode == "binds":
        binds(args[0])
        return
    else:
        sys.exit(f"bench.inner: unknown mode {mode}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
