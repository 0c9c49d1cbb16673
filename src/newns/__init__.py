"""newns: Plan 9 namespace files for Linux."""

__version__ = "0.1.0"
