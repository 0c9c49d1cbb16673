"""Timed process runs and the paired, alternating loop every row uses."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter_ns

Measure = Callable[[], list[float]]
"""One run of one side of a row: the sample(s) it gives, in the row's unit."""

WARMUP_S = 1.0
"""Warm-up pairs stop after this long, once one pair is done."""


class CommandFailed(Exception):
    """A timed command exited with a failure status."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How many times to run each side of a row."""

    runs: int  # timed pairs per row, at most
    warmup: int  # untimed pairs first
    budget_s: float  # a row stops adding pairs after this long...
    min_pairs: int  # ...once it has this many


def check(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """Run argv once; its standard output, or CommandFailed with the end of its errors."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, close_fds=True, check=False)
    if done.returncode != 0:
        raise CommandFailed(f"{_show(argv)}: {_complaint(done.stderr) or f'exit status {done.returncode}'}")
    return done.stdout


def spawn(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Run argv (an absolute path first) with stdio on /dev/null: its fork+exec+wait time in ms."""
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    start = perf_counter_ns()
    pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = perf_counter_ns() - start
    if status != 0:
        raise CommandFailed(f"{_show(argv)}: wait status {status}")
    return elapsed / 1e6


def timed(argv: Sequence[str], env: Mapping[str, str]) -> Measure:
    """A Measure of argv's wall time in ms, after checking once that it succeeds."""
    check(argv, env)
    return lambda: [spawn(argv, env)]


def peak_memory(gnu_time: str, argv: Sequence[str], env: Mapping[str, str], report: str) -> Measure:
    """A Measure of argv's peak resident memory in MB, after checking once that it succeeds.

    GNU time forks argv from its own small process and writes its child's peak to
    report. (A child spawned from this Python process would count the memory of
    the process it came from: exec keeps the high-water mark of the replaced memory.)
    """
    command = [gnu_time, "-f", "%M", "-o", report, *argv]
    check(command, env)

    def measure() -> list[float]:
        spawn(command, env)
        with open(report) as f:
            return [int(f.read().split()[-1]) / 1024]

    return measure


def paired(a: Measure, b: Measure, settings: Settings) -> tuple[list[float], list[float]]:
    """Samples of a and b from alternating runs (a b a b ...), after warm-up pairs.

    Warm-up stops after WARMUP_S once a pair is done (a slow command was warmed by
    its check run). Pairs go on until settings.runs, or until the row has used its
    time budget and has at least settings.min_pairs.
    """
    start = perf_counter_ns()
    for done in range(settings.warmup):
        if done and perf_counter_ns() - start > WARMUP_S * 1e9:
            break
        a()
        b()
    xs: list[float] = []
    ys: list[float] = []
    start = perf_counter_ns()
    for done in range(settings.runs):
        if done >= settings.min_pairs and perf_counter_ns() - start > settings.budget_s * 1e9:
            break
        xs.extend(a())
        ys.extend(b())
    return xs, ys


def _complaint(stderr: str) -> str:
    """The line of stderr that says what went wrong: newns's first message, else the last line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("newns:")), lines[-1] if lines else "")


def _show(argv: Sequence[str]) -> str:
    text = " ".join(argv)
    return text if len(text) <= 120 else text[:117] + "..."
