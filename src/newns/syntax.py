"""lark's reading of namespace files: the LALR parser of grammar.lark, the Transformer
that makes a line's operation (one method a rule, as python-hcl2 makes HCL's values
with its grammar), and lark's refusals as newns's own problems, each at its column.

A file is read a line at a time (the grammar's start rule is line), so that each bad
line is one problem and the lines after it are still read; a 10,000-line file is read
as fast so as whole. Importing lark costs more than a whole run of newns: only
nsfile.parse imports this module, for a text its cache does not hold.
"""
from __future__ import annotations

import re

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput

from . import GRAMMAR
from .diagnostics import MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, Where
from .ops import (
    COMMANDS, ESCAPES, PLAN9_ONLY, Allow, Bind, Cd, Clear, Hostname, Import, Include, Mount, Net, Op, Quoted,
    Setenv, Unmount, Unsetenv, User, Var, Word,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class Operations(Transformer[Token, "Op | None"]):
    """grammar.lark's rules, one method each, called by lark as it reads the line at where
    (whose command starts at command)."""

    def __init__(self) -> None:
        super().__init__()
        self.where = self.command_at = Where("", 0, 1, "")

    def line(self, children: list[Op]) -> Op | None:
        return children[0] if children else None

    def command(self, children: list[Op]) -> Op:
        return children[0]

    def bind(self, children: list[Token | Word]) -> Op:
        return self._operation(Bind, children)

    def mount(self, children: list[Token | Word]) -> Op:
        return self._operation(Mount, children)

    def unmount(self, children: list[Token | Word]) -> Op:
        return self._operation(Unmount, children)

    def clear(self, children: list[Token | Word]) -> Op:
        return self._operation(Clear, children)

    def cd(self, children: list[Token | Word]) -> Op:
        return self._operation(Cd, children)

    def include(self, children: list[Token | Word]) -> Op:
        return self._operation(Include, children)

    def allow(self, children: list[Token | Word]) -> Op:
        return self._operation(Allow, children)

    def import_(self, children: list[Token | Word]) -> Op:
        return self._operation(Import, children)

    def hostname(self, children: list[Token | Word]) -> Op:
        return self._operation(Hostname, children)

    def user(self, children: list[Token | Word]) -> Op:
        return self._operation(User, children)

    def setenv(self, children: list[Token | Word]) -> Op:
        return self._operation(Setenv, children)

    def unsetenv(self, children: list[Token | Word]) -> Op:
        return self._operation(Unsetenv, children)

    def net(self, children: list[Token | Word]) -> Op:
        return self._operation(Net, children)

    def first(self, tokens: list[Token]) -> Word:
        return self._word(tokens)

    def word(self, tokens: list[Token]) -> Word:
        return self._word(tokens)

    def _word(self, tokens: list[Token]) -> Word:
        return Word(tuple(self._pieced(token) for token in tokens), self.where.at(_column(tokens[0])))

    def _pieced(self, token: Token) -> str | Var:
        kind = token.type
        if kind == "QUOTED":
            return Quoted(token[1:-1].replace("''", "'"))
        if kind == "ESCAPED":
            return Quoted(unescape(token[2:-1]))
        if kind == "VAR":
            return Var(token.strip("${}"), self.where.at(_column(token)))
        return str(token)

    def _operation(self, command: type[Op], children: Sequence[Token | Word]) -> Op:
        """The command's flags are its tokens (-abc: each letter once, in order), its arguments its words."""
        letters = "".join(token[1:] for token in children if isinstance(token, Token))
        words = [word for word in children if isinstance(word, Word)]
        return command.of_words("".join(dict.fromkeys(letters)), self.command_at, words)


def unescape(body: str) -> str:
    """The text of $'body' (body as grammar.lark's ESCAPED allows it): bytes that are not
    UTF-8 are kept as they are elsewhere in a file."""
    out = bytearray()
    at = 0
    while at < len(body):
        char = body[at]
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            at += 1
        elif body[at + 1] == "x":
            out.append(int(body[at + 2 : at + 4], 16))
            at += 4
        else:
            out += ESCAPES[body[at + 1]]
            at += 2
    return out.decode("utf-8", "surrogateescape")


class Reader:
    """lark's LALR parser of grammar.lark, with the Operations it calls as it reads, and the
    grammar's terminals that say where a refused line went wrong."""

    def __init__(self) -> None:
        self.operations = Operations()
        with open(GRAMMAR) as grammar:
            self.lark = Lark(grammar.read(), parser="lalr", start="line", transformer=self.operations)
        terminal = {name: re.compile(self.lark.get_terminal(name).pattern.to_regexp()) for name in ("_SEP", "BARE", "VAR")}
        self.sep, self.bare, self.var = terminal["_SEP"], terminal["BARE"], terminal["VAR"]
        escaped = self.lark.get_terminal("ESCAPED").pattern.to_regexp()
        self.escaped_start = re.compile(escaped.removesuffix("'"))  # $'... without its closing quote

    def read(self, text: str, filename: str) -> tuple[list[Op], list[Diagnostic]]:
        """All operations of a file, and every problem found in it."""
        ops: list[Op] = []
        problems: list[Diagnostic] = []
        for number, line in enumerate(text.split("\n"), 1):
            self.operations.where = where = Where(filename, number, 1, line)
            self.operations.command_at = where.at(self._after_separators(line, 0) + 1)
            try:
                op = self.lark.parse(line + "\n")
            except UnexpectedInput as refused:
                problems += self.problem(refused, where).diagnostics
                if len(problems) >= MAX_PROBLEMS:
                    problems.append(TooManyProblems(f"{MAX_PROBLEMS} problems: newns reads no further", where))
                    break
                continue
            if isinstance(op, Op):  # a command's line; a blank or comment line is None
                ops.append(op)
        return ops, problems

    def problem(self, refused: UnexpectedInput, where: Where) -> NewnsError:
        """What went wrong where lark stopped reading the line: a broken word, a command name,
        a flag, or the number of arguments."""
        line = where.text
        stop = refused.column - 1 if refused.column > 0 else len(line)  # 0-based
        char = line[stop] if stop < len(line) else "\n"
        history = getattr(refused, "token_history", None) or [None]
        last: Token | None = history[-1]
        start = self._after_separators(line, 0)
        name_end = self._bare_end(line, start)
        name = line[start:name_end]
        if stop < name_end:
            if name in PLAN9_ONLY:
                return NewnsError(f"{name}: a Plan 9 command with no Linux equivalent", where.at(start + 1))
            return NewnsError(f"unknown command {name!r}: expected {_listed(list(COMMANDS))}", where.at(start + 1))
        if stop == name_end and char in "'$":
            if not name:
                return NewnsError(
                    f"a line starts with a command name ({_listed(list(COMMANDS))}), not a quoted word or a variable",
                    where.at(start + 1),
                )
            return NewnsError(f"unexpected {char!r} after the command name: separate words with spaces", where.at(stop + 1))
        if char == "'":
            return NewnsError("unterminated quote: close it with ' on the same line", where.at(stop + 1))
        if char == "$":
            return NewnsError(self._dollar(line, stop), where.at(stop + 1))
        command = COMMANDS[name]
        if last is not None and last.type == "DASHBARE" and last.end_column == stop + 1:
            for col, letter in enumerate(last[1:], _column(last) + 1):
                if letter not in command.letters:
                    allowed = " ".join("-" + f for f in command.letters) or "no flags"
                    return NewnsError(f"{name}: unknown flag -{letter}: {name} takes {allowed}", where.at(col))
        extra = self._after_separators(line, stop)
        if extra == len(line):
            return NewnsError(f"too few arguments to {name}: usage: {command.usage()}", where.at(start + 1))
        if extra > stop:
            comment = self._comment(line, name_end, extra)
            if comment is not None:
                return NewnsError("comments go on their own line: a # after a command is a word", where.at(comment + 1))
            hint = ": a namespace file quotes with ' (as rc does), not \"" if '"' in line[name_end:] else ""
            return NewnsError(f"too many arguments to {name}: usage: {command.usage()}{hint}", where.at(extra + 1))
        return NewnsError(f"unexpected {char!r}", where.at(stop + 1))

    def _comment(self, line: str, after: int, extra: int) -> int | None:
        """Where a comment seems to start among the words of a line with too many of them: the
        word at extra when it starts with #, else a bare # alone before it (mount's spec)."""
        if line[extra] == "#":
            return extra
        at = self._after_separators(line, after)
        while at < extra:
            end = self._bare_end(line, at)
            if line[at:end] == "#":
                return at
            at = self._after_separators(line, max(end, at + 1))
        return None

    def _dollar(self, line: str, at: int) -> str:
        """Why the word at the $ at is no variable or $'...'."""
        if line.startswith("$'", at):
            valid = self.escaped_start.match(line, at)
            after = valid.end() if valid else at + 2
            code = line[after + 1 : after + 2]
            if line[after : after + 1] == "\\" and code:
                return f"unknown escape \\{code} in $'...': the escapes are \\\\ \\' \\a \\b \\e \\f \\n \\r \\t \\v and \\xHH"
            return "unterminated $'...': close it with ' on the same line"
        unbraced = self.var.match("$" + line[at + 2 :]) if line.startswith("${", at) else None
        if unbraced and "{" not in unbraced.group():
            name = unbraced.group()[1:]
            return f"unclosed ${{{name}: write ${{{name}}}"
        return "'$' must start a variable name, $NAME or ${NAME}; for a literal $, quote it: '$'"

    def _after_separators(self, line: str, at: int) -> int:
        found = self.sep.match(line, at)
        return found.end() if found else at

    def _bare_end(self, line: str, at: int) -> int:
        found = self.bare.match(line, at)
        return found.end() if found else at


def _column(token: Token) -> int:
    assert token.column is not None  # lark's lexer gives each token its column
    return token.column


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]
