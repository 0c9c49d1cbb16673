"""Bad input: any bytes as a namespace file, any values for its variables.

newns either runs the command or exits 125 naming FILE:LINE:COL (a one-line
`newns: ...` for a problem with the file as a whole); never a traceback, an
"internal error" or a hang. Most examples run in-process against the parser
and the interpreter, which touch nothing; fewer run the installed newns for real.

The budget is fixed and the examples are derandomized, so CI sees the same
cases every time. For a longer session (see docs/security.md):

    NEWNS_FUZZ_EXAMPLES=50000 NEWNS_FUZZ_RUNS=1000 ./tests/run tests/test_fuzz.py

and NEWNS_FUZZ_RANDOM=1 for examples never tried before (pytest's
--hypothesis-seed=N makes such a session repeatable).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import NEWNS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newns import nsfile
from newns.diagnostics import Diagnostic, NewnsError
from newns.linux.world import Host
from newns.loader import Loader
from newns.ops import Op
from newns.interp import Interpreter

EXAMPLES = int(os.environ.get("NEWNS_FUZZ_EXAMPLES", "500"))
"""In-process examples per fuzz test."""
RUNS = int(os.environ.get("NEWNS_FUZZ_RUNS", "20"))
"""Real runs (a --check and a run each) per caller."""
HANG = 60
"""Seconds after which a real run counts as a hang: a generous bound, not a timing threshold."""
HANG_IN_PROCESS = 30
"""The same for one in-process example (shrinking a hang repeats it: keep it shorter)."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("NEWNS_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=list(HealthCheck),
)
RUN_FUZZ = settings(FUZZ, max_examples=RUNS)


def decoded(data: bytes) -> str:
    """File bytes as newns reads them."""
    return data.decode("utf-8", "surrogateescape")


# -- what a namespace file is made of ---------------------------------------------------

COMMANDS = ["bind", "mount", "unmount", "cd", ".", "clear", "chdev", "import", "bnid", "'bind'", "$V", "#", "#!/usr/bin/env newns"]
FLAGS = ["-a", "-b", "-c", "-C", "-q", "-r", "-ac", "-bc", "-ab", "-aq", "-x", "--", "-", "-qc", "-cr"]
WORDS = [
    "$T/a", "$T/b", "$T/f", "$T/g", "$T/a/sub", "$T/missing", "$T/missing/deeper", "$T", "$T/", "$T/a/..", "$T/../..",
    "#tmpfs", "'#tmpfs'", "#proc", "#dev", "#mqueue", "#old", "#old$T/a", "#old/tmp", "#c", "#nosuchfs", "'#TMP'",
    "#", "# comment", "/srv/x", "srv", "$V", "${W}", "$T/$V", "$V$W", "$T/${W}x", "$UNSET", "${UNSET}", "''",
    "'a b'", "'it''s'", "'open", "size=64k", "size=lots", "mode=0755", "nosuchopt", "..", ".", "a", "-a",
    "inc.ns", "$T/inc.ns", "self.ns", "cyc1.ns", "missing.ns", "$T/a/", "$", "${", "${1x}", "$1", "x$", "\x00",
    "\udcff", "\udcc3\udca9", "é", "a\x00b", "\x0b", "\x0c", "\x1b[31m", "'\t'", "'\r'", "{}", "~", "*", "?", "\\",
]
SEPARATORS = [" ", "\t", "  ", " \t", "\r", " \r "]
LONG = st.integers(1, 5000).map(lambda n: "x" * n) | st.integers(1, 500).map(lambda n: "$T/a" + "/." * n)

token = st.sampled_from(WORDS) | st.text(max_size=12) | LONG
line = st.builds(
    lambda indent, command, flags, words, seps: indent
    + command
    + "".join(sep + word for sep, word in zip(seps, flags + words)),
    st.sampled_from(["", " ", "\t", "\r"]),
    st.sampled_from(COMMANDS) | st.text(max_size=8),
    st.lists(st.sampled_from(FLAGS), max_size=2),
    st.lists(token, max_size=5),
    st.lists(st.sampled_from(SEPARATORS), min_size=7, max_size=7),
)
structured_file = st.builds(
    lambda lines, ending, last: ending.join(lines) + (ending if last else ""),
    st.lists(line, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),  # a last line without a newline is read too
)


DIRS = ["$T/a", "$T/b", "$T/a/sub", "$T/b/new", "$T/$V", "$T/${W}", "$V", "$V$W", "${W}/x", "$T/missing", "$T", "#old$T/a"]
FILES = ["$T/f", "$T/g", "$T/a/sub/x"]
plausible_line = st.one_of(
    st.tuples(
        st.just("bind"),
        st.sampled_from(["", "-a", "-b", "-c", "-ac", "-bc", "-r", "-q", "-br", "-Cq", "-acr"]),
        st.sampled_from(DIRS + FILES),
        st.sampled_from(DIRS + FILES),
    ),
    st.tuples(
        st.just("mount"),
        st.sampled_from(["", "-a", "-b", "-c", "-ac", "-bc", "-r", "-q"]),
        st.sampled_from(["#tmpfs", "'#tmpfs'", "#mqueue", "#dev", "#proc", "#nosuchfs"]),
        st.sampled_from(DIRS),
        st.sampled_from(["", "", "size=64k", "mode=0700", "size=1m,mode=755", "nosuchopt"]),
    ),
    st.tuples(st.just("unmount"), st.sampled_from(["", "-q"]), st.sampled_from(DIRS + [""]), st.sampled_from(DIRS)),
    st.tuples(st.just("cd"), st.sampled_from(DIRS)),
    st.tuples(st.just("."), st.sampled_from(["inc.ns", "-q missing.ns", "self.ns", "cyc1.ns"])),
    st.just(("clear",)),
).map(lambda words: " ".join(w for w in words if w))
plausible_file = st.lists(plausible_line, max_size=10).map(lambda lines: "".join(f"{line}\n" for line in lines))
"""Lines of the right shape: most plan, and many run, so the later stages are reached too."""

raw_file = st.binary(max_size=400).map(decoded)
"""Any byte string at all: NULs, invalid UTF-8, CRs, quotes, $, #."""

value = (
    st.sampled_from(["-a", "'x y'", "$OTHER", "a b", "#c", "", "/", "..", "#old", "#tmpfs", "a\nb", "x\x00y", "../../..",
                     "${T}", "-", "--", "\udcff", "a", "sub", "inc.ns", " ", "*", "\r"])
    | st.text(max_size=30)
    | st.binary(max_size=20).map(decoded)
)
"""An environment value; in-process it may hold anything, even a NUL."""

env_values = st.fixed_dictionaries({"V": value, "W": value, "OTHER": value})


# -- in-process -------------------------------------------------------------------------


@contextmanager
def no_hang(seconds: int = HANG_IN_PROCESS):
    """Fail, rather than wait for ever, when one example takes longer than seconds."""

    def expire(_sig, _frame):
        raise TimeoutError(f"no answer in {seconds}s: a hang")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Files the fuzzed namespace files name: directories, files, includes and include cycles."""
    base = tmp_path_factory.mktemp("world")
    for name in ("a/sub", "b"):
        (base / name).mkdir(parents=True)
    for name in ("f", "g", "a/sub/x"):
        (base / name).write_text("x")
    (base / "inc.ns").write_text("bind $T/a $T/b\nmount -c #tmpfs $T/a/sub\n")
    (base / "self.ns").write_text("bind $T/a $T/b\n. self.ns\n")
    (base / "cyc1.ns").write_text(". cyc2.ns\n")
    (base / "cyc2.ns").write_text(". -q missing.ns\n. cyc1.ns\n")
    return base


def check_problem(problem: Diagnostic, lines_of: dict[str, list[str]]) -> None:
    """A problem names a position that exists in the file it names, and prints without failing."""
    assert isinstance(problem, Diagnostic)
    assert isinstance(problem.message, str) and problem.message
    where = problem.where
    if where is not None:
        assert where.line >= 1 and where.col >= 1, where
        if where.file in lines_of:
            lines = lines_of[where.file]
            assert where.line <= len(lines), where
            assert where.col <= len(lines[where.line - 1]) + 1, where
            assert where.text == lines[where.line - 1]
    text = problem.shown()
    assert text.startswith(f"newns: {where}: " if where else "newns: ")
    assert "Traceback" not in text


def parse_ok(text: str) -> None:
    with no_hang():
        ops, problems = nsfile.parse(text, "f.ns")
    lines = {"f.ns": text.split("\n")}
    for problem in problems:
        check_problem(problem, lines)
    for op in ops:
        assert isinstance(op, Op)
        assert 1 <= op.where.line <= len(lines["f.ns"])


def plan_ok(world: Path, text: str, env: dict[str, str]) -> None:
    """The interpreter takes any file and any values: a plan, or problems at real positions."""
    path = world / "fuzz.ns"
    data = text.encode("utf-8", "surrogateescape")
    path.write_bytes(data)
    text = decoded(data)  # escaped bytes that form valid UTF-8 are read back as characters
    env = {"T": str(world), "user": "u", "home": "/home/u", **env}
    lines = {str(path): text.split("\n")}
    loader = Loader(Host(), env, str(world))
    try:
        with no_hang():
            ops = loader.load(str(path))
            plan = Interpreter(env, str(world), Host(), loader=loader).plan(ops)
    except NewnsError as failed:
        assert failed.diagnostics
        for problem in failed.diagnostics:
            check_problem(problem, lines)
        str(failed)
    else:
        for warning in plan.warnings:
            check_problem(warning, lines)
        for action in plan.actions:
            assert action.text is None or isinstance(action.text, str)
    for problem in loader.problems:
        check_problem(problem, lines)


@FUZZ
@given(raw_file)
def test_any_bytes_parse_to_operations_or_positioned_problems(text):
    parse_ok(text)


@FUZZ
@given(structured_file)
def test_near_miss_files_parse_to_operations_or_positioned_problems(text):
    parse_ok(text)


@FUZZ
@given(raw_file, env_values)
def test_any_bytes_plan_or_fail_with_newns_errors(world, text, env):
    plan_ok(world, text, env)


@FUZZ
@given(structured_file, env_values)
def test_near_miss_files_and_any_values_plan_or_fail_with_newns_errors(world, text, env):
    plan_ok(world, text, env)


@FUZZ
@given(plausible_file, env_values)
def test_plausible_files_and_any_values_plan_or_fail_with_newns_errors(world, text, env):
    plan_ok(world, text, env)


# -- for real -----------------------------------------------------------------------------

HEADER = re.compile(rb"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")


def no_crash(result) -> None:
    for stream in (result.stdout, result.stderr):
        assert b"Traceback" not in stream, stream
        assert b"internal error" not in stream, stream


def problems_of_check(result) -> set[bytes]:
    """--check: every line is FILE:LINE:COL: message; the problems (not warnings) as a set."""
    assert result.returncode in (0, 125), result
    if result.returncode == 125 and not result.stdout:
        # the file as a whole
        assert result.stderr.startswith(b"newns: ") and result.stderr.count(b"\n") == 1, result.stderr
        return {result.stderr.removeprefix(b"newns: ").rstrip(b"\n")}
    assert result.stderr == b"", result.stderr
    found = set()
    # stdout keeps a path's undecodable bytes; stderr shows them escaped: compare as stderr shows them
    shown = result.stdout.decode("utf-8", "surrogateescape").encode("utf-8", "backslashreplace")
    for out in shown.splitlines():
        match = HEADER.match(out)
        assert match, out
        if not match["message"].startswith(b"warning: "):
            found.add(out)
    assert bool(found) == (result.returncode == 125), result.stdout
    return found


def problems_of_run(result) -> set[bytes]:
    """A run's stderr: blocks of `newns: FILE:LINE:COL: message`, the line and a caret."""
    lines = result.stderr.split(b"\n")
    assert lines[-1] == b"", result.stderr
    headers = set()
    i = 0
    while i < len(lines) - 1:
        assert lines[i].startswith(b"newns: "), result.stderr
        header = lines[i].removeprefix(b"newns: ")
        headers.add(header)
        if HEADER.match(header) and i + 2 < len(lines) and lines[i + 2].rstrip(b" \t").endswith(b"^"):
            assert lines[i + 1].startswith(b"  ") and lines[i + 2].startswith(b"  "), result.stderr
            i += 3
        else:
            i += 1
    return headers


def run_both(tree, text: str, env: dict[str, str]):
    """--check the file, then run `echo RAN` in it; both as bytes."""
    path = tree.base / "fuzz.ns"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    tree.own()
    full_env = {"T": str(tree.base), **env}
    check = run_bytes(tree.caller, [NEWNS, "--check", "-f", str(path)], cwd=tree.base, env=full_env)
    run = run_bytes(tree.caller, [NEWNS, "-f", str(path), "echo", "RAN"], cwd=tree.base, env=full_env)
    return check, run


def run_bytes(caller, args, *, cwd, env):
    """As Caller.run, with stdout and stderr as bytes (messages may hold any byte)."""
    full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8", **env}
    switch = {} if caller.uid == os.geteuid() else {"user": caller.uid, "group": caller.gid, "extra_groups": []}
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, timeout=HANG, **switch)


def agree(check, run) -> None:
    """--check is exact: what it refuses, a run refuses before the command (stopping at the
    first of them the kernel refuses, where --check goes on); what it passes, a run builds."""
    no_crash(check)
    no_crash(run)
    refused = problems_of_check(check)
    if refused:
        assert run.returncode == 125, run
        assert run.stdout == b""
        found = problems_of_run(run)
        assert found and found <= refused, (found, refused)
        return
    assert run.returncode in (0, 127), run  # 127: no echo after clear
    if run.returncode == 0:
        assert (run.stdout, run.stderr) == (b"RAN\n", b"")


@pytest.fixture
def built(tree):
    """The tree with the files the fuzzed namespace files name; HOME is the tree (conftest)."""
    tree.make({"a/sub/x": "x", "b/": "", "f": "x", "g": "x"})
    tree.ns("bind $T/a $T/b\nmount -c #tmpfs $T/a/sub\n", "inc.ns")
    tree.ns("bind $T/a $T/b\n. self.ns\n", "self.ns")
    tree.ns(". cyc2.ns\n", "cyc1.ns")
    tree.ns(". -q missing.ns\n. cyc1.ns\n", "cyc2.ns")
    return tree


real_value = value.map(lambda v: v.replace("\x00", "").replace("\n", "").replace("\r", ""))
"""A value an environment can hold, on one line (so that every message stays on its line)."""


@RUN_FUZZ
@given(text=structured_file, env=st.fixed_dictionaries({"V": real_value, "W": real_value, "OTHER": real_value}))
def test_near_miss_files_for_real(built, text, env):
    agree(*run_both(built, text, env))


@RUN_FUZZ
@given(text=plausible_file, env=st.fixed_dictionaries({"V": real_value, "W": real_value, "OTHER": real_value}))
def test_plausible_files_for_real(built, text, env):
    agree(*run_both(built, text, env))


@settings(RUN_FUZZ, max_examples=max(RUNS // 2, 1))
@given(text=raw_file)
def test_any_bytes_for_real(built, text):
    agree(*run_both(built, text, {}))


# -- chosen cases ---------------------------------------------------------------------------


def refused(
    tree, text: str | bytes, *, line: int, message: str, name: str = "test.ns", at: str | None = None, env=None,
    checked: bool = True,
):
    """The file is refused at line (of the file at, by default itself), before the command runs,
    with no traceback; --check reports the same problems (unless not checked: a problem only
    the kernel finds)."""
    path = tree.base / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
    tree.own()
    full_env = {"T": str(tree.base), **(env or {})}
    run = run_bytes(tree.caller, [NEWNS, "-f", str(path), "touch", str(tree / "ran")], cwd=tree.base, env=full_env)
    check = run_bytes(tree.caller, [NEWNS, "--check", "-f", str(path)], cwd=tree.base, env=full_env)
    no_crash(run)
    no_crash(check)
    assert run.returncode == 125, run
    assert not (tree / "ran").exists()
    first = run.stderr.split(b"\n")[0]
    assert first.startswith(f"newns: {at or path}:{line}:".encode()), run.stderr[:500]
    assert message.encode() in first, first[:500]
    if checked:
        assert problems_of_run(run) == problems_of_check(check)
    else:
        no_crash(check)
        assert check.returncode in (0, 125)
    return run


def test_an_include_cycle_is_refused(tree):
    tree.ns("\n. a.ns\n", "b.ns")
    run = refused(tree, ". b.ns\n", line=2, message="include cycle", name="a.ns", at=str(tree / "b.ns"))
    assert f"include cycle: {tree / 'a.ns'} -> {tree / 'b.ns'} -> {tree / 'a.ns'}\n".encode() in run.stderr


def test_a_file_including_itself_is_refused(tree):
    refused(tree, "bind $T $T\n. self.ns\n", line=2, message="include cycle", name="self.ns")


def test_a_directory_as_include_is_refused(tree):
    tree.make({"d/": ""})
    refused(tree, ". d\n", line=1, message="Is a directory")


def test_nul_bytes_are_refused_where_they_are(tree):
    tree.make({"a/": "", "t/": ""})
    refused(tree, b"bind $T/a\0 $T/t\n", line=1, message="NUL")
    refused(tree, b"# fine\n\0bind $T/a $T/t\n", line=2, message="unknown command")
    refused(tree, b"bind $T/a $T/t\n\0", line=2, message="unknown command")


def test_invalid_utf8_is_refused_where_it_is(tree):
    tree.make({"t/": ""})
    refused(tree, b"bind $T/\xff\xfe $T/t\n", line=1, message="no such file or directory")
    refused(tree, b"b\xffind $T $T\n", line=1, message="unknown command")
    refused(tree, b"bind -\xff $T $T\n", line=1, message="unknown flag")


def test_a_directory_with_an_invalid_utf8_name_is_bound(tree):
    tree.make({"t/": ""})
    name = os.fsencode(str(tree.base)) + b"/\xff\xfe"
    os.mkdir(name)
    open(name + b"/inside", "w").close()
    tree.own()
    path = tree.base / "test.ns"
    path.write_bytes(b"bind $T/\xff\xfe $T/t\n")
    result = tree.caller.run([NEWNS, "-f", str(path), "ls", str(tree / "t")], cwd=tree.base, env={"T": str(tree.base)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "inside\n"


def test_invalid_utf8_in_a_message_under_a_strict_utf8_locale(tree):
    """With a UTF-8 locale other than C.UTF-8 (en_US.UTF-8, say), Python's stdout is strict
    about encoding: PYTHONIOENCODING=utf-8 stands for it here, where no such locale is installed.
    Run mode prints to stderr, which is always lenient; --check prints to stdout."""
    tree.make({"t/": ""})
    path = tree.base / "test.ns"
    path.write_bytes(b"bind $T/\xff $T/t\n")
    tree.own()
    env = {"T": str(tree.base), "PYTHONIOENCODING": "utf-8"}
    run = run_bytes(tree.caller, [NEWNS, "-f", str(path), "true"], cwd=tree.base, env=env)
    no_crash(run)
    assert run.returncode == 125
    check = run_bytes(tree.caller, [NEWNS, "--check", "-f", str(path)], cwd=tree.base, env=env)
    no_crash(check)
    assert check.returncode == 125
    assert check.stdout.startswith(f"{path}:1:6: bind: ".encode())


def test_carriage_returns_separate_words_and_end_lines(tree):
    tree.make({"a/in-a": "", "t/": ""})
    path = tree.ns("bind\r$T/a\r$T/t\r\n\r\n# comment\r\n")
    result = tree.newns("-f", str(path), "ls", str(tree / "t"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "in-a\n"


def test_a_20000_token_line_is_refused_at_its_first_extra_word(tree):
    words = " ".join(["$T"] * 20000)
    run = refused(tree, f"bind {words}\n", line=1, message="too many arguments")
    assert run.stderr.split(b"\n")[0].startswith(f"newns: {tree / 'test.ns'}:1:12: ".encode())


def test_long_words_quotes_and_variables_on_one_line(tree):
    refused(tree, "bind " + "'" * 20001 + "\n", line=1, message="unterminated quote")
    # a name of 20000 quotes: too long for the kernel, which --check does not ask
    refused(tree, "bind " + "''" * 20000 + " $T\n", line=1, message="File name too long", checked=False)
    refused(tree, "bind " + "$NOPE" * 20000 + " $T\n", line=1, message="$NOPE is not set")
    refused(tree, "bind $T/" + "x" * 100000 + " $T\n", line=1, message="File name too long", checked=False)


def test_100000_lines_with_a_problem_each_stop_at_the_hundredth(user_tree):
    """A file that is not a namespace file: newns reports its first problems, and reads no further."""
    tree = user_tree
    run = refused(tree, "bnid /a /b\n" * 100000, line=1, message="unknown command")
    assert run.stderr.count(b"newns: ") == 101
    assert f"newns: {tree / 'test.ns'}:100:1: 100 problems: newns reads no further".encode() in run.stderr


def test_100000_lines_run(user_tree):
    """100000 lines of comments around a bind run, and so do 100000 binds."""
    tree = user_tree
    tree.make({"a/in-a": "", "t/": ""})
    path = tree.ns("# comment\n\n" * 50000 + "bind $T/a $T/t\n")
    result = tree.newns("-f", str(path), "ls", str(tree / "t"), timeout=HANG)
    assert (result.returncode, result.stdout, result.stderr) == (0, "in-a\n", "")
    path = tree.ns("bind $T/a $T/t\n" * 100000)
    result = tree.newns("-f", str(path), "ls", str(tree / "t"), timeout=HANG)
    assert (result.returncode, result.stdout, result.stderr) == (0, "in-a\n", "")


# -- found by fuzzing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    ["bind $T/a $T/t\nunmount $T/t\n", "mount '#tmpfs' $T/t\nunmount $T/t\n", "bind $T/a $T/t\nunmount $T/a $T/t\n"],
    ids=["bind-unmount-old", "mount-unmount-old", "bind-unmount-new-old"],
)
def test_unmount_after_a_single_bind_or_mount(tree, lines):
    tree.make({"a/in-a": "", "t/in-t": ""})
    ns = tree.ns(lines)
    result = tree.newns("-f", str(ns), "ls", str(tree / "t"))
    assert "internal error" not in result.stderr
    assert (result.returncode, result.stdout, result.stderr) == (0, "in-t\n", "")


@pytest.mark.parametrize("last", ["mount '#tmpfs' $T", "bind $T $T"], ids=["mount", "bind"])
def test_covering_a_union_that_has_a_mount_inside(tree, last):
    tree.make({"a/sub/": "", "b/in-b": ""})
    ns = tree.ns(f"bind $T/b $T/a/sub\nbind -a $T/b $T/a\n{last}\n")
    result = tree.newns("-f", str(ns), "ls", "-A", str(tree.base))
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    if result.returncode == 125:
        assert result.stderr.startswith(f"newns: {ns}:3:"), result.stderr
    else:
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("flag", ["-a", "-b"])
def test_unmount_of_a_mount_a_later_union_covers(tree, flag):
    tree.make({"a/sub/in-sub": "", "b/in-b": ""})
    ns = tree.ns(f"bind $T/b $T/a/sub\nbind {flag} $T/b $T/a\nunmount $T/a/sub\n")
    result = tree.newns("-f", str(ns), "ls", str(tree / "a"))
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    if result.returncode == 125:
        assert result.stderr.startswith(f"newns: {ns}:3:"), result.stderr
    else:
        assert result.returncode == 0, result.stderr
