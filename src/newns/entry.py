"""The newns command's first lines: Ctrl-C ends newns from here on as it would end the
command, not with a Python traceback (Python catches SIGINT as it starts; newns's
imports take longer than its own start)."""
import _signal  # type: ignore[import-not-found]  # signal itself imports enum: a cost on every start

if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)

from .cli import main  # noqa: E402

__all__ = ["main"]
