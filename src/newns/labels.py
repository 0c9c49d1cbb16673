"""A union's members as the source of its overlay mount, so that --ns can print the union back.

The source is `newns:` and one word a member, in Plan 9 order: `+` for the
member that takes creations, `-` for the others, then the member's name as
the file wrote it, every byte outside a small safe set written as %XX. No
name can split a word or forge a member.
"""
from __future__ import annotations

PREFIX = "newns:"
RESOLV_CONF_SOURCE = "newns:resolv.conf"
"""The source of the tmpfs holding the resolv.conf net lines give a command (no union's: its
word has no + or -)."""
_HEX = frozenset("0123456789ABCDEFabcdef")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-~#@=,:")


def union_source(members: tuple[tuple[str, bool], ...]) -> str:
    """members: (name, takes creations) for each, in order."""
    return PREFIX + " ".join(("+" if create else "-") + _encode(name) for name, create in members)


def union_members(source: str) -> list[tuple[str, bool]] | None:
    """The members a source names; None when it is not a union newns made."""
    if not source.startswith(PREFIX):
        return None
    members = []
    for word in source[len(PREFIX) :].split(" "):
        if len(word) < 2 or word[0] not in "+-":
            return None
        try:
            members.append((_decode(word[1:]), word[0] == "+"))
        except ValueError:
            return None
    return members


def _encode(name: str) -> str:
    if _SAFE.issuperset(name):
        return name  # as most are: a union of 500 members is 500 names
    data = name.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if chr(b) in _SAFE else f"%{b:02X}" for b in data)


def _decode(word: str) -> str:
    out = bytearray()
    pos = 0
    while pos < len(word):
        if word[pos] == "%":
            digits = word[pos + 1 : pos + 3]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise ValueError(word)
            out.append(int(digits, 16))
            pos += 3
        else:
            out += word[pos].encode("utf-8", "surrogateescape")
            pos += 1
    return out.decode("utf-8", "surrogateescape")
