"""A terminal of the command's own, relayed to the caller's: for a command root runs as
another user (`user UID`, `--attach --as-owner`), as `su --pty` and sudo's use_pty do,
and for the ssh of --cpu's command (cpu.py).

On root's terminal, such a command could leave a process behind that, once
newns has returned, makes itself the terminal's foreground and reads what
root types next. On a pseudo-terminal of its own it holds no descriptor of
root's terminal: newns, still root, copies what is typed to it and what it
writes back, and the pseudo-terminal ends with newns. What is typed is copied only
while newns is in the caller's terminal's foreground: ssh, which reads its terminal
whenever something is typed, then reads nothing while newns runs in the background.
"""
from __future__ import annotations

import errno
import fcntl
import os
import termios
import tty

from . import libc


def caller_terminal() -> int | None:
    """The first of 0-2 that is a terminal, if one is."""
    for fd in (0, 1, 2):
        if os.isatty(fd):
            return fd
    return None


class Relay:
    """A pseudo-terminal made like the caller's terminal (its modes, its size), and the
    copying between the two."""

    def __init__(self, terminal: int) -> None:
        self.terminal = terminal
        device = os.fstat(terminal).st_rdev
        self.replaced = [fd for fd in (0, 1, 2) if os.isatty(fd) and os.fstat(fd).st_rdev == device]
        """The caller's descriptors that are its terminal: the command gets the relay's there."""
        self.modes = termios.tcgetattr(terminal)
        self.master, self.slave = os.openpty()
        os.set_inheritable(self.master, False)
        os.set_inheritable(self.slave, False)
        termios.tcsetattr(self.slave, termios.TCSANOW, self.modes)
        self.resize()
        self.raw = False

    # -- the command's side

    def enter(self, uid: int) -> None:
        """In the child that becomes the command: a session of its own, with the relay's
        terminal as its controlling terminal (owned by uid) on the descriptors that were the
        caller's terminal; none of the caller's terminal left."""
        os.close(self.master)
        os.setsid()
        fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
        os.fchown(self.slave, uid, -1)
        for fd in self.replaced:
            os.dup2(self.slave, fd)
        os.close(self.slave)

    # -- newns's side

    def started(self) -> None:
        """In newns, once the command's child exists: only the child keeps the relay's terminal."""
        os.close(self.slave)
        self.take()

    def take(self) -> None:
        """Relay typing: the caller's terminal raw while newns is in its foreground."""
        if not self.raw and self._foreground():
            tty.setraw(self.terminal, termios.TCSANOW)
            self.raw = True
        self.resize()

    def give_back(self) -> None:
        """The caller's terminal as it was (before newns stops, and when it ends)."""
        if self.raw:
            termios.tcsetattr(self.terminal, termios.TCSADRAIN, self.modes)
            self.raw = False

    def resize(self) -> None:
        """The caller's window size on the relay's terminal (which signals its foreground)."""
        try:
            size = fcntl.ioctl(self.terminal, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass

    def readable(self) -> list[int]:
        """What to wait on: the command's output, and, while raw, what the caller types."""
        return [self.master] + ([0] if self.raw and 0 in self.replaced else [])

    def pump(self, ready: list[int]) -> None:
        """Copy what is ready: typing to the command, its output to the caller's terminal."""
        if self.master in ready:
            self._output()
        if 0 in ready and self.raw and 0 in self.replaced:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if data:
                _write_all(self.master, data)

    def close(self) -> None:
        """After the command: the rest of its output, the caller's terminal as it was, and the
        relay's terminal closed (what the command left on it gets a hangup)."""
        os.set_blocking(self.master, False)
        while self._output():
            pass
        self.give_back()
        os.close(self.master)

    def _output(self) -> bool:
        """Copy one read of the command's output; whether there was any."""
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: nothing holds the relay's terminal now
                raise
            return False
        if data:
            _write_all(self.replaced[-1], data)
        return bool(data)

    def _foreground(self) -> bool:
        try:
            return os.tcgetpgrp(self.terminal) == os.getpgrp()
        except OSError:
            return False


def _write_all(fd: int, data: bytes) -> None:
    """data to fd, as far as it goes: an end that went away takes no more."""
    try:
        libc.write_all(fd, data)
    except OSError:
        pass
