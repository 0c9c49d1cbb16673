"""/proc/PID/mountinfo's fields, as the kernel writes them."""
from __future__ import annotations


def unescape(text: str) -> str:
    """The kernel writes a space, tab, newline and backslash in a field as \\ooo."""
    if "\\" not in text:
        return text
    out, pos = [], 0
    while pos < len(text):
        digits = text[pos + 1 : pos + 4]
        if text[pos] == "\\" and len(digits) == 3 and set(digits) <= set("01234567"):
            out.append(chr(int(digits, 8)))
            pos += 4
        else:
            out.append(text[pos])
            pos += 1
    return "".join(out)


def mount_points(text: str) -> list[str]:
    """The mount points of a mountinfo text, in mount order."""
    return [unescape(line.split(" ", 5)[4]) for line in text.split("\n") if line.count(" ") >= 5]


def mount_ids(text: str) -> set[str]:
    """The mount IDs of a mountinfo text: no two mount namespaces share one."""
    return {line.split(" ", 1)[0] for line in text.split("\n") if line}
