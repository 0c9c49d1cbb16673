"""python -m bench [--runs N] [--quick] [--newns PATH] [--only ROW]...: run the rows, print one table."""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

from . import breakdown, report
from .rows import ROWS, Context, Row
from .least import least
from .scratch import Scratch
from .timing import CommandFailed, Settings
from .tools import Skip, find_newns

DEFAULT = Settings(runs=30, warmup=2, budget_s=6.0, min_pairs=5)
QUICK = Settings(runs=5, warmup=1, budget_s=2.0, min_pairs=3)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark newns against its peers.")
    parser.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help=f"timed pairs per row (default: up to {DEFAULT.runs}; a row stops after "
        f"{DEFAULT.budget_s:g} s once it has {DEFAULT.min_pairs})",
    )
    parser.add_argument("--quick", action="store_true", help="few runs: a quick look, not a measurement")
    parser.add_argument("--newns", metavar="PATH", help="the newns to measure (default: on $PATH, else the test venv's)")
    parser.add_argument(
        "--only", action="append", metavar="ROW", help="run only this row, or rows starting ROW- (repeatable)"
    )
    return parser.parse_args(argv)


def selected(only: list[str] | None) -> list[Row]:
    if not only:
        return ROWS
    rows = [r for r in ROWS if any(r.name == o or r.name.startswith(o + "-") for o in only)]
    if not rows:
        raise SystemExit(f"bench: no row named {', '.join(only)}; rows: {' '.join(r.name for r in ROWS)}")
    return rows


def settings(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else DEFAULT
    if args.runs is None:
        return base
    if args.runs < 1:
        raise SystemExit("bench: --runs must be at least 1")
    return Settings(args.runs, base.warmup, math.inf, args.runs)


def run_rows(rows: list[Row], ctx: Context) -> list[report.Result]:
    """Each row's samples; a row that can't run adds a note instead."""
    results = []
    for row in rows:
        print(f"{row.name} ...", end=" ", file=sys.stderr, flush=True)
        start = time.monotonic()
        try:
            newns, peer = row.measure(ctx)
        except Skip as skip:
            ctx.notes.append(f"skipped {row.name}: {skip}")
        except CommandFailed as failure:
            ctx.notes.append(f"failed {row.name}: {failure}")
        else:
            parts = bound = None
            if row.file is not None:
                file = row.file(ctx)
                parts = breakdown.parts(ctx.newns, file, ctx.env, statistics.median(newns))
                if row.name == "floor":
                    try:
                        bound = least(ctx.newns, file, ctx.env, ctx.scratch.root, rounds=min(ctx.settings.runs, 25))
                    except CommandFailed as failure:
                        ctx.notes.append(f"failed the bound of {row.name}: {failure}")
            results.append(report.Result(row, newns, peer, parts, bound))
        print(f"{time.monotonic() - start:.1f} s", file=sys.stderr)
    return results


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    rows = selected(args.only)
    config = settings(args)
    newns, notes = find_newns(args.newns)
    scratch = Scratch()
    ctx = Context(newns, config, scratch, dict(os.environ), notes)
    try:
        results = run_rows(rows, ctx)
    finally:
        ctx.later.close()
        scratch.close()
    print(report.machine(newns))
    print("\n".join(report.table(results)))
    for note in dict.fromkeys(ctx.notes):
        print(note)
    print("\n".join(report.targets(results)))


if __name__ == "__main__":
    main(sys.argv[1:])
