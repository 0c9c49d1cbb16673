"""What the interpreter may ask about the caller's world, and nothing else: the pure core
(loader, interpreter, mount table) is handed a World, the host's (linux.world.Host) in a
run, a made-up one in tests."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: typing costs every start of newns
    from typing import Protocol
else:
    Protocol = object


class World(Protocol):
    def kind(self, path: str) -> str | None:
        """'dir', 'file', 'other' or 'missing'; None when it can't be told (no access)."""

    def writable(self, path: str) -> bool:
        """Whether the caller may create and remove names in the directory path."""

    def realpath(self, path: str) -> str:
        """path with every symlink resolved, as os.path.realpath."""

    def read(self, path: str, *, pipe_allowed: bool) -> str:
        """A namespace file's text; raises OSError, or ValueError when it is too large."""

    def account(self) -> tuple[str, str]:
        """The caller's user name and home directory."""

    def mount_points(self) -> list[str]:
        """The caller's mount points, in mount order (a path twice when mounts are stacked there)."""
