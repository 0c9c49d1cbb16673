"""A seccomp filter that keeps the command from typing into its terminal.

The ioctls TIOCSTI (push a byte into the terminal's input) and TIOCLINUX
(which can paste) let a program run in a namespace put a command line into
the caller's shell, to run after newns exits (CVE-2017-5226 in bubblewrap).
Linux refuses TIOCSTI without CAP_SYS_ADMIN only when dev.tty.legacy_tiocsti
is 0, and root has that capability: the filter fails both with EPERM, for
every system call convention the machine has (x32 and 32-bit included),
and leaves everything else alone, so interactive shells and job control work.
"""
from __future__ import annotations

import errno

from . import libc

TIOCSTI = 0x5412
TIOCLINUX = 0x541C

# audit arch -> the numbers of ioctl under it
IOCTL: dict[str, dict[int, tuple[int, ...]]] = {
    "x86_64": {0xC000003E: (16, 0x40000000 | 514), 0x40000003: (54,)},  # x86_64 (and x32), i386
    "aarch64": {0xC00000B7: (29,), 0x40000028: (54,)},  # arm64, arm
    "riscv64": {0xC00000F3: (29,)},
}

_LD_W_ABS, _JEQ_K, _RET_K = 0x20, 0x15, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_NR, _ARCH, _ARG1_LOW = 0, 4, 24  # offsets in struct seccomp_data (little-endian machines)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return code.to_bytes(2, "little") + bytes((jt, jf)) + k.to_bytes(4, "little")


def program(machine: str) -> bytes | None:
    """The filter for this machine, or None for one newns knows no numbers for."""
    arches = IOCTL.get(machine)
    if arches is None:
        return None
    check = sum(3 + len(numbers) for numbers in arches.values()) + 1  # where the argument test starts
    out: list[bytes] = []
    for arch, numbers in arches.items():
        out.append(_insn(_LD_W_ABS, 0, 0, _ARCH))
        out.append(_insn(_JEQ_K, 0, 1 + len(numbers), arch))  # another arch: on to the next
        out.append(_insn(_LD_W_ABS, 0, 0, _NR))
        for number in numbers:
            out.append(_insn(_JEQ_K, check - len(out) - 1, 0, number))  # ioctl: test its request
    out.append(_insn(_RET_K, 0, 0, _ALLOW))
    out += [
        _insn(_LD_W_ABS, 0, 0, _ARG1_LOW),
        _insn(_JEQ_K, 2, 0, TIOCSTI),
        _insn(_JEQ_K, 1, 0, TIOCLINUX),
        _insn(_RET_K, 0, 0, _ALLOW),
        _insn(_RET_K, 0, 0, _ERRNO | errno.EPERM),
    ]
    return b"".join(out)


def keep_out_of_the_terminal() -> None:
    """Install the filter in this process (it stays across exec); nothing where the machine is unknown."""
    filter_ = program(libc.MACHINE)
    if filter_ is not None:
        libc.install_filter(filter_)
