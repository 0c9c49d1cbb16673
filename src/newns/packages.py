"""lark and click, the packages newns needs beyond Python's own, imported when first
needed: a run of a file read before needs neither.

Python started without site (the checkout's launcher runs python -I -S, for speed)
looks for them where site would, the system's packages (python3-lark, python3-click)
included; neither the working directory nor PYTHONPATH is searched. When one is
missing, newns says in one line how to get them.
"""
from __future__ import annotations

import sys

from .diagnostics import NewnsError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

PACKAGES = ("lark", "click")
HOW = "apt install python3-lark python3-click, or install newns with them (pipx install .)"


def needed(load: Callable[[], T]) -> T:
    """What load (which imports lark or click) returns; NewnsError when either is missing."""
    try:
        return load()
    except ModuleNotFoundError as missing:
        if missing.name not in PACKAGES:
            raise
        if "site" in sys.modules:
            raise NewnsError(f"the Python package {missing.name} is missing: {HOW}") from None
    import site

    site.main()
    return needed(load)
