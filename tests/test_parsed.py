"""The cache of parsed files: a run of a file read before imports no lark, and a cache
that is damaged, another user's, or can't be written costs the speed, never the run."""
from __future__ import annotations

import os
import stat

import pytest
from helpers import ROOT, other_user
from hypothesis import given, settings
from hypothesis import strategies as st

from newns.nsfile import FORM, dump, load, parse

PIECES = st.sampled_from(
    list("ab/-#$'{}_ \t\r.1\x0b\0é\\") + ["bind", "mount", "unmount", "clear", "cd", ". ", "allow", "import", "hostname",
    "user", "setenv", "unsetenv", "$x", "${y}", "''", "'q r'", "$'", "\\x4f", "\\n", " -a", " -q", " --", " - ", "\udcff"]
)
files = st.lists(st.lists(PIECES, max_size=12).map("".join), max_size=8).map("\n".join)


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(files)
def test_an_entry_holds_the_operations_lark_made(text):
    ops, problems = parse(text, "f.ns")
    if not problems:
        assert load(dump(ops), "f.ns", text) == ops


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(st.text(max_size=200), files)
def test_anything_else_as_an_entry_is_read_as_no_entry_or_operations(junk, text):
    ops, _ = parse(text, "f.ns")
    entry = dump(ops)
    for damaged in (junk, entry[: len(entry) // 2], FORM + "\n" + junk, entry.replace("\t1", "\t9")):
        loaded = load(damaged, "f.ns", text)
        assert loaded is None or isinstance(loaded, list)


def test_an_entry_of_another_text_is_no_entry():
    ops, _ = parse("bind /a /b\ncd /c\n", "f.ns")
    assert load(dump(ops), "f.ns", "cd /a\nbind /b /c\n") is None
    assert load(dump(ops), "f.ns", "bind /a /b\n") is None


# -- real runs --------------------------------------------------------------------------------


def run(tree, ns, env=None):
    """A run of ns, and whether it imported lark."""
    result, imported = tree.newns_imports("-f", str(ns), "true", env=env)
    assert result.returncode == 0, result.stderr
    assert imported, "no import times: the test can't see what newns imports"
    return "lark" in imported


def entries(tree):
    cache = tree / ".cache/newns/parsed"
    return sorted(cache.iterdir()) if cache.exists() else []


def test_a_second_run_of_a_file_imports_no_lark_and_a_changed_file_is_read_again(tree):
    tree.make({"a/": "", "b/": ""})
    ns = tree.ns("bind $T/a $T/b\n")
    assert run(tree, ns)
    assert not run(tree, ns)
    ns.write_text("bind $T/b $T/a\n")
    assert run(tree, ns)
    assert not run(tree, ns)
    cache = tree / ".cache/newns/parsed"
    info = cache.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (tree.caller.uid, 0o700)
    assert [(e.stat().st_uid, stat.S_IMODE(e.stat().st_mode)) for e in entries(tree)] == [(tree.caller.uid, 0o600)] * 2


def test_includes_are_kept_too(tree):
    tree.make({"a/": "", "b/": ""})
    tree.ns("bind $T/a $T/b\n", "inc.ns")
    ns = tree.ns(". inc.ns\n")
    assert run(tree, ns)
    assert not run(tree, ns)
    assert len(entries(tree)) == 2


def test_a_damaged_entry_is_read_again_and_replaced(tree):
    tree.make({"a/": "", "b/": ""})
    ns = tree.ns("bind $T/a $T/b\n")
    run(tree, ns)
    (entry,) = entries(tree)
    good = entry.read_bytes()
    for damage in (b"", b"newns parsed 1\n1\t1\tbind\t\t6\x1fb/nowhere\n", good[:-5], b"\xff" * 100):
        entry.write_bytes(damage)
        assert run(tree, ns)
        assert entry.read_bytes() == good


@pytest.mark.skipif(not ROOT, reason="needs root to give an entry to another user")
def test_an_entry_someone_else_could_have_written_is_not_read(tree):
    tree.make({"a/": "", "b/": ""})
    ns = tree.ns("bind $T/a $T/b\n")
    run(tree, ns)
    (entry,) = entries(tree)
    stranger = other_user()
    os.chown(entry, stranger.uid, stranger.gid)
    assert run(tree, ns)
    assert entry.stat().st_uid == tree.caller.uid
    entry.chmod(0o666)
    assert run(tree, ns)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_a_cache_another_user_could_have_redirected_or_written_is_not_used(tree):
    """A symlink on the way is followed only where no one but the caller (or root) could have
    put it (as /home -> var/home); a directory others may write to is not used."""
    tree.make({"a/": "", "b/": "", "elsewhere/": "", ".cache/newns/": ""})
    ns = tree.ns("bind $T/a $T/b\n")
    os.symlink(tree / "elsewhere", tree / ".cache/newns/parsed")
    os.chmod(tree / ".cache/newns", 0o777)
    assert run(tree, ns) and run(tree, ns)
    assert os.listdir(tree / "elsewhere") == []
    os.chmod(tree / ".cache/newns", 0o700)
    assert run(tree, ns) and not run(tree, ns)  # the caller's own link: followed
    assert os.listdir(tree / "elsewhere") != []
    os.unlink(tree / ".cache/newns/parsed")
    (tree / ".cache/newns/parsed").mkdir(mode=0o777)
    os.chmod(tree / ".cache/newns/parsed", 0o777)
    tree.own()
    assert run(tree, ns) and run(tree, ns)
    assert os.listdir(tree / ".cache/newns/parsed") == []


@pytest.mark.parametrize("home", ["missing", "file", "readonly"])
def test_a_home_without_a_cache_costs_no_run(tree, home):
    tree.make({"a/": "", "b/": "", "file": "", "readonly/": ""})
    os.chmod(tree / "readonly", 0o500)
    ns = tree.ns("bind $T/a $T/b\n")
    place = str(tree / home)
    for env in ({"HOME": place}, {"HOME": place, "XDG_CACHE_HOME": place + "/cache"}):
        assert run(tree, ns, env)
        assert run(tree, ns, env) or (home == "readonly" and tree.caller.uid == 0)  # root may write there
    assert not (tree / "missing").exists()


@pytest.mark.skipif(not ROOT, reason="needs root to run with another user's HOME")
def test_root_with_another_users_home_makes_nothing_there(tree):
    if tree.caller.uid != 0:
        pytest.skip("root's case")
    stranger = other_user()
    tree.make({"a/": "", "b/": "", "theirs/": ""})
    os.chown(tree / "theirs", stranger.uid, stranger.gid)
    ns = tree.ns("bind $T/a $T/b\n")
    assert run(tree, ns, {"HOME": str(tree / "theirs")}) and run(tree, ns, {"HOME": str(tree / "theirs")})
    assert os.listdir(tree / "theirs") == []
    (tree / "theirs/.cache/newns/parsed").mkdir(parents=True, mode=0o700)
    for path in (".cache", ".cache/newns", ".cache/newns/parsed"):
        os.chown(tree / "theirs" / path, stranger.uid, stranger.gid)
    assert run(tree, ns, {"HOME": str(tree / "theirs")}) and run(tree, ns, {"HOME": str(tree / "theirs")})
    assert os.listdir(tree / "theirs/.cache/newns/parsed") == []
