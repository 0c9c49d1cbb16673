"""The caller's cache directory, CACHE/newns (CACHE is $XDG_CACHE_HOME, or ~/.cache),
opened safely, and the parsed namespace files kept in it (CACHE/newns/parsed); the work
directories beside them are workdirs.py's.

An entry is what lark made of a text (nsfile.py's form) after a hash of it, named by a
hash of newns's version, its grammar and the text: a run of an unchanged file reads it
instead of importing lark, and a changed file is another name. An entry whose hash is
wrong (damaged) is read as no entry, and replaced. The directory is made 0700 and used
only when it is the caller's alone, opened following no symlink; an entry is read only
when it is a regular file of the caller's that no one else may write to, and is written
whole under another name, then renamed. A cache that can't be used (another user's, a
read-only or missing home, a damaged entry) costs the speed, never the run.
"""
from __future__ import annotations

import errno
import os
import stat

from .. import GRAMMAR, __version__
from .world import MAX_FILE, account

try:  # hashlib's blake2b, without hashlib, which loads OpenSSL: milliseconds at every start
    from _blake2 import blake2b  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover: a Python built without it
    from hashlib import blake2b

DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def cache_dir(env: dict[str, str]) -> str:
    """CACHE/newns; a relative XDG_CACHE_HOME (or HOME) is ignored, as the XDG specification says."""
    cache = env.get("XDG_CACHE_HOME", "")
    if not cache.startswith("/"):
        home = env.get("HOME", "")
        cache = os.path.join(home if home.startswith("/") else account()[1], ".cache")
    return os.path.join(cache, "newns")


class UnsafeCache(OSError):
    """A cache directory that another user owns or can write to."""


def open_own_dir(path: str, uid: int, *, make_anywhere: bool = True) -> int:
    """Open path (to read), making what is missing (0700), one component at a time,
    following only the symlinks _trusted_link allows (/home -> var/home, as on Fedora
    Silverblue); refuse it unless uid owns it and no one else may write to it. Unless
    make_anywhere, a missing directory is made only in one of uid's own or a sticky one
    (/tmp): never in another user's home, when root runs with their HOME."""
    fd = os.open("/", DIR_FLAGS)
    parts = [p for p in path.split("/") if p]
    links = 0
    try:
        while parts:
            part = parts.pop(0)
            try:
                inner = os.open(part, DIR_FLAGS, dir_fd=fd)
            except NotADirectoryError:
                links += 1
                if links > 40:
                    raise OSError(errno.ELOOP, f"{path}: {os.strerror(errno.ELOOP)}") from None
                target = _trusted_link(fd, part, uid, path)
                parts = [p for p in target.split("/") if p] + parts
                if target.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", DIR_FLAGS)
                continue
            except FileNotFoundError:
                held = os.fstat(fd)
                if not (make_anywhere or held.st_uid == uid or held.st_mode & stat.S_ISVTX):
                    raise UnsafeCache(errno.EPERM, f"{path}: missing, in a directory of another user's") from None
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass
                inner = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        os.close(fd)
        fd = readable
        st = os.fstat(fd)
        if st.st_uid != uid or st.st_mode & 0o022:
            owner = "another user owns it" if st.st_uid != uid else "others may write to it"
            raise UnsafeCache(errno.EPERM, f"{path}: {owner}: set XDG_CACHE_HOME to a directory of your own")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _trusted_link(fd: int, name: str, uid: int, path: str) -> str:
    """The target of the symlink name in the directory open at fd, when only root or uid
    could have put it there (the directory is theirs and no one else may write to it)."""
    try:
        target = os.readlink(name, dir_fd=fd)
    except OSError:
        raise OSError(errno.ENOTDIR, f"{path}: {name} is not a directory") from None
    st = os.fstat(fd)
    if st.st_uid not in (0, uid) or st.st_mode & 0o022:
        raise UnsafeCache(errno.EPERM, f"{path}: the symlink {name} is in a directory others may write to: "
                          "set XDG_CACHE_HOME to a directory of your own")
    return target


MAX_ENTRY = 10 * MAX_FILE
"""An entry's largest size: unicode_escape writes a character in at most 10."""


class ParsedFiles:
    """The caller's entries, by the text they were read from (nsfile.Cache). The directory is
    opened when first needed, and stays open until close."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.fd: int | None = None
        self.tried = False
        self.grammar = b""

    def get(self, text: str) -> str | None:
        """The entry for text, or None."""
        directory = self._directory()
        if directory is None:
            return None
        try:
            fd = os.open(self._name(text), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
                return None
            if info.st_size > MAX_ENTRY:
                return None
            data = b""
            while len(data) < info.st_size:
                chunk = os.read(fd, info.st_size - len(data))
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
        finally:
            os.close(fd)
        check, _, entry = data.partition(b"\n")
        if check != _hash(entry).encode() or not entry.isascii():
            return None
        return entry.decode("ascii")

    def put(self, text: str, entry: str) -> None:
        """Keep entry for text, replacing whatever the name held; nothing when it can't be written."""
        directory = self._directory()
        if directory is None:
            return
        name = self._name(text)
        temporary = f".{name}.{os.urandom(4).hex()}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=directory)
            try:
                body = entry.encode("ascii")
                data = memoryview(_hash(body).encode() + b"\n" + body)
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
            os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError:
            try:
                os.unlink(temporary, dir_fd=directory)
            except OSError:
                pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _directory(self) -> int | None:
        if not self.tried:
            self.tried = True
            cache = cache_dir(self.env)
            try:
                if os.path.isdir(os.path.dirname(os.path.dirname(cache))):  # a home that is missing is not made
                    self.fd = open_own_dir(os.path.join(cache, "parsed"), os.geteuid(), make_anywhere=False)
            except OSError:
                pass
        return self.fd

    def _name(self, text: str) -> str:
        if not self.grammar:
            with open(GRAMMAR, "rb") as grammar:
                self.grammar = grammar.read()
        return _hash(f"newns {__version__}\0".encode(), self.grammar, b"\0", text.encode("utf-8", "surrogateescape"))


def _hash(*parts: bytes) -> str:
    hashed = blake2b(digest_size=32)
    for part in parts:
        hashed.update(part)
    return hashed.hexdigest()
