"""What newns's own imports come to for one run, against two measures of how far code
could take them: the same modules with the body of every function the run never calls
emptied (what moving code off the run's path could gain, but for the definitions, which
stay), and as many modules with nothing in them (Python's import machinery alone: what
merging modules could gain at most). The emptied copy is measured against a copy of the
same modules, rewritten the same way and loaded from the same place, but not emptied."""
from __future__ import annotations

import ast
import json
import os
import shutil
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from .breakdown import importing, run_modules
from .timing import check, spawn
from .tools import script_python

TRACE = """
import json, os, sys
newns, file, out = sys.argv[1:4]
called = set()

def profile(frame, event, arg):
    if event == "call":
        called.add((frame.f_code.co_filename, frame.f_code.co_firstlineno))

execve = os.execve

def traced_execve(*args):
    sys.setprofile(None)
    with open(out, "w") as f:
        json.dump(sorted(called), f)
    execve(*args)

os.execve = traced_execve
sys.argv = [newns, "-f", file, "true"]
sys.setprofile(profile)
exec(compile(open(newns).read(), newns, "exec"), {"__name__": "__main__", "__file__": newns})
"""
"""Runs the newns script as it runs, noting each function called, until the command's exec."""


@dataclass(frozen=True)
class Least:
    """Medians in ms from one loop that takes each command in turn, each a whole process:
    the interpreter bare (-I -S); started as the script is, with _ctypes; that importing
    newns's modules as the run does; a copy of them; the copy with the body of every
    function the run never calls emptied; and as many empty modules."""

    modules: int
    bare: float
    start: float
    imports: float
    copied: float
    called_only: float
    machinery: float


def least(newns: str, file: str, env: Mapping[str, str], scratch: str, *, rounds: int) -> Least:
    """The measures of newns's own imports for a run of `newns -f file true`."""
    python = script_python(newns)
    modules = run_modules(python, newns, file, env)
    trace = os.path.join(scratch, "called.json")
    check([python, "-I", "-c", TRACE, newns, file, trace], env)
    with open(trace) as f:
        called = {(name, line) for name, line in json.load(f)}
    package = check([python, "-I", "-c", "import newns; print(newns.__path__[0])"], env).strip()
    copies = {name: os.path.join(scratch, name) for name in ("copied", "called-only")}
    for name, root in copies.items():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(package, os.path.join(root, "newns"), ignore=shutil.ignore_patterns("__pycache__"))
        for module in modules:
            relative = os.path.join(package, *module.split(".")[1:])
            source = os.path.join(relative, "__init__.py") if os.path.isdir(relative) else relative + ".py"
            with open(source) as f:
                tree = ast.parse(f.read())
            if name == "called-only":
                _empty_uncalled(tree.body, source, called)
            with open(os.path.join(root, "newns", os.path.relpath(source, package)), "w") as f:
                f.write(ast.unparse(tree))
    empty = os.path.join(scratch, "empty-modules")
    os.makedirs(os.path.join(empty, "p"), exist_ok=True)
    for i in range(len(modules) - 1):  # and the package: as many modules as newns's
        with open(os.path.join(empty, "p", f"m{i}.py"), "w") as f:
            f.write("from __future__ import annotations\n")
    open(os.path.join(empty, "p", "__init__.py"), "w").close()
    argvs = [
        [python, "-I", "-S", "-c", "pass"],
        importing(python, []),
        importing(python, modules),
        importing(python, modules, copies["copied"]),
        importing(python, modules, copies["called-only"]),
        importing(python, [f"p.m{i}" for i in range(len(modules) - 1)], empty),
    ]
    for argv in argvs:
        check(argv, env)  # writes the bytecode
    samples: list[list[float]] = [[] for _ in argvs]
    for cycle in range(rounds):
        for turn in range(len(argvs)):  # each round starts one later: no command always follows another
            index = (cycle + turn) % len(argvs)
            samples[index].append(spawn(argvs[index], env))
    bare, start, imports, copied, called_only, machinery = (statistics.median(times) for times in samples)
    return Least(
        modules=len(modules), bare=bare, start=start, imports=imports, copied=copied, called_only=called_only,
        machinery=machinery,
    )


def _empty_uncalled(body: list[ast.stmt], source: str, called: set[tuple[str, int]]) -> None:
    """The body of each function and method never called, at a module's top, in its classes
    and in its top-level if and try blocks, emptied; their names and decorators kept (the
    module still defines all it exports)."""
    for node in body:
        if isinstance(node, ast.ClassDef):
            _empty_uncalled(node.body, source, called)
        elif isinstance(node, ast.If):
            _empty_uncalled(node.body, source, called)
            _empty_uncalled(node.orelse, source, called)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                _empty_uncalled(block, source, called)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if (source, first) not in called and (source, node.lineno) not in called:
                node.body = [ast.Pass()]
                node.args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
                node.returns = None
