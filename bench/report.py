"""The table of results and the project's targets."""
from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .breakdown import Parts
from .least import Least
from .rows import Row


@dataclass(frozen=True)
class Result:
    """A row's samples: newns's and its peer's."""

    row: Row
    newns: list[float]
    peer: list[float]
    parts: Parts | None = None  # where newns's time went, for a row that runs a file
    least: Least | None = None  # newns's own imports against how far code could take them, for the empty file

    @property
    def newns_median(self) -> float:
        return statistics.median(self.newns)

    @property
    def peer_median(self) -> float:
        return statistics.median(self.peer)

    @property
    def ratio(self) -> float:
        return self.newns_median / self.peer_median


@dataclass(frozen=True)
class Target:
    """One of the project's goals: a value of one row, at most limit."""

    text: str
    row: str
    value: Callable[[Result], float]
    limit: float
    unit: str  # how the value prints: "x" for a ratio, or "MB"


def _ratio(result: Result) -> float:
    return result.ratio


def _newns(result: Result) -> float:
    return result.newns_median


TARGETS = [
    Target("empty file: newns <= 1.8x python -I -S", "floor", _ratio, 1.8, "x"),
    Target("10 binds: newns <= 3x bwrap", "binds-10-bwrap", _ratio, 3.0, "x"),
    Target("1000 binds: newns <= 0.1x bwrap", "binds-1000-bwrap", _ratio, 0.1, "x"),
    Target("10000 binds: newns <= 1.5x the mount(2) loop", "binds-10000-kernel", _ratio, 1.5, "x"),
    Target("python version per call <= 0.40x pyenv shim", "python-shim", _ratio, 0.40, "x"),
    Target("call inside a namespace 1.0x direct (<= 1.05x)", "python-inside", _ratio, 1.05, "x"),
    Target("500-layer union set-up <= 2.0x empty file", "union-500", _ratio, 2.0, "x"),
    Target("100k-line file <= 12x 10k-line file", "nsfile-100k", _ratio, 12.0, "x"),
    Target("peak RSS, 10 binds <= 30 MB", "rss-10-bwrap", _newns, 30.0, "MB"),
    Target("peak RSS, 1000 binds <= 30 MB", "rss-1000-bwrap", _newns, 30.0, "MB"),
]


def machine(newns: str) -> str:
    return (
        f"machine: {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()} ({sys.executable}); newns: {newns}"
    )


def table(results: list[Result]) -> list[str]:
    """One line per row: medians of both sides, their ratio, and the number of samples."""
    lines = [f"{'row':<18} {'peer':<17} {'newns':>10} {'peer':>10} {'ratio':>8} {'n':>4}"]
    for r in results:
        unit = r.row.unit
        lines.append(
            f"{r.row.name:<18} {r.row.peer:<17} {_value(r.newns_median, unit):>10} "
            f"{_value(r.peer_median, unit):>10} {r.ratio:>8.3g} {len(r.newns):>4}"
        )
        if r.parts is not None:
            lines.append(f"{'':<18} newns: {r.parts.shown()}")
    return lines


def targets(results: list[Result]) -> list[str]:
    """Each target with the measured value, met or not met."""
    by_name = {r.row.name: r for r in results}
    lines = ["targets:"]
    for target in TARGETS:
        result = by_name.get(target.row)
        if result is None:
            verdict = "not measured"
        else:
            value = target.value(result)
            shown = f"{value:.3g}x" if target.unit == "x" else _value(value, target.unit)
            verdict = f"{shown:>9}  {'met' if value <= target.limit else 'NOT MET'}"
        lines.append(f"  {target.text:<48} {verdict}")
    lines += bounds(by_name)
    return lines


def bounds(by_name: dict[str, Result]) -> list[str]:
    """What bounds the targets of newns's start, measured in the same run: the interpreter's
    start and newns's imports (least.py), for the empty file; a run of an empty file, for 10 binds against
    bwrap; what a line costs, for a union of 500 layers; that run and the chosen Python's own
    start, for a Python chosen per call."""
    floor = by_name.get("floor")
    if floor is None:
        return []
    lines = []
    if floor.least is not None:
        least = floor.least
        own = least.imports - least.start

        def share(ms: float) -> str:
            return f"{ms / least.bare:.2f}x"

        lines.append(
            f"  bounded by, measured together: the interpreter's start with site and _ctypes is {share(least.start)}; "
            f"newns's own {least.modules} modules add {share(own)} (a copy of them {share(least.copied - least.start)}, "
            f"and {share(least.called_only - least.start)} with the body of every function a run of the empty file "
            f"never calls emptied); Python's import machinery alone, for {least.modules} empty modules, "
            f"{share(least.machinery - least.start)}; 1.8x leaves {share(1.8 * least.bare - least.start)} for newns's "
            "imports, planning and exec"
        )
    binds = by_name.get("binds-10-bwrap")
    if binds is not None:
        lines.append(f"  bounded by: for 10 binds, a run of an empty file is {floor.newns_median / binds.peer_median:.2f}x bwrap's")
    union, empty_parts = by_name.get("union-500"), floor.parts
    if union is not None and union.parts is not None and empty_parts is not None:
        layers = 499  # lines of the file: its target is the last layer
        plan = (union.parts.plan - empty_parts.plan) / layers * 1000
        kernel = (union.parts.kernel - empty_parts.kernel) / layers * 1000
        lines.append(
            f"  bounded by: for 500 layers, a line costs {plan:.0f} µs to read and plan and {kernel:.0f} µs in the "
            f"kernel, and 2x an empty file leaves {union.peer_median / layers * 1000:.0f} µs a line"
        )
    shim, direct = by_name.get("python-shim"), by_name.get("python-inside")
    if shim is not None and direct is not None:
        per_call = (floor.newns_median + direct.peer_median) / shim.peer_median
        lines.append(f"  bounded by: for a Python per call, a run of an empty file and that Python's start are {per_call:.2f}x the shim")
    return lines


def _value(value: float, unit: str) -> str:
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {unit}"
