"""grammar.lark is the reference for the syntax: newns's scanner (nsfile) must read every
line as lark's own parser of grammar.lark does: the same operation, flags, words and
pieces (with their columns) from a line lark accepts, and a refusal of a line it refuses."""
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newns import nsfile
from newns.diagnostics import NewnsError, Where
from newns.ops import COMMANDS, Quoted, Var

GRAMMAR = Path(nsfile.__file__).with_name("grammar.lark")

SCANNED_TERMINALS = {
    "BARE": "[^ \t\r\n'$]+",
    "NODASH": "[^ \t\r\n'$\\-][^ \t\r\n'$]*",
    "DASHBARE": "-[^ \t\r\n'$]*",
    "DASH": "-(?=[ \t\r\n])",
    "DASHDASH": "--(?=[ \t\r\n])",
    "UNION_FLAGS": "-[abcCqr]+(?=[ \t\r\n])",
    "QUIET_FLAGS": "-q+(?=[ \t\r\n])",
    "ENV_FLAGS": "-[ab]+(?=[ \t\r\n])",
    "QUOTED": "'([^'\n]|'')*'",
    "ESCAPED": "\\$'([^'\\\\\n]|\\\\([\\\\'abefnrtv]|x[0-9A-Fa-f]{2}))*'",
    "VAR": "\\$(\\{[A-Za-z_][A-Za-z0-9_]*\\}|[A-Za-z_][A-Za-z0-9_]*)",
    "COMMENT": "#[^\n]*",
    "_SEP": "[ \t\r]+",
    "_EOL": "[ \t\r]*\n",
}
"""The terminals the scanner follows: a change to grammar.lark must change both."""
KEYWORDS = {"bind", "mount", "unmount", "clear", "cd", ".", "allow", "import", "hostname", "user", "setenv", "unsetenv"}


@pytest.fixture(scope="module")
def lark_parser():
    return lark.Lark(GRAMMAR.read_text(), parser="lalr")


def test_the_scanner_follows_the_terminals_of_grammar_lark(lark_parser):
    named = {t.name: t.pattern.to_regexp() for t in lark_parser.terminals if t.pattern.type == "re"}
    keywords = {t.pattern.value for t in lark_parser.terminals if t.pattern.type == "str"}
    assert named == SCANNED_TERMINALS
    assert keywords == KEYWORDS == set(COMMANDS)


def piece_view(kind: str, text: str, col: int) -> tuple:
    return (kind, text, col) if kind == "var" else (kind, text)


class Operations(lark.Transformer):
    """lark's tree of a line to the view scanner_view gives of an operation."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line

    def _pieces(self, tokens):
        pieces = []
        for token in tokens:
            text = str(token)
            if token.type == "QUOTED":
                pieces.append(piece_view("quoted", text[1:-1].replace("''", "'"), 0))
            elif token.type == "ESCAPED":
                pieces.append(piece_view("quoted", nsfile._escaped(text, 0, len(text), Where("f", 1, 1, text))[0], 0))
            elif token.type == "VAR":
                pieces.append(piece_view("var", text.strip("${}"), token.column))
            else:
                pieces.append(piece_view("bare", text, 0))
        return (tokens[0].column, tuple(pieces))

    def word(self, tokens):
        return self._pieces(tokens)

    first = word

    def _command(self, name, children):
        flags = ""
        words = []
        for child in children:
            if isinstance(child, lark.Token) and child.type.endswith("FLAGS"):
                flags += "".join(c for c in child[1:] if c not in flags)
            elif isinstance(child, tuple):
                words.append(child)
        command = COMMANDS[name]
        longest = max(len(shape) for shape in command.shapes)
        rest = [(command.rest, word) for word in words[longest:]] if command.rest else []
        shape = next((shape for shape in command.shapes if len(shape) == len(words) - len(rest)), ())
        return (name, flags, tuple(zip(shape, words)) + tuple(rest))


for _name in COMMANDS:  # each rule of grammar.lark, by its command's name ("." is the rule include)
    setattr(Operations, "include" if _name == "." else _name, lambda self, children, _name=_name: self._command(_name, children))


def lark_view(parser, line):
    """The operation lark reads in a line, None for a blank or comment line, 'refused'."""
    try:
        tree = parser.parse(line + "\n")
    except lark.exceptions.UnexpectedInput:
        return "refused"
    (line_tree,) = tree.children
    commands = [c for c in line_tree.children if isinstance(c, lark.Tree)]
    if not commands:
        return None
    return Operations(line).transform(commands[0]).children[0]


def scanner_view(line):
    try:
        ops, problems = nsfile.parse(line, "f")
    except NewnsError:
        return "refused"
    if problems:
        return "refused"
    if not ops:
        return None
    (op,) = ops

    def pieces(word):
        return tuple(
            piece_view("var", p.name, p.where.col) if isinstance(p, Var)
            else piece_view("quoted" if isinstance(p, Quoted) else "bare", str(p), 0)
            for p in word.pieces
        )

    rest = list(getattr(op, op.rest)) if op.rest else []
    shape = next(shape for shape in op.shapes if all((getattr(op, f) is not None) for f in shape)
                 and len(shape) == len(op.arguments()) - len(rest))
    fields = [(f, getattr(op, f)) for f in shape] + [(op.rest, word) for word in rest]
    return (op.name, op.flags, tuple((f, (word.where.col, pieces(word))) for f, word in fields))


ALPHABET = st.sampled_from(
    list("ab/-#$'{}_ \t\r.1\x0b\0é\\")
    + ["bind", "mount", "unmount", "clear", "cd", ". ", "allow", "import", "hostname", "user", "setenv", "unsetenv", "bnid", "$x", "${y}", "${", "''", "'''", "#c",
       "'q r'", "$1", "}", "$'", "\\x4", "\\x4f", "\\n", "\\q", " -a", " -bc", " -q", " -x", " --", " - ", " -", "-'x'"]
)


@settings(max_examples=6000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=16).map("".join))
def test_scanner_reads_lines_as_lark_does(lark_parser, line):
    assert scanner_view(line) == lark_view(lark_parser, line), repr(line)


@pytest.mark.parametrize(
    "line",
    [
        "bind -a $home/x '#c'/y",
        "  # comment",
        "",
        "mount -c #tmpfs /tmp",
        "mount -c #tmpfs /tmp size=1m",
        "bind 'open",
        "bind 'a''",
        "bind 'a''b''",
        "bind $ x",
        "bind ${x y",
        "bind'x' y",
        "bind a$b${c}'d''e' \t\r",
        "'bind' x",
        "bind $'a\\nb' $'\\x41\\e'",
        "bind $'open",
        "bind $'bad\\q'",
        "bind $'\\'' x",
        "bind -a -c -- -x /b",
        "bind - /b",
        "bind -x /a",
        "bind -a'x' /b",
        "bind /a -x",
        "bind -ab /a /b",
        "unmount /b",
        "unmount -q /a /b",
        "clear",
        "clear -q --",
        "cd /x",
        ". -q inc.ns",
        "allow setuid",
        "allow -q setuid",
        "clear net",
        "clear -q env HOME PATH $X",
        "clear -- -x",
        "clear -q -- env",
        "import host /n/remote",
        "import -a me@host /remote /n/x",
        "import -- -host /x",
        "import host",
        "hostname box",
        "hostname -x",
        "user 0",
        "user 1000 100",
        "user 1 2 3",
        "setenv -b PATH $GOS/bin",
        "setenv -ab X y",
        "setenv -q X y",
        "setenv X -a",
        "setenv -- -X y",
        "unsetenv X",
        "unsetenv X Y",
        "bind /a /b # note",
        "bind /a",
        "bnid /a /b",
        "chdev -r Ms",
    ],
)
def test_scanner_reads_examples_as_lark_does(lark_parser, line):
    assert scanner_view(line) == lark_view(lark_parser, line)


@pytest.mark.parametrize(
    "line, col",
    [("bind 'open", 6), ("bind 'a''b''", 12), ("bind $ x", 6), ("bind ${x y", 6), ("bind $'bad\\q'", 6), ("bind'x' y", 5)],
)
def test_the_scanner_fails_where_lark_does_on_a_broken_word(lark_parser, line, col):
    with pytest.raises(lark.exceptions.UnexpectedInput) as refused:
        lark_parser.parse(line + "\n")
    assert refused.value.column == col
    _, problems = nsfile.parse(line, "f")
    assert [p.where.col for p in problems] == [col]
