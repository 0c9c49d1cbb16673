"""Run the installed newns for real, as root and as an unprivileged user.

When the tests run as root, each namespace test runs twice: once as root and
once as the user `newns-test` (created here if missing), which takes the
rootless path through a user namespace. Run as another user, they take the
rootless path only. Every test checks that the caller's mount table is the
same afterwards.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

NEWNS = str(Path(sys.executable).parent / "newns")
TEST_USER = "newns-test"
ROOT = os.geteuid() == 0


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
        return subprocess.run(
            args, cwd=cwd, env=full_env, input=input, capture_output=True, text=True,
            timeout=timeout, **switch,
        )

    def newns(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return self.run([NEWNS, *args], **kwargs)


def _test_user() -> Caller:
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", TEST_USER], check=True)
        entry = pwd.getpwnam(TEST_USER)
    return Caller("user", entry.pw_uid, entry.pw_gid)


def callers() -> list[str]:
    return ["root", "user"] if ROOT else ["user"]


def unprivileged() -> Caller:
    """The user the rootless path runs as: newns-test when the tests run as root, else whoever runs them."""
    return _test_user() if ROOT else Caller("user", os.geteuid(), os.getegid())


@pytest.fixture(params=callers())
def caller(request) -> Caller:
    """Each caller newns must work for: root, and an unprivileged user."""
    return Caller("root", 0, 0) if request.param == "root" else unprivileged()


def scratch(caller: Caller):
    """A scratch directory the caller owns, in a place every user can reach."""
    base = Path(tempfile.mkdtemp(prefix="newns-test-", dir="/tmp"))
    base.chmod(0o755)
    yield Tree(base, caller)
    subprocess.run(["chmod", "-R", "u+rwX", str(base)], check=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def tree(caller):
    yield from scratch(caller)


@pytest.fixture
def user_tree():
    """A tree for the unprivileged caller alone, for what means something only without privilege."""
    yield from scratch(unprivileged())


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


def mount_table() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


@pytest.fixture(autouse=True)
def host_mounts_unchanged():
    """Nothing newns does may reach the caller's mount table."""
    before = mount_table()
    yield
    assert mount_table() == before
