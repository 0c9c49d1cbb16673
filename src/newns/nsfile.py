"""Namespace file text to typed operations.

The syntax is grammar.lark. newns reads it with a scanner that follows the
grammar's rules and terminals line by line, character by character: loading
a parser generator, or even the re module, would cost more at every start
than reading a small file does. The tests hold the scanner to lark's own
parser of grammar.lark, accepted lines, words and error columns alike.
Nothing after this module sees file text: every operation carries its Where.
"""
from __future__ import annotations

from .diagnostics import MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, Where, is_unprintable
from .ops import COMMANDS, PLAN9_ONLY, Op, Quoted, Var, Word


def parse(text: str, filename: str) -> tuple[list[Op], list[Diagnostic]]:
    """All operations of a file, and every problem found in it."""
    ops: list[Op] = []
    problems: list[Diagnostic] = []
    for number, line in enumerate(text.split("\n"), 1):
        try:
            op = _parse_line(line, Where(filename, number, 1, line))
        except NewnsError as problem:
            problems += problem.diagnostics
            if len(problems) >= MAX_PROBLEMS:
                problems.append(TooManyProblems(f"{MAX_PROBLEMS} problems: newns reads no further", Where(filename, number, 1, line)))
                break
        else:
            if op is not None:
                ops.append(op)
    return ops, problems


def _parse_line(line: str, where: Where) -> Op | None:
    name, words, pos = _scan(line, where)
    if name is None:
        return None
    return _operation(name, words, where.at(pos))


def _scan(line: str, where: Where) -> tuple[str | None, list[Word], int]:
    """Split a line into its command name and words: grammar.lark's rules line,
    command and word, and its terminals, followed character by character."""
    end = len(line)
    start = _skip_separators(line, 0, end)
    if start == end or line[start] == "#":
        return None, [], start + 1
    if line[start] in "'$":
        raise NewnsError(
            f"a line starts with a command name ({_listed(list(COMMANDS))}), not a quoted word or a variable",
            where.at(start + 1),
        )
    pos = _bare_end(line, start, end)
    name = line[start:pos]
    words: list[Word] = []
    while pos < end:
        if line[pos] not in SEPARATORS:
            raise _unexpected(line, pos, where, after_name=not words)
        pos = _skip_separators(line, pos, end)
        if pos == end:
            break
        pieces: list[str | Var] = []
        word_start = pos
        while pos < end and line[pos] not in SEPARATORS:
            char = line[pos]
            if char == "'":
                text, pos = _quoted(line, pos, end, where)
                pieces.append(Quoted(text))
            elif char == "$" and line.startswith("$'", pos):
                text, pos = _escaped(line, pos, end, where)
                pieces.append(Quoted(text))
            elif char == "$":
                variable, after = _variable(line, pos, end, where)
                pieces.append(Var(variable, where.at(pos + 1)))
                pos = after
            else:
                bare_end = _bare_end(line, pos, end)
                pieces.append(line[pos:bare_end])
                pos = bare_end
        words.append(Word(tuple(pieces), where.at(word_start + 1)))
    return name, words, start + 1


SEPARATORS = " \t\r"  # _SEP
BARE_STOP = " \t\r'$"  # what BARE and NAME may not hold (a line holds no newline)
NAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")  # VAR
NAME_REST = NAME_FIRST | frozenset("0123456789")


def _skip_separators(line: str, pos: int, end: int) -> int:
    while pos < end and line[pos] in SEPARATORS:
        pos += 1
    return pos


def _bare_end(line: str, pos: int, end: int) -> int:
    while pos < end and line[pos] not in BARE_STOP:
        pos += 1
    return pos


def _quoted(line: str, pos: int, end: int, where: Where) -> tuple[str, int]:
    """QUOTED at pos: its text ('' is a quote) and where it ends.

    Unterminated, it fails where lark's longest match does: at the opening
    quote, or, when it ran on through doubled quotes, at the second quote of
    the last pair (the first one closed it)."""
    parts = []
    fail_at = pos
    inside = pos + 1
    while True:
        close = line.find("'", inside)
        if close < 0:
            raise _unexpected(line, fail_at, where, after_name=False)
        if close + 1 < end and line[close + 1] == "'":
            parts.append(line[inside : close + 1])
            fail_at = close + 1
            inside = close + 2
            continue
        parts.append(line[inside:close])
        return "".join(parts), close + 1


ESCAPES = {"\\": b"\\", "'": b"'", "a": b"\a", "b": b"\b", "e": b"\x1b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v"}
HEX = frozenset("0123456789abcdefABCDEF")


def _escaped(line: str, pos: int, end: int, where: Where) -> tuple[str, int]:
    """ESCAPED at pos ($'...', with backslash escapes for any byte): its text, and where it ends.

    The escapes are \\\\ \\' \\a \\b \\e \\f \\n \\r \\t \\v and \\xHH; bytes that are
    not UTF-8 are kept as they are elsewhere in a file."""
    out = bytearray()
    at = pos + 2
    while at < end:
        char = line[at]
        if char == "'":
            return out.decode("utf-8", "surrogateescape"), at + 1
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            at += 1
            continue
        code = line[at + 1 : at + 2]
        if not code:
            break
        if code in ESCAPES:
            out += ESCAPES[code]
            at += 2
        elif code == "x" and len(line[at + 2 : at + 4]) == 2 and set(line[at + 2 : at + 4]) <= HEX:
            out.append(int(line[at + 2 : at + 4], 16))
            at += 4
        else:
            raise NewnsError(
                f"unknown escape \\{code} in $'...': the escapes are \\\\ \\' \\a \\b \\e \\f \\n \\r \\t \\v and \\xHH",
                where.at(pos + 1),
            )
    raise NewnsError("unterminated $'...': close it with ' on the same line", where.at(pos + 1))


def _variable(line: str, pos: int, end: int, where: Where) -> tuple[str, int]:
    """VAR at pos ($NAME or ${NAME}): the name, and where it ends."""
    braced = pos + 1 < end and line[pos + 1] == "{"
    first = pos + 2 if braced else pos + 1
    last = first
    if last < end and line[last] in NAME_FIRST:
        last += 1
        while last < end and line[last] in NAME_REST:
            last += 1
        if not braced:
            return line[first:last], last
        if last < end and line[last] == "}":
            return line[first:last], last + 1
        name = line[first:last]
        raise NewnsError(f"unclosed ${{{name}: write ${{{name}}}", where.at(pos + 1))
    raise _unexpected(line, pos, where, after_name=False)


def _unexpected(line: str, pos: int, where: Where, *, after_name: bool) -> NewnsError:
    char = line[pos]
    if after_name:
        message = f"unexpected {char!r} after the command name: separate words with spaces"
    elif char == "'":
        message = "unterminated quote: close it with ' on the same line"
    elif char == "$":
        message = "'$' must start a variable name, $NAME or ${NAME}; for a literal $, quote it: '$'"
    else:
        message = f"unexpected {char!r}"
    return NewnsError(message, where.at(pos + 1))


def _operation(name: str, words: list[Word], where: Where) -> Op:
    command = COMMANDS.get(name)
    if command is None:
        if name in PLAN9_ONLY:
            raise NewnsError(f"{name}: a Plan 9 command with no Linux equivalent", where)
        raise NewnsError(f"unknown command {name!r}: expected {_listed(list(COMMANDS))}", where)
    flags, args = _split_flags(command, words)
    counts = [len(shape) for shape in command.shapes]
    rest: dict[str, tuple[Word, ...]] = {}
    if command.rest and len(args) > max(counts):
        rest[command.rest] = tuple(args[max(counts) :])
        args = args[: max(counts)]
    if len(args) > max(counts):
        extra = args[max(counts)]
        if (extra.bare or "").startswith("#"):
            raise NewnsError("comments go on their own line: a # after a command is a word", extra.where)
        raise NewnsError(f"too many arguments to {name}: usage: {command.usage()}", extra.where)
    if len(args) < min(counts):
        raise NewnsError(f"too few arguments to {name}: usage: {command.usage()}", where)
    shape = next(shape for shape in command.shapes if len(shape) == len(args))
    return command(flags, where, **dict(zip(shape, args)), **rest)


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]


def _split_flags(command: type[Op], words: list[Word]) -> tuple[str, list[Word]]:
    """Leading -x words are flags (a quoted or variable word never is); -- ends them."""
    flags = ""
    for i, word in enumerate(words):
        text = word.bare
        if text is None or not text.startswith("-") or text == "-":
            return flags, words[i:]
        if text == "--":
            return flags, words[i + 1 :]
        for col, letter in enumerate(text[1:], word.where.col + 1):
            if letter not in command.letters:
                allowed = " ".join("-" + f for f in command.letters) or "no flags"
                raise NewnsError(f"{command.name}: unknown flag -{letter}: {command.name} takes {allowed}", word.where.at(col))
            if letter not in flags:
                flags += letter
    return flags, []


_SPECIAL = frozenset(" \t\r\n'$#\\")


def quote(text: str) -> str:
    """A word that this module reads back as text, never a flag: bare when it can be, rc
    quoting as Plan 9's ns(1) prints a word, and $'...' for what rc quoting can't hold (a
    newline, any control character, a byte that is not UTF-8), so no text can make more
    than one word or line."""
    if not text.isprintable() and any(is_unprintable(c) for c in text):  # isprintable: the quick look
        return "$'" + "".join(_escape(c) for c in text) + "'"
    if text and _SPECIAL.isdisjoint(text) and not text.startswith("-"):
        return text
    return "'" + text.replace("'", "''") + "'"


_ESCAPED = {byte: b"\\" + code.encode() for code, byte in ESCAPES.items()}


def _escape(char: str) -> str:
    """char inside $'...'."""
    if char not in "\\'" and not is_unprintable(char):
        return char
    data = char.encode("utf-8", "surrogateescape")
    return "".join((_ESCAPED.get(bytes([b])) or b"\\x%02x" % b).decode() for b in data)
