"""grammar.lark is the one source of the syntax: newns's scanner (nsfile._scan)
must read every line as lark's own parser of grammar.lark does."""
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newns import nsfile
from newns.diagnostics import NewnsError, Where
from newns.operations import Quoted, Var

GRAMMAR = Path(nsfile.__file__).with_name("grammar.lark")

SCANNED_TERMINALS = {
    "NAME": "[^ \t\r\n'$#][^ \t\r\n'$]*",
    "BARE": "[^ \t\r\n'$]+",
    "QUOTED": "'([^'\n]|'')*'",
    "ESCAPED": "\\$'([^'\\\\\n]|\\\\([\\\\'abefnrtv]|x[0-9A-Fa-f]{2}))*'",
    "VAR": "\\$(\\{[A-Za-z_][A-Za-z0-9_]*\\}|[A-Za-z_][A-Za-z0-9_]*)",
    "COMMENT": "#[^\n]*",
    "_SEP": "[ \t\r]+",
    "_EOL": "[ \t\r]*\n",
}
"""The terminals nsfile._scan follows: a change to grammar.lark must change both."""


@pytest.fixture(scope="module")
def lark_parser():
    return lark.Lark(GRAMMAR.read_text(), parser="lalr")


def test_the_scanner_follows_the_terminals_of_grammar_lark(lark_parser):
    assert {t.name: t.pattern.to_regexp() for t in lark_parser.terminals} == SCANNED_TERMINALS


def lark_view(parser, line):
    """(command, [[(kind, text) per piece] per word]), or ('error', column), from lark."""
    try:
        tree = parser.parse(line + "\n")
    except lark.exceptions.UnexpectedInput as e:
        return ("error", e.column)
    (line_tree,) = tree.children
    commands = [c for c in line_tree.children if isinstance(c, lark.Tree)]
    if not commands:
        return (None, [])
    name, *word_trees = commands[0].children

    def piece(token):
        text = str(token)
        if token.type == "QUOTED":
            return ("quoted", text[1:-1].replace("''", "'"))
        if token.type == "ESCAPED":
            return ("quoted", nsfile._escaped(text, 0, len(text), Where("f", 1, 1, text))[0])
        if token.type == "VAR":
            return ("var", text.strip("${}"))
        return ("bare", text)

    return (str(name), [[piece(t) for t in w.children] for w in word_trees])


def scanner_view(line):
    try:
        name, words, _ = nsfile._scan(line, Where("f", 1, 1, line))
    except NewnsError as e:
        return ("error", e.diagnostics[0].where.col)

    def piece(p):
        if isinstance(p, Var):
            return ("var", p.name)
        return ("quoted" if isinstance(p, Quoted) else "bare", str(p))

    return (name, [[piece(p) for p in w.pieces] for w in words])


ALPHABET = st.sampled_from(
    list("ab/-#$'{}_ \t\r.1\x0b\0é\\")
    + ["bind", "$x", "${y}", "${", "''", "'''", "#c", "'q r'", "$1", "}", "$'", "\\x4", "\\x4f", "\\n", "\\q"]
)


@settings(max_examples=4000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
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
    ],
)
def test_scanner_reads_examples_as_lark_does(lark_parser, line):
    assert scanner_view(line) == lark_view(lark_parser, line)
