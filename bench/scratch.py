"""Scratch trees and namespace files, made on first use under one temporary directory."""
from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
from functools import cached_property

MAX_BINDS = 10_000
MAX_LAYERS = 500
STDLIB = sysconfig.get_paths()["stdlib"]


class Scratch:
    """Everything the rows need on disk; close() removes it all."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="newns-bench-")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def directory(self, *parts: str) -> str:
        """An empty directory (made once), e.g. a mount point."""
        path = self.path(*parts)
        os.makedirs(path, exist_ok=True)
        return path

    def write(self, name: str, lines: list[str]) -> str:
        """A file of these lines; its path."""
        path = self.path(name)
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        return path

    # -- binds ------------------------------------------------------------

    @cached_property
    def bind_dirs(self) -> tuple[str, str]:
        """Directories s and d, each holding empty directories 0 .. MAX_BINDS-1."""
        for side in ("s", "d"):
            for i in range(MAX_BINDS):
                os.makedirs(self.path("b", side, str(i)))
        return self.path("b", "s"), self.path("b", "d")

    def bind_pairs(self, count: int) -> list[tuple[str, str]]:
        """(source, target) of count distinct binds."""
        src, dst = self.bind_dirs
        return [(f"{src}/{i}", f"{dst}/{i}") for i in range(count)]

    def bind_file(self, count: int) -> str:
        """A namespace file of count binds, each onto its own directory."""
        return self.write(f"binds-{count}.ns", [f"bind {s} {d}" for s, d in self.bind_pairs(count)])

    # -- unions -----------------------------------------------------------

    @cached_property
    def layers(self) -> list[str]:
        """MAX_LAYERS - 1 directories, each holding one file of its own."""
        paths = []
        for i in range(MAX_LAYERS - 1):
            path = self.directory("l", str(i))
            with open(os.path.join(path, f"f{i}"), "w") as f:
                f.write(f"{i}\n")
            paths.append(path)
        return paths

    def union_file(self, layers: int) -> str:
        """A namespace file that makes a union of this many layers, its target included."""
        target = self.directory("l", "target")
        return self.write(f"union-{layers}.ns", [f"bind -a {p} {target}" for p in self.layers[: layers - 1]])

    @cached_property
    def empty_file(self) -> str:
        return self.write("empty.ns", [])

    # -- a tree to walk -----------------------------------------------------

    @cached_property
    def tree(self) -> str:
        """A copy of this Python's standard library, without installed packages."""
        path = self.path("tree")
        shutil.copytree(STDLIB, path, ignore=shutil.ignore_patterns("site-packages", "dist-packages"))
        return path

    @cached_property
    def split_tree(self) -> tuple[str, str]:
        """The tree as two layers that both hold every directory: .py files, and the rest.

        In a union of the two every directory is merged, the costly case for overlayfs.
        The files are hard links to the tree's.
        """
        halves = self.path("py"), self.path("other")
        for directory, _, names in os.walk(self.tree):
            rel = os.path.relpath(directory, self.tree)
            for half in halves:
                os.makedirs(os.path.join(half, rel), exist_ok=True)
            for name in names:
                half = halves[0] if name.endswith(".py") else halves[1]
                os.link(os.path.join(directory, name), os.path.join(half, rel, name))
        return halves

    def tree_note(self) -> str:
        """What the walked tree holds, as a note under the table."""
        files = py = 0
        for _, _, names in os.walk(self.tree):
            files += len(names)
            py += sum(name.endswith(".py") for name in names)
        return f"walked tree: a copy of {STDLIB} ({files} files, {py} .py)"
