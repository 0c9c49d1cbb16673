"""Terminal patterns of grammar.lark, compiled by tools/compile_grammar.py: do not edit."""

BARE = "[^ \t\r\n'$]+"
COMMENT = '#[^\n]*'
NAME = "[^ \t\r\n'$#][^ \t\r\n'$]*"
QUOTED = "'([^'\n]|'')*'"
VAR = '\\$(\\{[A-Za-z_][A-Za-z0-9_]*\\}|[A-Za-z_][A-Za-z0-9_]*)'
EOL = '[ \t\r]*\n'
SEP = '[ \t\r]+'
