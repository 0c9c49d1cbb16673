"""newns: Plan 9 namespace files for Linux."""

__version__ = "0.1.0"
GRAMMAR = __path__[0] + "/grammar.lark"
"""The language of namespace files, which lark reads them with (syntax.py)."""
