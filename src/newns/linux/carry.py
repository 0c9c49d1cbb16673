"""A plan carried out in a child, with no command (--check, --attach): what the child
found told back to newns over a pipe."""
from __future__ import annotations

import os

from ..diagnostics import Diagnostic, NewnsError, Where, error, failure
from . import libc, namespaces
from .launch import Launch, build, build_and_enter, importer, unshare, work_area
from .supervisor import as_child, die_with

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from ..plan import Plan
    from .joined import Joined
    from .workdirs import WorkArea


def carry_out(
    run: Launch, joined: Joined | None = None, *, throwaway: bool = True
) -> tuple[list[Diagnostic], frozenset[int]]:
    """Carry out the plan in a child, with no command: the problems found, at their lines
    (none when it went through), and the operations left out because the kernel refused
    them (-q lines; with throwaway, any line, so as to find the next problem).

    throwaway: in new namespaces made and dropped like a run's (for --check),
    or in a copy of the namespace this process joined (to try an --attach
    first); else in the joined namespace itself. The child is forked after the
    join, so that it is in the joined PID namespace, where /proc/self is its own."""
    plan = run.plan
    area = work_area(plan, run.env, debug=run.debug) if plan.work_dirs and not throwaway else None  # a rehearsal stands in a tmpfs
    if plan.imports and (throwaway or run.importer is None):
        run.importer = importer(run.env, rehearsal=True)
    readable, writable = os.pipe()
    parent = libc.pidfd_open(os.getpid())
    pid = os.fork()
    if pid == 0:
        os.close(readable)
        as_child(parent, lambda: _carry(run, area, joined, throwaway, writable))
    os.close(parent)
    os.close(writable)
    data = libc.read_to_end(readable)
    os.close(readable)
    _, status = os.waitpid(pid, 0)
    if area is not None:
        area.remove()
    lines = {(a.where.file, a.where.line, a.where.col): a.where for a in plan.actions}
    found, skipped = [], set()
    for record in data.decode("utf-8", "surrogateescape").split("\0\0")[:-1]:
        kind, *fields = record.split("\0", 4)
        if kind == "S":
            skipped.add(int(fields[0]))
        if kind != "E":
            continue
        file, line, col, message = fields
        where = lines.get((file, int(line), int(col)))
        if where is None and file:
            where = Where(file=file, line=int(line), col=int(col), text="")
        found.append(error(message, where))
    if not data.endswith(b"D\0\0") and not found:
        found.append(error("carrying out the plan ended unexpectedly"))
    return found, frozenset(skipped)


def _carry(run: Launch, area: WorkArea | None, joined: Joined | None, throwaway: bool, out: int) -> None:
    """The child of carry_out: writes on out each problem (E), each operation left out (S),
    and D when it is done."""
    found: list[Diagnostic] = []
    skipped: frozenset[int] = frozenset()
    collect = found if throwaway else None
    try:
        if joined is not None:
            if throwaway:
                namespaces.unshare_more(libc.CLONE_NEWNS)
                namespaces.make_mounts_private()
            skipped = _skipped(run, build(run, None, collect, again=throwaway))
        elif run.plan.pid_namespace:
            unshare(run.plan, libc.CLONE_NEWPID)
            parent = libc.pidfd_open(os.getpid())
            pid = os.fork()
            if pid == 0:  # the init: #proc can only be mounted from inside
                die_with(parent)
                namespaces.unshare_more(libc.CLONE_NEWNS)
                namespaces.make_mounts_private()
                _tell(out, found, _skipped(run, build_and_enter(run, area, collect)))
            _, status = os.waitpid(pid, 0)
            os._exit(0)
        else:
            unshare(run.plan, libc.CLONE_NEWNS)
            namespaces.make_mounts_private()
            skipped = _skipped(run, build_and_enter(run, area, collect))
    except (OSError, NewnsError) as problem:
        found += failure(problem)
    _tell(out, found, skipped)


def _skipped(run: Launch, plan: Plan) -> frozenset[int]:
    """The operations the plan that went through left out, of those the file has."""
    done = {action.op for action in plan.actions}
    return frozenset(op for op in {action.op for action in run.plan.actions} - done if op is not None)


def _tell(out: int, found: list[Diagnostic], skipped: frozenset[int]) -> None:
    """Write to the parent, NUL-separated, each record ended by two NULs: E, file, line,
    column and message for a problem; S and an operation's index; D at the end. Then end."""
    records = [["E", *([d.where.file, str(d.where.line), str(d.where.col)] if d.where else ["", "0", "0"]), d.message] for d in found]
    records += [["S", str(op)] for op in sorted(skipped)] + [["D"]]
    os.write(out, "".join("\0".join(r) + "\0\0" for r in records).encode("utf-8", "surrogateescape"))
    os._exit(0)
