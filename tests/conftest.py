"""The fixtures: each namespace test runs the installed newns for real, as root and as
an unprivileged user.

When the tests run as root, each namespace test runs twice: once as root and
once as the user `newns-test` (created here if missing), which takes the
rootless path through a user namespace. Run as another user, they take the
rootless path only. Every test checks that the caller's mount table is the
same afterwards. What the tests share besides fixtures is in helpers.py.
"""
from __future__ import annotations

import inspect
import os
import stat

import pytest
import sshd
from helpers import ROOT, ROOT_CALLER, Caller, callers, mount_table, scratch, unprivileged

IN_PROCESS = {"test_interp", "test_grammar", "test_nsfile", "test_architecture", "test_fuzz", "test_dispatch", "test_parsed"}
"""Modules whose tests (but those that ask for a tree to run newns in) run in-process, in seconds."""
KERNEL_FIXTURES = {"caller", "tree", "user_tree", "root_tree", "place", "home", "shm_tree", "built", "named", "server"}
"""Fixtures that run the installed newns for real, against the kernel."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers a contributor can choose by (`./tests/run -m fast` before a commit): fast
    (in-process, seconds), userns (the rootless path), root (needs root), second_user (a second
    local user attacks), sshd (a private sshd on 127.0.0.1)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.module.__name__ in IN_PROCESS and not fixtures & KERNEL_FIXTURES:
            item.add_marker("fast")
        if "server" in fixtures:
            item.add_marker("sshd")
        if "user_tree" in fixtures or "[user" in item.name:
            item.add_marker("userns")
        function = getattr(item, "function", None)
        if function is not None and "other_user(" in inspect.getsource(function):
            item.add_marker("second_user")


@pytest.fixture(params=callers())
def caller(request) -> Caller:
    """Each caller newns must work for: root, and an unprivileged user."""
    return ROOT_CALLER if request.param == "root" else unprivileged()


@pytest.fixture
def tree(caller):
    yield from scratch(caller)


@pytest.fixture
def user_tree():
    """A tree for the unprivileged caller alone, for what means something only without privilege."""
    yield from scratch(unprivileged())


@pytest.fixture
def root_tree():
    """A tree of root's, for root as the victim of another user."""
    yield from scratch(ROOT_CALLER)


@pytest.fixture
def place(caller):
    """A scratch directory the caller owns, outside /tmp (which some namespaces make private)."""
    yield from scratch(caller, "/var/tmp")


@pytest.fixture(autouse=True)
def host_mounts_unchanged():
    """Nothing newns does may reach the caller's mount table."""
    before = mount_table()
    yield
    assert mount_table() == before


@pytest.fixture
def fuse_open():
    """/dev/fuse open to every user, as Debian ships it, for the time of a test (root puts
    back a stricter mode after)."""
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    if mode & 0o006 != 0o006:
        if not ROOT:
            pytest.skip("/dev/fuse is not open to this user (chmod 0666 /dev/fuse, as Debian ships it)")
        os.chmod("/dev/fuse", 0o666)
    yield
    if mode & 0o006 != 0o006:
        os.chmod("/dev/fuse", mode)


@pytest.fixture
def server(place, fuse_open):
    """An sshd letting the caller in, and the caller's ssh config naming it HOST."""
    with sshd.Sshd(place.caller.uid) as running:
        try:
            running.install_client_config()
        except sshd.SshdError as e:  # an account with no home of its own, run by itself
            pytest.skip(str(e))
        yield running
