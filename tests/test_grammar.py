"""grammar.lark is what reads namespace files: lark's parser of it, with syntax.Operations.
Held here: the grammar and ops.py agree on every command's flags, argument counts and
escapes, the Transformer has one method a rule, and quote writes words the grammar
reads back as the same text."""
import string

import lark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newns import GRAMMAR
from newns.nsfile import parse, quote
from newns.ops import COMMANDS, ESCAPES, Quoted
from newns.syntax import Operations


def read(line):
    ops, problems = parse(line + "\n", "f.ns")
    return ops, [p.message for p in problems]


def test_the_transformer_has_one_method_a_rule():
    parser = lark.Lark(open(GRAMMAR).read(), parser="lalr", start="line")
    rules = {str(rule.origin.name) for rule in parser.rules if not str(rule.origin.name).startswith("_")}
    methods = {name for name in vars(Operations) if not name.startswith("_")}
    assert methods == rules


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_takes_its_own_flags_and_no_other(name):
    command = COMMANDS[name]
    args = " ".join(["x"] * min(len(shape) for shape in command.shapes if shape) if any(command.shapes) else [])
    for letter in string.ascii_letters + string.digits:
        ops, problems = read(f"{name} -{letter} {args}".rstrip())
        if letter in command.letters:
            assert problems == [] and ops[0].flags == letter, (name, letter, problems)
        else:
            assert problems == [f"{name}: unknown flag -{letter}: {name} takes "
                                f"{' '.join('-' + f for f in command.letters) or 'no flags'}"], (name, letter)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_takes_the_argument_counts_of_its_shapes(name):
    command = COMMANDS[name]
    counts = {len(shape) for shape in command.shapes}
    for count in range(5):
        ops, problems = read(" ".join([name] + ["x"] * count))
        if count in counts or (command.rest and count > max(counts)):
            assert problems == [] and len(ops[0].arguments()) == count, (name, count, problems)
        else:
            assert problems and "arguments to" in problems[0], (name, count, problems)


def test_the_escapes_are_the_grammars():
    for char in string.printable.strip() + " ":
        ops, problems = read(f"bind $'\\{char}{'41' if char == 'x' else ''}' /b")
        assert (problems == []) == (char in ESCAPES or char == "x"), char
        if char in ESCAPES:
            assert ops[0].new.pieces == (Quoted(ESCAPES[char].decode()),)


def test_import_takes_no_r():
    assert read("import -r host /x")[1] == ["import: unknown flag -r: import takes -a -b -c -C -q"]


def test_every_problem_of_a_file_is_reported_each_at_its_line():
    ops, problems = parse("bnid /a\nbind /a /b\nbind 'x\nbind -z /a /b\ncd\n", "f.ns")
    assert [(p.where.line, p.where.col) for p in problems] == [(1, 1), (3, 6), (4, 7), (5, 1)]
    assert [op.name for op in ops] == ["bind"]


texts = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\udcff\udcc3 '$#\\-\n\r\t\0"), max_size=20)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(texts)
def test_quote_writes_a_word_the_grammar_reads_back(text):
    ops, problems = parse(f"bind {quote(text)} /b\n", "f.ns")
    assert problems == []
    (op,) = ops
    assert op.flags == "" and "".join(op.new.pieces) == text
