"""Namespace file text to operations: syntax, flags, argument counts, positions."""
import pytest

from newns.nsfile import parse
from newns.ops import Bind, Cd, Clear, Include, Mount, Quoted, Unmount, Var


def one(text):
    ops, problems = parse(text, "f.ns")
    assert problems == []
    assert len(ops) == 1
    return ops[0]


def problem(text):
    ops, problems = parse(text, "f.ns")
    assert len(problems) == 1, problems
    p = problems[0]
    return p.where.line, p.where.col, p.message


def words(op, *fields):
    return [getattr(op, f).pieces for f in fields]


def test_blank_comment_and_shebang_lines_are_nothing():
    text = "#!/usr/bin/env newns\n\n   \n\t# indented comment\r\n  #x\n \r\n"
    assert parse(text, "f.ns") == ([], [])


def test_bind_with_flags_and_positions():
    op = one("  bind -ac /a /b\n")
    assert isinstance(op, Bind)
    assert op.flags == "ac"
    assert (op.where.line, op.where.col) == (1, 3)
    assert op.new.pieces == ("/a",) and op.new.where.col == 12
    assert op.old.pieces == ("/b",)


def test_separate_flags_and_double_dash():
    op = one("bind -a -c -- -x /b\n")
    assert op.flags == "ac"
    assert op.new.pieces == ("-x",)


def test_bare_dash_is_an_argument():
    op = one("bind - /b\n")
    assert op.flags == "" and op.new.pieces == ("-",)


def test_quotes_are_rc_quotes():
    op = one("bind 'a b' 'it''s'\n")
    assert words(op, "new", "old") == [("a b",), ("it's",)]
    op = one("bind a'b c'd ''''\n")
    assert words(op, "new", "old") == [("a", "b c", "d"), ("'",)]
    op = one("bind '' /x\n")
    assert op.new.pieces == ("",)


def test_a_quoted_word_is_never_a_flag():
    op = one("bind '-a' /x\n")
    assert op.flags == "" and op.new.pieces == ("-a",)
    assert isinstance(op.new.pieces[0], Quoted)


def test_variables_in_words():
    op = one("bind $home/x ${user}y\n")
    assert [type(p) for p in op.new.pieces] == [Var, str]
    assert op.new.pieces[0].name == "home"
    assert op.old.pieces[0].name == "user" and op.old.pieces[1] == "y"
    assert op.old.pieces[0].where.col == 14


def test_quoted_dollar_is_literal():
    assert one("bind '$home' /x\n").new.pieces == ("$home",)


def test_hash_inside_a_line_is_a_word():
    op = one("mount -c #tmpfs /tmp size=1m\n")
    assert isinstance(op, Mount)
    assert op.source.pieces == ("#tmpfs",) and op.spec.pieces == ("size=1m",)
    assert one("bind #old/usr /usr\n").new.pieces == ("#old/usr",)


def test_crlf_and_missing_last_newline():
    ops, problems = parse("bind /a /b\r\ncd /x", "f.ns")
    assert problems == []
    assert isinstance(ops[1], Cd) and ops[1].dir.pieces == ("/x",)
    assert ops[0].old.pieces == ("/b",)


def test_every_command():
    assert isinstance(one("unmount /b\n"), Unmount)
    op = one("unmount /a /b\n")
    assert op.new.pieces == ("/a",) and op.old.pieces == ("/b",)
    assert isinstance(one("clear\n"), Clear)
    op = one(". -q other.ns\n")
    assert isinstance(op, Include) and op.quiet


@pytest.mark.parametrize(
    "text, col, message",
    [
        ("bind /a /b # note\n", 12, "comments go on their own line"),
        ("bind /a /b #note\n", 12, "comments go on their own line"),
        ("bind -x /a /b\n", 7, "unknown flag -x"),
        ("bind /a\n", 1, "too few arguments to bind"),
        ("bind /a /b /c\n", 12, "too many arguments to bind"),
        ("mount /a\n", 1, "too few arguments to mount"),
        ("cd\n", 1, "too few arguments to cd"),
        ("hostname a b\n", 12, "too many arguments to hostname"),
        ("bnid /a /b\n", 1, "unknown command 'bnid'"),
        ("chdev -r Ms\n", 1, "Plan 9 command"),
        ("bind 'a b /c\n", 6, "unterminated quote"),
        ("bind $ /c\n", 6, "'$' must start a variable name"),
        ("bind ${x /c\n", 6, "unclosed ${x: write ${x}"),
        ("'bind' /a /b\n", 1, "a line starts with a command name"),
        ("bind'x' /a\n", 5, "separate words with spaces"),
    ],
)
def test_mistakes_are_reported_where_they_are(text, col, message):
    line, got_col, got = problem(text)
    assert line == 1
    assert got_col == col
    assert message in got


def test_every_bad_line_is_reported_and_good_ones_kept():
    ops, problems = parse("bind /a /b\nfoo\nbind /c\n\ncd /\n", "f.ns")
    assert [p.where.line for p in problems] == [2, 3]
    assert [type(op) for op in ops] == [Bind, Cd]


def test_error_excerpt_has_a_caret_under_the_column():
    _, problems = parse("\tbind /a /b # note\n", "f.ns")
    text = problems[0].shown()
    assert text.splitlines() == [
        "newns: f.ns:1:13: comments go on their own line: a # after a command is a word",
        "  \tbind /a /b # note",
        "  \t           ^",
    ]
