"""The operations a namespace file is made of: one class a command, holding all that is
known of it but its meaning (which the interpreter gives): its name, flag letters, the
shapes its arguments may take, and their fields.

To add a line type: a class here (and in COMMANDS), its rule in grammar.lark and its
method in syntax.Operations, its handler in interp.Interpreter.handlers, its line in newns(5).
"""
from __future__ import annotations

from .diagnostics import Where
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Mapping
    from typing import ClassVar


class Quoted(str):
    """Text that was quoted in the file: never a flag or a comment."""

    __slots__ = ()


ESCAPES = {"\\": b"\\", "'": b"'", "a": b"\a", "b": b"\b", "e": b"\x1b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v"}
"""The escapes of $'...' (grammar.lark's ESCAPED) and the bytes they stand for; \\xHH stands
for the byte HH."""


class Var(Record):
    """A $NAME or ${NAME} in a word."""

    name: str
    where: Where


class Word(Record):
    """One argument: literal text and variables, joined."""

    pieces: tuple[str | Var, ...]
    where: Where

    @property
    def bare(self) -> str | None:
        """The word's text when it is one unquoted piece, else None."""
        piece = self.pieces[0]
        if len(self.pieces) == 1 and isinstance(piece, str) and not isinstance(piece, Quoted):
            return piece
        return None

    @property
    def names_device(self) -> bool:
        """Whether the word is #name as the file wrote it, bare or quoted ('#tmpfs'): a
        variable's value never names a device."""
        first = self.pieces[0]
        return isinstance(first, str) and first.startswith("#")


class Op(Record):
    """One line's operation; flags are the letters given, e.g. 'ac'."""

    flags: str
    where: Where

    name: ClassVar[str]
    letters: ClassVar[str]  # the flags it takes
    shapes: ClassVar[tuple[tuple[str, ...], ...]]  # its arguments' fields, for each number of them
    rest: ClassVar[str | None] = None  # the field holding any words after the longest shape's
    longest: ClassVar[tuple[str, ...]] = ()  # the longest of shapes

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "shapes" in cls.__dict__:
            cls.longest = max(cls.shapes, key=len)

    @property
    def quiet(self) -> bool:
        return "q" in self.flags

    @classmethod
    def usage(cls) -> str:
        """bind [-abcCqr] new old: fields some shape lacks are in brackets."""
        longest = cls.longest
        words = [cls.name] + ([f"[-{cls.letters}]"] if cls.letters else [])
        words += [f if all(f in shape for shape in cls.shapes) else f"[{f}]" for f in longest]
        return " ".join(words + ([f"[{cls.rest} ...]"] if cls.rest else []))

    @classmethod
    def of_words(cls, flags: str, where: Where, words: list[Word]) -> Op:
        """The operation of these flags and words, each word the field of its place in the
        shape of that many (words past the longest shape go to rest); ValueError when no
        shape has that many."""
        longest = cls.longest
        args, rest = (words[: len(longest)], {cls.rest: tuple(words[len(longest) :])}) if cls.rest else (words, {})
        for shape in cls.shapes:
            if len(shape) == len(args):
                if not rest and shape == cls._fields[2 : 2 + len(shape)]:
                    return cls(flags, where, *args)  # the fields in order, as most are: quicker than by name
                return cls(flags, where, **dict(zip(shape, args)), **rest)
        raise ValueError(f"{cls.name} takes no {len(words)} arguments")

    def arguments(self) -> list[Word]:
        """Its words, in the order the file gives them."""
        words = [word for field in self.longest if (word := getattr(self, field)) is not None]
        return words + list(getattr(self, self.rest)) if self.rest else words


class Bind(Op):
    name = "bind"
    letters = "abcCqr"
    shapes = (("new", "old"),)
    new: Word
    old: Word


class Mount(Op):
    name = "mount"
    letters = "abcCqr"
    shapes = (("source", "old"), ("source", "old", "spec"))
    source: Word
    old: Word
    spec: Word | None = None


class Unmount(Op):
    name = "unmount"
    letters = "q"
    shapes = (("old",), ("new", "old"))
    old: Word
    new: Word | None = None


class Clear(Op):
    """`clear`: a new namespace from nothing; Linux extensions: `clear net`, `clear ipc` (new
    network and IPC namespaces), `clear env [NAME ...]` (an environment of those names only)."""

    name = "clear"
    letters = "q"
    shapes = ((), ("what",))
    rest = "names"
    what: Word | None = None
    names: tuple[Word, ...] = ()


class Cd(Op):
    name = "cd"
    letters = "q"
    shapes = (("dir",),)
    dir: Word


class Include(Op):
    name = "."
    letters = "q"
    shapes = (("path",),)
    path: Word


class Allow(Op):
    """A Linux extension: `allow setuid` lets set-user-ID programs gain privilege (no no_new_privs)."""

    name = "allow"
    letters = ""
    shapes = (("what",),)
    what: Word


class Import(Op):
    """A remote machine's directory, over SSH (sshfs): Plan 9's import. remote defaults to
    the mount point as the file writes it."""

    name = "import"
    letters = "abcCq"
    shapes = (("host", "old"), ("host", "remote", "old"))
    host: Word
    old: Word
    remote: Word | None = None


class Hostname(Op):
    """A Linux extension: a UTS namespace of the command's own, with this host name."""

    name = "hostname"
    letters = ""
    shapes = (("host",),)
    host: Word


class User(Op):
    """A Linux extension: the user and group ids the command runs with."""

    name = "user"
    letters = ""
    shapes = (("uid",), ("uid", "gid"))
    uid: Word
    gid: Word | None = None


class Setenv(Op):
    """A Linux extension: set a variable, or (-b, -a) put a value before or after it."""

    name = "setenv"
    letters = "ab"
    shapes = (("var", "value"),)
    var: Word
    value: Word


class Unsetenv(Op):
    """A Linux extension: remove a variable."""

    name = "unsetenv"
    letters = ""
    shapes = (("var",),)
    var: Word


class Net(Op):
    """A Linux extension: a network of the command's own, reached through a user-mode engine:
    `net allow DEST ...` (where it may connect), `net forward [HOSTPORT:]PORT[/udp]` (a port of
    the host's loopback to the command's), `net loopback PORT ...` (the host's loopback port)."""

    name = "net"
    letters = ""
    shapes = (("what",),)
    rest = "args"
    what: Word
    args: tuple[Word, ...] = ()


COMMANDS: dict[str, type[Op]] = {
    cls.name: cls
    for cls in (Bind, Mount, Unmount, Clear, Cd, Include, Allow, Import, Hostname, User, Setenv, Unsetenv, Net)
}
PLAN9_ONLY = ("chdev",)


class Unset(Exception):
    """A variable a word needs is not set."""

    def __init__(self, var: Var) -> None:
        super().__init__(var.name)
        self.var = var

    def message(self) -> str:
        return f"${self.var.name} is not set: export it before running newns, or write the path without it"


def expand(word: Word, env: Mapping[str, str]) -> str:
    """A word's text: each variable's value is one literal piece of it. Raises Unset."""
    if len(word.pieces) == 1 and not isinstance(word.pieces[0], Var):
        return word.pieces[0]  # as most are
    parts = []
    for piece in word.pieces:
        if isinstance(piece, Var):
            value = env.get(piece.name)
            if value is None:
                raise Unset(piece)
            parts.append(value)
        else:
            parts.append(piece)
    return "".join(parts)
