"""overlayfs's work directories, for unions whose member taking creations is a real directory.

overlayfs wants an empty work directory on the same mount as that member.
newns keeps them in CACHE/newns (CACHE is $XDG_CACHE_HOME, or ~/.cache),
outside the user's files: each run that needs them makes a directory
run-XXXXXXXX there, holding a lock file that the run locks (flock) for as long
as its command runs, and a work-N directory per union. The run removes it
when the command is done; one left by a run that was killed is found by its
lock, which nobody holds, and removed by a later run: a test that holds
across PID namespaces, unlike a PID.

Every step goes through descriptors, never follows a symlink but one in the
cache's path that only root or the caller could have made (/home -> var/home),
and never changes anything outside run-* directories but the cache's own
directories a run made, removed again when empty; a cache directory that is
not the caller's, or that others can write to, is used for nothing.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat

from .cache import DIR_FLAGS, open_own_dir


class WorkArea:
    """One run's directory of work directories, locked while the run lives."""

    def __init__(self, path: str, uid: int) -> None:
        self.path = path
        # how many of the cache's directories this run makes: CACHE/newns, and CACHE too
        self.made = 0 if os.path.lexists(path) else 1 if os.path.lexists(os.path.dirname(path)) else 2
        self.base = _open_locked(path, uid)
        try:
            self.stale = _remove_stale(self.base)
            name = "run-" + os.urandom(4).hex()
            os.mkdir(name, 0o700, dir_fd=self.base)
            self.name = name
            self.run = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.base)
            self.lock = os.open("lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.run)
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        finally:
            fcntl.flock(self.base, fcntl.LOCK_UN)
        self.identity = _identity(os.fstat(self.run))
        self.count = 0

    def reopen(self, uid: int) -> int:
        """This run's directory as seen in the mount namespace newns is in now (overlayfs
        wants the work directory on the very mount of the member taking creations)."""
        base = open_own_dir(self.path, uid)
        try:
            run = os.open(self.name, DIR_FLAGS, dir_fd=base)
        finally:
            os.close(base)
        if _identity(os.fstat(run)) != self.identity:
            os.close(run)
            raise OSError(errno.ESTALE, f"{self.path}/{self.name} changed while newns ran")
        return run

    def make(self, run: int) -> str:
        """A new empty work directory in run (a descriptor from reopen); its name there."""
        self.count += 1
        name = f"work-{self.count}"
        os.mkdir(name, 0o700, dir_fd=run)
        return name

    def remove(self) -> None:
        """Remove this run's directory: everything in it, then, under the cache's lock (so that
        no run sees it without its lock), the lock and itself, if its name still holds it, and
        the cache's directories this run made, if nothing else is in them (a far side's
        account, whose cache holds no parsed files, is left as it was)."""
        try:
            _empty(self.run, keep="lock")
            fcntl.flock(self.base, fcntl.LOCK_EX)
            try:
                os.unlink("lock", dir_fd=self.run)
                if _identity(os.stat(self.name, dir_fd=self.base, follow_symlinks=False)) == self.identity:
                    os.rmdir(self.name, dir_fd=self.base)
            except FileNotFoundError:
                pass
            self._remove_made()
        finally:
            for fd in (self.lock, self.run, self.base):
                os.close(fd)

    def _remove_made(self) -> None:
        """The cache's directories this run made, innermost first, while empty: each by its
        name in the directory that holds it (its ..), and only while that name is still it."""
        names = (os.path.basename(self.path), os.path.basename(os.path.dirname(self.path)))
        held = os.dup(self.base)
        try:
            for name in names[: self.made]:
                made = _identity(os.fstat(held))
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=held)
                os.close(held)
                held = parent
                if _identity(os.stat(name, dir_fd=held, follow_symlinks=False)) != made:
                    return
                os.rmdir(name, dir_fd=held)
        except OSError:
            pass  # not empty (parsed files, another run), or gone
        finally:
            os.close(held)


def _open_locked(path: str, uid: int) -> int:
    """The cache directory at path, open and locked (flock): no run is seen half made,
    without its lock. One that a run which made it removed as this one opened it is opened
    again, made anew."""
    for _ in range(3):
        base = open_own_dir(path, uid)
        fcntl.flock(base, fcntl.LOCK_EX)
        if os.fstat(base).st_nlink:
            return base
        os.close(base)
    raise OSError(errno.ESTALE, f"{path}: removed each time newns opened it")


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _remove_stale(base: int) -> list[str]:
    """Remove the run directories whose run has ended (their lock is free); their names."""
    removed = []
    for entry in os.scandir(base):
        if not entry.name.startswith("run-") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            run = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=base)
        except OSError:
            continue
        try:
            try:
                lock = os.open("lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=run)
            except FileNotFoundError:
                lock = None  # a run killed before it made its lock (runs are made under the cache's lock)
            if lock is not None:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use
                finally:
                    os.close(lock)
            _empty(run)
            os.rmdir(entry.name, dir_fd=base)
            removed.append(entry.name)
        except OSError:
            continue  # not ours to remove, or gone already: leave it
        finally:
            os.close(run)
    return removed


def _empty(fd: int, keep: str = "") -> None:
    """Remove everything in the directory open at fd (but keep), following no symlink.
    overlayfs leaves a directory of mode 0 (work/work): it is made readable, through its
    own descriptor."""
    for entry in list(os.scandir(fd)):
        name = entry.name
        if name == keep:
            continue
        if not entry.is_dir(follow_symlinks=False):
            os.unlink(name, dir_fd=fd)
            continue
        try:
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except PermissionError:
            held = os.open(name, DIR_FLAGS, dir_fd=fd)
            try:
                if not stat.S_ISDIR(os.fstat(held).st_mode):
                    raise
                os.chmod(f"/proc/self/fd/{held}", 0o700)  # the object itself, not a name
            finally:
                os.close(held)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            _empty(inner)
        finally:
            os.close(inner)
        os.rmdir(name, dir_fd=fd)
