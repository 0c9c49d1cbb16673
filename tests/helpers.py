"""What the tests share: who runs newns, a tree of files for a test, a terminal, and
small probes of what a namespace left behind. conftest.py holds the fixtures."""
from __future__ import annotations

import contextlib
import os
import pty
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sshd

NEWNS = str(Path(sys.executable).parent / "newns")
NEWNS_BEFORE_6_15 = [
    str(Path(sys.executable).parent / "python"), "-I", "-c",
    "import sys; from newns.linux import door; door._clones_detached = False; from newns.entry import main; main()",
]
"""newns as on a kernel before Linux 6.15, which clones no detached mount (what its probe would
find there): the door attaches what it makes in its stage first, as it does on such kernels."""
TEST_USER = "newns-test"
OTHER_USER = "newns-test2"
ROOT = os.geteuid() == 0


def traced_imports(stderr: str) -> set[str]:
    """The modules python -X importtime says it imported."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@dataclass(frozen=True)
class Caller:
    """Who runs newns in a test."""

    name: str
    uid: int
    gid: int

    @property
    def rootless(self) -> bool:
        return self.uid != 0

    def run(self, args, *, cwd, env=None, input=None, timeout=60) -> subprocess.CompletedProcess:
        full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
        full_env.update(env or {})
        switch = {} if self.uid == os.geteuid() else {"user": self.uid, "group": self.gid, "extra_groups": []}
        try:
            return subprocess.run(
                args, cwd=cwd, env=full_env, input=input, capture_output=True, text=True,
                timeout=timeout, **switch,
            )
        except subprocess.TimeoutExpired as e:  # killed: say what it wrote before it hung
            raise AssertionError(f"{args} did not end in {timeout}s; it wrote {e.stdout!r} and {e.stderr!r}") from None

    def newns(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return self.run([NEWNS, *args], **kwargs)

    def newns_imports(self, *args, **kwargs) -> tuple[subprocess.CompletedProcess, set[str]]:
        """A run of newns and the modules it imported (python -X importtime; -I, as newns
        starts itself again isolated when a PYTHON* variable would do it)."""
        result = self.run([str(Path(NEWNS).parent / "python"), "-I", "-X", "importtime", NEWNS, *args], **kwargs)
        return result, traced_imports(result.stderr)


def _account(name: str) -> Caller:
    """An unprivileged account, made when missing (the tests run as root to make one), with
    no password that is not locked either ('*', not useradd's '!'): the tests' sshd, run
    as root, lets no locked account in (sshd.py)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", "--password", "*", name],
                       check=True)
        entry = pwd.getpwnam(name)
    if ROOT and sshd.locked(name):
        subprocess.run(["usermod", "--password", "*", name], check=True)
    return Caller(name, entry.pw_uid, entry.pw_gid)


def _test_user() -> Caller:
    account = _account(TEST_USER)
    return Caller("user", account.uid, account.gid)


def other_user() -> Caller:
    """A second unprivileged user, to attack the first; root makes it."""
    return _account(OTHER_USER)


def callers() -> list[str]:
    return ["root", "user"] if ROOT else ["user"]


def unprivileged() -> Caller:
    """The user the rootless path runs as: newns-test when the tests run as root, else whoever runs them."""
    return _test_user() if ROOT else Caller("user", os.geteuid(), os.getegid())


def make_tree(caller: Caller, where: str = "/tmp") -> Tree:
    """A scratch directory the caller owns, in a place every user can reach."""
    base = Path(tempfile.mkdtemp(prefix="newns-test-", dir=where))
    base.chmod(0o755)
    tree = Tree(base, caller)
    tree.own()
    return tree


def remove_tree(tree: Tree) -> None:
    subprocess.run(["chmod", "-R", "u+rwX", str(tree.base)], check=False)
    shutil.rmtree(tree.base, ignore_errors=True)


def scratch(caller: Caller, where: str = "/tmp"):
    """make_tree, for a fixture: removed afterwards."""
    tree = make_tree(caller, where)
    yield tree
    remove_tree(tree)


class Tree:
    """Files for a test, owned by the caller."""

    def __init__(self, base: Path, caller: Caller) -> None:
        self.base = base
        self.caller = caller

    def __truediv__(self, name: str) -> Path:
        return self.base / name

    def make(self, files: dict[str, str]) -> None:
        """Create files (a name ending in / is a directory)."""
        for name, text in files.items():
            path = self.base / name
            if name.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.own()

    def own(self) -> None:
        if os.geteuid() == 0 and self.caller.uid != 0:
            subprocess.run(["chown", "-R", f"{self.caller.uid}:{self.caller.gid}", str(self.base)], check=True)

    def ns(self, text: str, name: str = "test.ns") -> Path:
        self.make({name: text})
        return self.base / name

    def newns(self, *args, env=None, **kwargs) -> subprocess.CompletedProcess:
        full_env = {"T": str(self.base)}
        full_env.update(env or {})
        return self.caller.newns(*args, cwd=self.base, env=full_env, **kwargs)

    def newns_imports(self, *args, env=None, **kwargs) -> tuple[subprocess.CompletedProcess, set[str]]:
        return self.caller.newns_imports(*args, cwd=self.base, env={"T": str(self.base), **(env or {})}, **kwargs)


OTHERS_MOUNTS = ("/run/netns", "/run/user/", "/run/docker", "/run/containerd/", "/run/snapd/", "/run/credentials/",
                 "/var/lib/docker/", "/var/lib/containers/", "/snap/", "/proc/sys/fs/binfmt_misc")
"""Where other programs of the machine mount while the tests run (ip netns, logind, container
engines, snapd, systemd): not what newns could have changed."""


def mount_table() -> list[str]:
    """The caller's mounts that newns could have changed (for before-and-after comparisons)."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    return [line for line in lines if not line.split(" ")[4].startswith(OTHERS_MOUNTS)]


class Terminal:
    """A program on a pseudo-terminal of its own (its controlling terminal), typed at and
    read as a person would: send() what is typed, expect() what should appear."""

    def __init__(self, caller: Caller, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.chdir(cwd)
                if caller.uid != os.geteuid():
                    os.setgroups([])
                    os.setgid(caller.gid)
                    os.setuid(caller.uid)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.seen = 0  # how much of output expect() has matched past

    def send(self, text: str | bytes) -> None:
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def _read(self, timeout: float) -> bool:
        if not select.select([self.fd], [], [], timeout)[0]:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the terminal's last user has gone
            return False
        self.output += chunk
        return bool(chunk)

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        """Wait for pattern (a regular expression) in what the terminal printed since the last match."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.output, self.seen)
            if found:
                self.seen = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 1.0)) and not regex.search(self.output, self.seen):
                raise AssertionError(f"no {pattern!r} in {self.text()!r}")

    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def close(self, timeout: float = 60) -> int:
        """Read to the end, and the program's exit code (killed after timeout: a hang)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_ = self._read(0.2)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                while self._read(0.1) and select.select([self.fd], [], [], 0)[0]:
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if not open_:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"no end after {timeout}s: {self.text()!r}")


HANG = 120
"""Seconds after which a run counts as hung: generous, not a timing threshold."""
ROOT_CALLER = Caller("root", 0, 0)


def needs_root(reason: str):
    """Skipped unless the tests run as root; marked root (`-m "not root"` leaves them out)."""
    skip = pytest.mark.skipif(not ROOT, reason=f"needs root: {reason}")
    return lambda test: pytest.mark.root(skip(test))


def tree_env(tree: Tree) -> dict[str, str]:
    """The environment Caller.run gives, for Popen, with T the tree."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tree.base), "LANG": "C.UTF-8", "T": str(tree.base)}


def spawn(tree: Tree, args: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start a process as the tree's caller, in the tree, its output readable line by line."""
    caller = tree.caller
    switch = {} if caller.uid == os.geteuid() else {"user": caller.uid, "group": caller.gid, "extra_groups": []}
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(args, cwd=tree.base, env={**tree_env(tree), **(env or {})}, text=True, **switch, **kwargs)


def ns_of(tree: Tree, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """newns --ns of the namespace newns builds with args (a file with no #proc: the command
    is newns's own process), run from the caller's namespace, where its lines are replayed."""
    shell = spawn(tree, [NEWNS, *args, "sh", "-c", "echo ready; read x"], env, stdin=subprocess.PIPE)
    try:
        assert shell.stdout.readline() == "ready\n", shell.stderr.read()
        return tree.newns("--ns", str(shell.pid), env=env)
    finally:
        shell.stdin.close()
        shell.wait(timeout=HANG)


def snapshot(path: Path) -> dict[str, bytes | None]:
    """Everything under path: each file's bytes, None for a directory."""
    return {str(p.relative_to(path)): None if p.is_dir() else p.read_bytes() for p in sorted(path.rglob("*"))}


def outside_cache(home: Path) -> dict[str, bytes | None]:
    """A home's snapshot but its .cache, where newns keeps what it parsed."""
    return {k: v for k, v in snapshot(home).items() if k != ".cache" and not k.startswith(".cache/")}


def small_root(tree: Tree, name: str) -> Path:
    """A root tree holding dash as /bin/sh and the libraries it loads, owned by the caller."""
    root = tree / name
    for d in ("bin", "proc", "dev", "tmp", "mnt", "etc"):
        (root / d).mkdir(parents=True)
    shutil.copy2("/bin/dash", root / "bin/sh")
    ldd = subprocess.run(["ldd", "/bin/dash"], capture_output=True, text=True, check=True).stdout
    for lib in re.findall(r"(/\S+) \(0x", ldd):
        (root / lib.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, root / lib.lstrip("/"))
    tree.own()
    return root


def newns_started(pid: int) -> None:
    """Wait until the newns of pid runs its own code. Python, as it starts, ignores SIGPIPE
    and catches SIGINT (which newns can't change); newns then lets Ctrl-C end it, and loads
    ctypes (a shared object in its maps) only after that."""
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("SigIgn:", "SigCgt:")))
            with open(f"/proc/{pid}/maps") as f:
                loaded = "_ctypes" in f.read()
        except OSError:
            return
        ignored, caught = (int(fields[k].strip(), 16) for k in ("SigIgn", "SigCgt"))
        if loaded and ignored & (1 << (signal.SIGPIPE - 1)) and not caught & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.001)


SHIPPED = {
    "demo": {"PWD": "checkout"},
    "ci": {"HOME": "home", "home": "account"},
    "hermetic": {"HOME": "home", "home": "account"},
    "hermetic-fetch": {"HOME": "home", "home": "account", "FETCH": "192.0.2.3:80"},
    "go": {"GOS": "gos", "GOVERSION": "go1.22.5"},
    "go1.2": {"GOS": "gos"},
    "go-debian": {"GOVERSION": "1.19"},
    "python": {"PYENV_ROOT": "pyenv", "PYVERSION": "3.9.18"},
    "node": {"NVM_DIR": "nvm", "NODEVERSION": "v20.11.1"},
    "rerootwin": {"NSROOT": "root"},
    "sandbox": {"PWD": "checkout"},
    "sandbox-rw": {"PWD": "checkout"},
}
"""The shipped namespace files that run, and what each needs from its environment: paths
relative to a scratch place, versions, and a net allow DEST (FETCH: an address no test
connects to, which no name lookup needs)."""


def shipped_env(name: str, place) -> dict[str, str]:
    """SHIPPED's variables for name, its paths in place."""
    return {k: v if "VERSION" in k or k == "FETCH" else str(place / v) for k, v in SHIPPED.get(name, {}).items()}


@contextlib.contextmanager
def tun_open_to_all():
    """/dev/net/tun open to every user (Debian's default mode), which pasta needs, meanwhile."""
    mode = os.stat("/dev/net/tun").st_mode & 0o777
    os.chmod("/dev/net/tun", 0o666)
    try:
        yield
    finally:
        os.chmod("/dev/net/tun", mode)
