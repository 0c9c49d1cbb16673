"""grammar.lark is the one source of the syntax: the compiled terminals and the
line scanner must agree with lark's own parser built from it."""
import subprocess
import sys
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newns import nsfile

REPO = Path(__file__).resolve().parent.parent
GRAMMAR = REPO / "src" / "newns" / "grammar.lark"


def test_compiled_terminals_match_grammar_lark():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "compile_grammar.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def lark_parser():
    return lark.Lark(GRAMMAR.read_text(), parser="lalr")


def lark_view(parser, line):
    """(command, [[(kind, text) per piece] per word]) or ('error', column) from lark."""
    try:
        tree = parser.parse(line + "\n")
    except lark.exceptions.UnexpectedInput as e:
        return ("error", e.column)
    (line_tree,) = tree.children
    commands = [c for c in line_tree.children if isinstance(c, lark.Tree)]
    if not commands:
        return (None, [])
    name, *word_trees = commands[0].children
    return (str(name), [[(t.type.lower(), str(t)) for t in w.children] for w in word_trees])


def scanner_view(line):
    from newns.errors import NewnsError, Where

    try:
        name, words, _ = nsfile._scan(line, Where("f", 1, 1, line))
    except NewnsError as e:
        return ("error", e.where.col)

    def piece(p):
        if isinstance(p, nsfile.Var):
            return ("var", None)
        return ("quoted" if isinstance(p, nsfile.Quoted) else "bare", None)

    return (name, [[piece(p) for p in w.pieces] for w in words])


def same(lark_result, scan_result):
    if lark_result[0] == "error" or scan_result[0] == "error":
        return lark_result == scan_result
    return lark_result[0] == scan_result[0] and [[k for k, _ in w] for w in lark_result[1]] == [
        [k for k, _ in w] for w in scan_result[1]
    ]


ALPHABET = st.sampled_from(list("ab/-#$'{}_ \t\r.1") + ["bind", "$x", "${y}", "''", "#c", "'q r'"])


@settings(max_examples=3000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=14).map("".join))
def test_scanner_agrees_with_lark(lark_parser, line):
    assert same(lark_view(lark_parser, line), scanner_view(line)), line


@pytest.mark.parametrize(
    "line",
    ["bind -a $home/x '#c'/y", "  # comment", "", "mount -c #tmpfs /tmp", "bind 'open", "bind $ x", "bind'x' y"],
)
def test_scanner_agrees_with_lark_on_examples(lark_parser, line):
    assert same(lark_view(lark_parser, line), scanner_view(line))
