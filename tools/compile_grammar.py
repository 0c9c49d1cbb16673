"""Compile src/newns/grammar.lark into src/newns/_grammar.py.

newns reads namespace files on every start, so it does not load lark at run
time: it scans lines with the terminal patterns that lark reads from
grammar.lark, written out here as plain regular expressions. The tests
regenerate this file and compare it, and check the scanner against lark's own
parser built from grammar.lark.

Usage: python tools/compile_grammar.py [--check]
"""
import pathlib
import sys

import lark

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "src" / "newns"
GRAMMAR = PACKAGE / "grammar.lark"
COMPILED = PACKAGE / "_grammar.py"


def compiled_source() -> str:
    parser = lark.Lark(GRAMMAR.read_text(), parser="lalr")
    lines = [
        '"""Terminal patterns of grammar.lark, compiled by tools/compile_grammar.py: do not edit."""',
        "",
    ]
    for terminal in sorted(parser.terminals, key=lambda t: t.name):
        lines.append(f"{terminal.name.lstrip('_')} = {terminal.pattern.to_regexp()!r}")
    return "\n".join(lines) + "\n"


def main() -> int:
    source = compiled_source()
    if "--check" in sys.argv[1:]:
        if COMPILED.read_text() != source:
            print(f"{COMPILED} is out of date: run python tools/compile_grammar.py", file=sys.stderr)
            return 1
        return 0
    COMPILED.write_text(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
