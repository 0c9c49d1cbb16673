"""The rows of the table: each measures newns against one named peer."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from tests import sshd

from .scratch import Scratch
from .timing import Measure, Settings, check, paired, peak_memory, spawn, timed
from .tools import Skip, need, pyenv, script_python

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_NS = os.path.join(REPO, "namespaces", "python")
INNER = ["-m", "bench.inner"]
BATCH = 10
"""Calls per batch when a timing loop runs inside a namespace."""


@dataclass
class Context:
    """What every row works with."""

    newns: str
    settings: Settings
    scratch: Scratch
    env: dict[str, str]
    notes: list[str]
    later: ExitStack = field(default_factory=ExitStack)
    """What to undo after the rows (the sshd of the --cpu rows)."""
    host: str | None = None

    def ssh_host(self) -> str:
        """An sshd of the bench's own on 127.0.0.1 letting this user in, named by a Host block
        in the user's ~/.ssh/config for the run (newns --cpu uses the user's ssh config);
        started on first use."""
        if self.host is None:
            reason = sshd.available()
            if reason is not None:
                raise Skip(reason)
            need("sshfs")
            try:
                server = self.later.enter_context(sshd.Sshd(alias="newns-bench-host"))
                server.install_client_config()
            except sshd.SshdError as e:
                raise Skip(str(e).splitlines()[0]) from None
            self.notes.append(f"cpu rows: an sshd of the bench's own on 127.0.0.1:{server.port}, letting {server.user} in")
            self.host = server.alias
        return self.host

    def inner_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """env (default: the caller's) with bench.inner importable."""
        return {**(env or self.env), "PYTHONPATH": REPO}


Samples = tuple[list[float], list[float]]


@dataclass(frozen=True)
class Row:
    """One line of the table: what measure gives for newns, and for peer."""

    name: str
    peer: str
    unit: str  # "ms" or "MB"
    measure: Callable[[Context], Samples]
    file: Callable[[Context], str] | None = None  # newns's side is `newns -f FILE true`: its time's parts are shown


# -- set-up with N binds ---------------------------------------------------------


def bwrap_binds(scratch: Scratch, count: int) -> list[str]:
    """bwrap with the whole tree, a /dev, and count binds, running true."""
    binds = [arg for s, d in scratch.bind_pairs(count) for arg in ("--bind", s, d)]
    return [need("bwrap"), "--bind", "/", "/", "--dev", "/dev", *binds, "true"]


def binds_vs_bwrap(count: int, ctx: Context) -> Samples:
    bwrap = timed(bwrap_binds(ctx.scratch, count), ctx.env)
    newns = timed([ctx.newns, "-f", ctx.scratch.bind_file(count), "true"], ctx.env)
    return paired(newns, bwrap, ctx.settings)


def binds_vs_kernel(count: int, ctx: Context) -> Samples:
    """newns against the kernel's own cost of the same binds: a Python process that unshares
    and calls mount(2) for each, with the same interpreter's start."""
    python = script_python(ctx.newns)
    file = ctx.scratch.bind_file(count)
    kernel = timed([python, "-S", *INNER, "binds", file], ctx.inner_env())
    newns = timed([ctx.newns, "-f", file, "true"], ctx.env)
    return paired(newns, kernel, ctx.settings)


def floor(ctx: Context) -> Samples:
    """newns with an empty file against the interpreter it runs on, started with nothing."""
    python = script_python(ctx.newns)
    bare = timed([python, "-I", "-S", "-c", "pass"], ctx.env)
    newns = timed([ctx.newns, "-f", ctx.scratch.empty_file, "true"], ctx.env)
    return paired(newns, bare, ctx.settings)


def floor_launcher(ctx: Context) -> Samples:
    """This checkout's ./newns (the system's python3 with -I -S, no site) with an empty file
    against that interpreter, started with nothing."""
    python = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)), None)
    bare = timed([python or need("python3"), "-I", "-S", "-c", "pass"], ctx.env)  # the one ./newns chooses
    newns = timed([os.path.join(REPO, "newns"), "-f", ctx.scratch.empty_file, "true"], ctx.env)
    return paired(newns, bare, ctx.settings)


def binds_vs_unshare(count: int, ctx: Context) -> Samples:
    script = "\n".join(["set -e", *(f"mount --bind {s} {d}" for s, d in ctx.scratch.bind_pairs(count)), "exec true"])
    user = [] if os.geteuid() == 0 else ["-r"]
    shell = timed([need("unshare"), "-m", *user, "--propagation", "private", "sh", "-c", script], ctx.env)
    newns = timed([ctx.newns, "-f", ctx.scratch.bind_file(count), "true"], ctx.env)
    return paired(newns, shell, ctx.settings)


def peak_rss_vs_bwrap(count: int, ctx: Context) -> Samples:
    """Peak memory is steady from run to run: a few runs, no warm-up."""
    gnu_time = need("time", "GNU time")
    report = ctx.scratch.path("peak-rss")
    bwrap = peak_memory(gnu_time, bwrap_binds(ctx.scratch, count), ctx.env, report)
    newns = peak_memory(gnu_time, [ctx.newns, "-f", ctx.scratch.bind_file(count), "true"], ctx.env, report)
    few = dataclasses.replace(ctx.settings, runs=min(ctx.settings.runs, 3), warmup=0)
    return paired(newns, bwrap, few)


# -- choosing a Python version per call ----------------------------------------


@dataclass(frozen=True)
class PythonNamespace:
    """A namespace file that binds one pyenv version onto a fixed path that is first on $PATH."""

    file: str
    env: dict[str, str]  # for newns: PYENV_ROOT, PYVERSION, and $PATH with the fixed path first
    version: str
    direct: str  # the same python3, called by its pyenv path
    shim: str  # pyenv's python3 shim


def python_namespace(ctx: Context) -> PythonNamespace:
    """The project's namespaces/python, or an equivalent file when its mount point is missing.

    namespaces/python binds $PYENV_ROOT/versions/$PYVERSION onto
    $PYENV_ROOT/versions/current, which the user makes once; the bench does not
    make it (pyenv would list it as a version), but binds onto a scratch directory.
    """
    root, version = pyenv()
    fixed = os.path.join(root, "versions", "current")
    file = PYTHON_NS
    if not (os.path.exists(PYTHON_NS) and os.path.isdir(fixed)):
        fixed = ctx.scratch.directory("python")
        file = ctx.scratch.write("python.ns", [f"bind $PYENV_ROOT/versions/$PYVERSION {fixed}"])
    ctx.notes.append(f"python rows: {version} bound on {fixed} by {_short(file)}")
    env = {**ctx.env, "PYENV_ROOT": root, "PYVERSION": version, "PATH": f"{fixed}/bin:{ctx.env.get('PATH', '')}"}
    direct = os.path.join(root, "versions", version, "bin", "python3")
    return PythonNamespace(file, env, version, direct, os.path.join(root, "shims", "python3"))


def python_vs_shim(ctx: Context) -> Samples:
    ns = python_namespace(ctx)
    newns = timed([ctx.newns, "-f", ns.file, "python3", "-c", "pass"], ns.env)
    shim = timed([ns.shim, "-c", "pass"], {**ctx.env, "PYENV_VERSION": ns.version})
    return paired(newns, shim, ctx.settings)


def python_inside(ctx: Context) -> Samples:
    """Batches of calls inside one namespace against the same batches outside, alternating."""
    ns = python_namespace(ctx)
    loop = [sys.executable, *INNER, "loop", str(BATCH)]
    inside = [ctx.newns, "-f", ns.file, *loop, "python3", "-c", "pass"]
    outside = [*loop, ns.direct, "-c", "pass"]
    batches = dataclasses.replace(
        ctx.settings,
        runs=math.ceil(ctx.settings.runs / BATCH),
        warmup=min(ctx.settings.warmup, 1),
        min_pairs=math.ceil(ctx.settings.min_pairs / BATCH),
    )
    return paired(_json(inside, ctx.inner_env(ns.env)), _json(outside, ctx.inner_env()), batches)


# -- unions ------------------------------------------------------------------------


def union_setup(layers: int, ctx: Context) -> Samples:
    newns = timed([ctx.newns, "-f", ctx.scratch.union_file(layers), "true"], ctx.env)
    empty = timed([ctx.newns, "-f", ctx.scratch.empty_file, "true"], ctx.env)
    return paired(newns, empty, ctx.settings)


def walk_bind(ctx: Context) -> Samples:
    """The tree walked through a bind, and where it is (both seen inside one namespace)."""
    mnt = ctx.scratch.directory("walk-bind")
    ns = ctx.scratch.write("walk-bind.ns", [f"bind {ctx.scratch.tree} {mnt}"])
    return _walk([ctx.newns, "-f", ns], mnt, ctx.scratch.tree, ctx)


def union_ns(ctx: Context) -> tuple[str, str]:
    """A namespace file with the split tree as a two-layer union, and the union's path."""
    py, other = ctx.scratch.split_tree
    mnt = ctx.scratch.directory("walk-union")
    ns = ctx.scratch.write("walk-union.ns", [f"bind {py} {mnt}", f"bind -a {other} {mnt}"])
    return ns, mnt


def walk_union(ctx: Context) -> Samples:
    ns, mnt = union_ns(ctx)
    return _walk([ctx.newns, "-f", ns], mnt, ctx.scratch.tree, ctx)


def walk_union_vs_fuse(ctx: Context) -> Samples:
    """The union walked against the same layers under fuse-overlayfs, in the same namespace."""
    fuse = need("fuse-overlayfs")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise Skip("/dev/fuse missing or not usable")
    if os.geteuid() != 0:
        raise Skip("rootless, the command newns runs has no right to mount fuse-overlayfs: run as root")
    ns, mnt = union_ns(ctx)
    py, other = ctx.scratch.split_tree
    fuse_mnt = ctx.scratch.directory("walk-fuse")
    script = '"$1" -o "lowerdir=$2:$3" "$4" || exit 1; m=$4; shift 4; "$@"; s=$?; umount "$m"; exit $s'
    wrapper = [ctx.newns, "-f", ns, "sh", "-c", script, "sh", fuse, py, other, fuse_mnt]
    return _walk(wrapper, mnt, fuse_mnt, ctx)


def _walk(prefix: list[str], a: str, b: str, ctx: Context, mode: str = "walk") -> Samples:
    """Run bench.inner's paired walk of a and b (mode: walk or list) under prefix (a newns
    command line)."""
    settings = json.dumps(dataclasses.asdict(ctx.settings))
    samples = json.loads(check([*prefix, sys.executable, *INNER, mode, settings, a, b], ctx.inner_env()))
    ctx.notes.append(ctx.scratch.tree_note())
    return samples["a"], samples["b"]


# -- --cpu -------------------------------------------------------------------------


def cpu_true(ctx: Context) -> Samples:
    """newns --cpu HOST true (its connection, newns sent over, /mnt/term mounted there)
    against ssh HOST true, to the same sshd."""
    host = ctx.ssh_host()
    newns = timed([ctx.newns, "--cpu", host, "true"], ctx.env)
    return paired(newns, timed([need("ssh"), host, "true"], ctx.env), ctx.settings)


def cpu_walk(mode: str, ctx: Context) -> Samples:
    """The tree walked (mode: walk, or list its names as find -type f does) through /mnt/term,
    sshfs over the connection, and where it is, both on the far side (this machine), in one
    run of newns --cpu."""
    prefix = [ctx.newns, "--cpu", ctx.ssh_host(), "env", f"PYTHONPATH={REPO}"]  # the far login's environment, else
    return _walk(prefix, "/mnt/term" + ctx.scratch.tree, ctx.scratch.tree, ctx, mode)


def walk_import(mode: str, ctx: Context) -> Samples:
    """The tree walked (mode as cpu_walk) through an import of it (sshfs with an ssh of its own,
    to the same sshd), and where it is: sshfs alone over the same kind of link, the engine
    under /mnt/term."""
    imported = ctx.scratch.directory("walk-import")
    ns = ctx.scratch.write("walk-import.ns", [f"import {ctx.ssh_host()} {ctx.scratch.tree} {imported}"])
    return _walk([ctx.newns, "-f", ns], imported, ctx.scratch.tree, ctx, mode)


# -- net lines -------------------------------------------------------------------

RECEIVED = 64 << 20
"""The bytes each throughput sample receives."""


def _network_tools() -> None:
    """Skip unless pasta and nft are installed and pasta can open /dev/net/tun."""
    need("pasta", "passt")
    need("nft", "nftables")
    if os.geteuid() != 0 and not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        raise Skip("/dev/net/tun not open to this user: run as root")


def net_setup(ctx: Context) -> Samples:
    """A network of the command's own through pasta, with rules, against one with nothing."""
    _network_tools()
    allowed = ctx.scratch.write("net-allow.ns", ["net allow 192.0.2.0/24"])
    cleared = ctx.scratch.write("clear-net.ns", ["clear net"])
    newns = timed([ctx.newns, "-f", allowed, "true"], ctx.env)
    return paired(newns, timed([ctx.newns, "-f", cleared, "true"], ctx.env), ctx.settings)


def net_loopback(ctx: Context) -> Samples:
    """RECEIVED bytes from a server on the host's 127.0.0.1, read through pasta (net loopback)
    against read directly."""
    import socket
    import threading

    _network_tools()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    data = bytes(RECEIVED)

    def serve() -> None:
        while True:
            client, _ = server.accept()
            with client:
                client.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    ns = ctx.scratch.write("net-loopback.ns", [f"net loopback {port}"])
    receive = [sys.executable, *INNER, "receive", str(port), str(RECEIVED)]
    through = _json([ctx.newns, "-f", ns, *receive], ctx.inner_env())
    ctx.notes.append(f"net-loopback: {RECEIVED >> 20} MiB a sample from 127.0.0.1:{port}")
    return paired(through, _json(receive, ctx.inner_env()), ctx.settings)


# -- a long namespace file --------------------------------------------------------


def nsfile_lines(ctx: Context, count: int) -> str:
    """A valid file of count lines: comments, variables, binds, -q binds that fail, cd."""
    kinds = ("# line {i}", "bind $T/s $T/d", "bind -q $T/missing{i} $T/d", "cd $T/s")
    ctx.scratch.directory("p", "s")
    ctx.scratch.directory("p", "d")
    return ctx.scratch.write(f"lines-{count}.ns", [kinds[i % 4].format(i=i) for i in range(count)])


def nsfile_100k_vs_10k(ctx: Context) -> Samples:
    """newns's load and plan of the files, each in a fresh process: no warm-up, few pairs."""
    python = script_python(ctx.newns)
    env = ctx.inner_env({**ctx.env, "T": ctx.scratch.path("p")})
    big, small = (_json([python, *INNER, "plan", nsfile_lines(ctx, n)], env) for n in (100_000, 10_000))
    few = dataclasses.replace(ctx.settings, warmup=0, min_pairs=min(ctx.settings.min_pairs, 3))
    return paired(big, small, few)


# -- a file's first run and its next ----------------------------------------------


def first_vs_repeated(ctx: Context) -> Samples:
    """A run of a 10-bind file whose text is new each time (lark reads it) against a run of
    the same file unchanged (read back from the cache of parsed files)."""
    lines = [f"bind {s} {d}" for s, d in ctx.scratch.bind_pairs(10)]
    new, same = ctx.scratch.path("first.ns"), ctx.scratch.write("repeated.ns", lines)

    def first() -> list[float]:
        with open(new, "w") as f:
            f.write("".join(line + "\n" for line in [f"# {time.time_ns()}", *lines]))  # a text never read before
        return [spawn([ctx.newns, "-f", new, "true"], ctx.env)]

    first()
    return paired(first, timed([ctx.newns, "-f", same, "true"], ctx.env), ctx.settings)


def repeated_vs_empty(ctx: Context) -> Samples:
    """A run of the unchanged 10-bind file against a run of an empty file."""
    same = ctx.scratch.write("repeated.ns", [f"bind {s} {d}" for s, d in ctx.scratch.bind_pairs(10)])
    newns = timed([ctx.newns, "-f", same, "true"], ctx.env)
    return paired(newns, timed([ctx.newns, "-f", ctx.scratch.empty_file, "true"], ctx.env), ctx.settings)


def _bind_file(count: int, ctx: Context) -> str:
    return ctx.scratch.bind_file(count)


def _union_file(layers: int, ctx: Context) -> str:
    return ctx.scratch.union_file(layers)


def _json(argv: list[str], env: dict[str, str]) -> Measure:
    """A Measure of a bench.inner run: the samples it prints."""
    return lambda: json.loads(check(argv, env))


def _short(path: str) -> str:
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


ROWS = [
    Row("floor", "python -I -S", "ms", floor, lambda ctx: ctx.scratch.empty_file),
    Row("floor-launcher", "python3 -I -S", "ms", floor_launcher),
    *(Row(f"binds-{n}-bwrap", "bwrap", "ms", partial(binds_vs_bwrap, n), partial(_bind_file, n)) for n in (0, 10, 100, 1000)),
    *(Row(f"binds-{n}-unshare", "unshare+mount(8)", "ms", partial(binds_vs_unshare, n)) for n in (0, 10, 100, 1000)),
    Row("binds-10000-kernel", "mount(2) loop", "ms", partial(binds_vs_kernel, 10_000)),
    Row("python-shim", "pyenv shim", "ms", python_vs_shim),
    Row("python-inside", "direct call", "ms", python_inside),
    *(Row(f"union-{n}", "empty file", "ms", partial(union_setup, n), partial(_union_file, n)) for n in (2, 100, 500)),
    Row("walk-bind", "native", "ms", walk_bind),
    Row("walk-union", "native", "ms", walk_union),
    Row("walk-union-fuse", "fuse-overlayfs", "ms", walk_union_vs_fuse),
    Row("cpu-true", "ssh HOST true", "ms", cpu_true),
    Row("cpu-list", "native", "ms", partial(cpu_walk, "list")),
    Row("cpu-walk", "native", "ms", partial(cpu_walk, "walk")),
    Row("cpu-list-import", "native", "ms", partial(walk_import, "list")),
    Row("cpu-walk-import", "native", "ms", partial(walk_import, "walk")),
    Row("net-setup", "clear net", "ms", net_setup),
    Row("net-loopback", "direct", "ms", net_loopback),
    Row("nsfile-100k", "10k lines", "ms", nsfile_100k_vs_10k),
    Row("run-first", "repeated run", "ms", first_vs_repeated),
    Row("run-repeated", "empty file", "ms", repeated_vs_empty, partial(_bind_file, 10)),
    *(Row(f"rss-{n}-bwrap", "bwrap", "MB", partial(peak_rss_vs_bwrap, n)) for n in (10, 1000)),
]
