"""Where newns's part of a run goes: the interpreter's start, _ctypes, newns's own imports,
reading and planning the file, and the kernel's work with the exec of the command.

Each part is the median of separate processes: the interpreter with site (as the
installed script starts it), the same loading _ctypes (ctypes's C core, newns's one way
to the system calls os lacks), the same importing the modules the run imports,
the same again timing newns's own reading and planning of the file (as a run does it,
through the cache of parsed files), and the whole run. The kernel's part, with the exec,
is what the run takes beyond the other three. A regression shows its cause in the part
that grew.
"""
from __future__ import annotations

import statistics
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from .timing import check, spawn
from .tools import script_python

RUNS = 9
"""Processes for each part's median: the parts are a guide, the rows are the measurement."""

PLAN = """
import os, sys, time
modules = sys.argv[2:]
for name in modules:
    __import__(name)
from newns.run import planned
start = time.perf_counter_ns()
planned(sys.argv[1], dict(os.environ), os.getcwd())
print((time.perf_counter_ns() - start) / 1e6)
"""


@dataclass(frozen=True)
class Parts:
    """The medians, in ms."""

    start: float
    ctypes: float  # _ctypes's load
    imports: float
    plan: float
    kernel: float

    def shown(self) -> str:
        return (
            f"start {self.start:.1f}, _ctypes {self.ctypes:.1f}, own imports {self.imports:.1f}, read+plan {self.plan:.1f}, "
            f"kernel+exec {self.kernel:.1f} ms"
        )


def parts(newns: str, file: str, env: Mapping[str, str], total: float) -> Parts:
    """Where a run of `newns -f file true` (total ms, the row's median) spends its time."""
    python = script_python(newns)
    modules = run_modules(python, newns, file, env)
    start = _median([python, "-I", "-c", "pass"], env)
    with_ctypes = _median(importing(python, []), env)
    imported = _median(importing(python, modules), env)
    plan = statistics.median(float(check([python, "-I", "-c", PLAN, file, *modules], env)) for _ in range(RUNS))
    return Parts(start, with_ctypes - start, imported - with_ctypes, plan, max(total - imported - plan, 0.0))


def importing(python: str, modules: list[str], path: str | None = None) -> list[str]:
    """The interpreter as the script starts it (-I, with site), loading _ctypes and modules
    (from path first, when given)."""
    first = [f"import sys; sys.path.insert(0, {path!r})"] if path else []
    return [python, "-I", "-c", "; ".join([*first, "import _ctypes", *(f"import {m}" for m in modules)])]


def run_modules(python: str, newns: str, file: str, env: Mapping[str, str]) -> list[str]:
    """newns's modules that a run of file imports (after a first run, which may parse it)."""
    argv = [python, "-I", "-X", "importtime", newns, "-f", file, "true"]
    check(argv, env)
    done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=True)
    names = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    return sorted(name for name in names if name == "newns" or name.startswith("newns."))


def _median(argv: list[str], env: Mapping[str, str]) -> float:
    spawn(argv, env)
    return statistics.median(spawn(argv, env) for _ in range(RUNS))
