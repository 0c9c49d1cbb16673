"""A plain run's options are read without click; they must mean what click reads."""
import pytest

from newns.cli import plain_run
from newns.options import newns

SAMPLES = [
    [],
    ["-f", "x.ns"],
    ["-n", "x.ns", "ls", "-l"],
    ["-d", "-f", "x.ns", "--", "make", "-k"],
    ["-a", "-d", "-n", "x.ns", "grep", "-r", "foo"],
    ["-f", "x.ns", "-f", "y.ns", "true"],
    ["bash", "-e", "step.sh"],
    ["--", "-weird-command"],
    ["-f", "-", "cat"],
]


@pytest.mark.parametrize("args", SAMPLES, ids=lambda a: " ".join(a) or "(none)")
def test_plain_run_reads_options_as_click_does(args):
    params = newns.make_context("newns", list(args)).params
    dashdash = "--" in args and list(params["command"]) == args[args.index("--") + 1 :]
    assert plain_run(list(args)) == (params["nsfile"], params["debug"], dashdash, list(params["command"]))


@pytest.mark.parametrize("args", [["--check", "-f", "x"], ["-h"], ["--version"], ["-df", "x"], ["-fx.ns"], ["-f"], ["--ns"]])
def test_everything_else_goes_to_click(args):
    assert plain_run(args) is None


def test_help_and_version(tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(newns, ["--help"])
    assert result.exit_code == 0
    assert "--check" in result.output and "Examples:" in result.output
    assert CliRunner().invoke(newns, ["--version"]).output.startswith("newns, version ")
