"""Plan 9 unions, creation and kernel filesystems, run for real as root and rootless.

A union's lookup order is read with probe files (see `probes`); every test
that writes inside a namespace checks the real directories afterwards.
"""
import os

import pytest
from helpers import snapshot


def inside(tree, ns_text, script, *options):
    """Run a sh script in the namespace that ns_text describes ($T is the tree)."""
    ns = tree.ns(ns_text)
    return tree.newns(*options, "-f", str(ns), "sh", "-c", script)


def probes(tree, order):
    """Files that tell which member a lookup finds first: probeI is in order[I:] and holds
    its directory's name, so reading probe0, probe1, ... in the union yields the union's
    order exactly when it is `order`."""
    tree.make({f"{d}/probe{i}": d + "\n" for i in range(len(order)) for d in order[i:]})


def lookup_order(tree, ns_text, target, n):
    files = " ".join(f'"$T/{target}/probe{i}"' for i in range(n))
    result = inside(tree, ns_text, f"cat {files}")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def listing(tree, ns_text, target):
    result = inside(tree, ns_text, f'ls -A "$T/{target}"')
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


# -- order -----------------------------------------------------------------------


@pytest.mark.parametrize("flag, winner", [("-a", "d"), ("-b", "x")])
def test_a_union_shows_both_members_and_the_first_copy_wins(tree, flag, winner):
    tree.make({"d/only-d": "", "d/both": "d", "x/only-x": "", "x/both": "x"})
    ns_text = f"bind {flag} $T/x $T/d\n"
    assert set(listing(tree, ns_text, "d")) == {"both", "only-d", "only-x"}
    assert inside(tree, ns_text, 'cat "$T/d/both"').stdout == winner
    assert snapshot(tree / "d") == {"only-d": b"", "both": b"d"}


@pytest.mark.parametrize(
    "lines, order",
    [
        (["bind -a $T/x1 $T/d"], ["d", "x1"]),
        (["bind -b $T/x1 $T/d"], ["x1", "d"]),
        (["bind -a $T/x1 $T/d", "bind -a $T/x2 $T/d"], ["d", "x1", "x2"]),
        (["bind -b $T/x1 $T/d", "bind -b $T/x2 $T/d"], ["x2", "x1", "d"]),
        (["bind -b $T/x1 $T/d", "bind -a $T/x2 $T/d", "bind -b $T/x3 $T/d"], ["x3", "x1", "d", "x2"]),
    ],
    ids=["a", "b", "a-a", "b-b", "b-a-b"],
)
def test_lookup_follows_the_order_of_the_binds(tree, lines, order):
    probes(tree, order)
    assert lookup_order(tree, "\n".join(lines) + "\n", "d", len(order)) == order


def test_members_are_taken_when_their_line_runs(tree):
    tree.make({"t/from-t": "", "a/from-a": "", "b/from-b": ""})
    ns_text = "bind -a $T/a $T/t\nbind $T/b $T/a\n"
    assert set(listing(tree, ns_text, "t")) == {"from-t", "from-a"}
    assert listing(tree, ns_text, "a") == ["from-b"]


def test_binding_a_union_elsewhere_gives_the_same_union_there(tree):
    probes(tree, ["t", "x"])
    tree.make({"t/only-t": "", "x/only-x": "", "u/only-u": ""})
    ns_text = "bind -a $T/x $T/t\nbind $T/t $T/u\n"
    assert lookup_order(tree, ns_text, "u", 2) == ["t", "x"]
    assert set(listing(tree, ns_text, "u")) == {"probe0", "probe1", "only-t", "only-x"}
    assert set(listing(tree, ns_text, "t")) == {"probe0", "probe1", "only-t", "only-x"}


# -- unmount ---------------------------------------------------------------------


@pytest.mark.parametrize("gone, left", [("x", {"only-t", "only-y"}), ("y", {"only-t", "only-x"})])
def test_unmount_new_old_removes_one_member(tree, gone, left):
    tree.make({"t/only-t": "", "x/only-x": "", "y/only-y": ""})
    ns_text = f"bind -a $T/x $T/t\nbind -a $T/y $T/t\nunmount $T/{gone} $T/t\n"
    assert set(listing(tree, ns_text, "t")) == left


def test_unmount_new_old_after_a_line_looked_inside_the_union(tree):
    tree.make({"t/only-t": "", "x/only-x": "", "x/sub/in-sub": "", "y/only-y": "", "v/": ""})
    ns_text = "bind -a $T/x $T/t\nbind -a $T/y $T/t\nbind $T/t/sub $T/v\nunmount $T/x $T/t\n"
    assert set(listing(tree, ns_text, "t")) == {"only-t", "only-y"}
    assert listing(tree, ns_text, "v") == ["in-sub"]


def test_unmount_old_removes_every_member(tree):
    tree.make({"t/only-t": "", "x/only-x": "", "y/only-y": ""})
    ns_text = "bind -a $T/x $T/t\nbind -b $T/y $T/t\nmount -bc '#tmpfs' $T/t\nunmount $T/t\n"
    assert listing(tree, ns_text, "t") == ["only-t"]


# -- creation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "ns_text, names",
    [
        ("mount -bc '#tmpfs' $T/d\n", {"only-d", "new", "newdir"}),
        ("bind -a $T/x $T/d\nmount -bc '#tmpfs' $T/d\n", {"only-d", "only-x", "new", "newdir"}),
    ],
    ids=["tmpfs-over-dir", "tmpfs-over-union"],
)
def test_creation_goes_to_the_c_member(tree, ns_text, names):
    tree.make({"d/only-d": "D", "x/only-x": "X"})
    before = snapshot(tree / "d"), snapshot(tree / "x")
    result = inside(tree, ns_text, 'echo new > "$T/d/new" && mkdir "$T/d/newdir" && cat "$T/d/new" && ls -A "$T/d"')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "new"
    assert set(lines[1:]) == names
    assert (snapshot(tree / "d"), snapshot(tree / "x")) == before


def test_a_union_without_a_c_member_refuses_creation(tree):
    tree.make({"d/only-d": "D", "x/only-x": "X"})
    before = snapshot(tree / "d"), snapshot(tree / "x")
    for script in ['cat "$T/d/only-x" && echo new > "$T/d/new"', 'cat "$T/d/only-x" && mkdir "$T/d/newdir"']:
        result = inside(tree, "bind -a $T/x $T/d\n", script)
        assert result.stdout == "X"
        assert result.returncode not in (0, 125)
        assert "Read-only file system" in result.stderr or "Permission denied" in result.stderr, result.stderr
    assert (snapshot(tree / "d"), snapshot(tree / "x")) == before


def test_creation_goes_to_a_c_member_that_is_a_real_directory(tree):
    tree.make({"t/only-t": "T", "x/only-x": "X", "w/only-w": "W"})
    before = snapshot(tree / "t"), snapshot(tree / "x")
    script = 'echo new > "$T/t/new" && mkdir "$T/t/newdir" && ls -A "$T/t"'
    result = inside(tree, "bind -a $T/x $T/t\nbind -bc $T/w $T/t\n", script)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"only-t", "only-x", "only-w", "new", "newdir"}
    assert snapshot(tree / "w") == {"only-w": b"W", "new": b"new\n", "newdir": None}
    assert (snapshot(tree / "t"), snapshot(tree / "x")) == before
    cache = tree / ".cache/newns"
    assert not cache.exists() or os.listdir(cache) in ([], ["parsed"]), "overlayfs's work directory is left behind"


def test_d_warns_when_the_c_member_is_not_first(tree):
    tree.make({"t/": "", "x/": ""})
    result = inside(tree, "bind -a $T/x $T/t\nmount -ac '#tmpfs' $T/t\n", "true", "-d")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(warning) == 1, result.stderr
    assert f"{tree / 't'}: #tmpfs takes creations (-c) but is not first" in result.stderr
    result = inside(tree, "bind -a $T/x $T/t\nmount -bc '#tmpfs' $T/t\n", "true", "-d")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


# -- many layers -----------------------------------------------------------------


def test_500_members_in_one_union(tree):
    n = 499  # with t itself, 500 members: the most overlayfs takes
    tree.make({"t/own": "t"})
    tree.make({f"l{i:03}/{name}": f"l{i:03}" for i in range(n) for name in (f"f{i:03}", "shared")})
    ns_text = "".join(f"bind -a $T/l{i:03} $T/t\n" for i in range(n))
    result = inside(tree, ns_text, 'ls "$T/t" && cat "$T/t/shared"')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:-1] == [f"f{i:03}" for i in range(n)] + ["own", "shared"]
    assert lines[-1] == "l000"


def test_more_than_500_members_is_an_error_naming_the_line(tree):
    tree.make({"t/": "", **{f"l{i:03}/f": "" for i in range(500)}})
    ns = tree.ns("".join(f"bind -a $T/l{i:03} $T/t\n" for i in range(500)))
    result = tree.newns("-f", str(ns), "touch", str(tree / "ran"))
    assert result.returncode == 125
    assert f"newns: {ns}:500:1: " in result.stderr
    assert "501 members" in result.stderr and "at most 500" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tree / "ran").exists()


# -- kernel filesystems ----------------------------------------------------------


def test_a_tmpfs_scratch_directory_is_private_empty_and_writable(tree):
    tree.make({"scratch/real": "R"})
    script = 'ls -A "$T/scratch"; echo first; echo new > "$T/scratch/new" && cat "$T/scratch/new"'
    result = inside(tree, "mount -c '#tmpfs' $T/scratch\n", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "first\nnew\n"
    assert snapshot(tree / "scratch") == {"real": b"R"}


def test_tmpfs_honours_the_size_option(tree):
    tree.make({"x/": ""})
    script = 'head -c 512K /dev/zero > "$T/x/small" || exit 3; head -c 2M /dev/zero > "$T/x/big"'
    result = inside(tree, "mount '#tmpfs' $T/x 'size=1m'\n", script)
    assert result.returncode == 1
    assert "No space left on device" in result.stderr
    assert snapshot(tree / "x") == {}


@pytest.mark.parametrize(
    "spec, message", [("nosuchopt=1", "Unknown parameter 'nosuchopt'"), ("size=lots", "Bad value for 'size'")]
)
def test_a_bad_mount_option_is_an_error_from_the_kernel(tree, spec, message):
    tree.make({"x/": ""})
    ns = tree.ns(f"mount '#tmpfs' $T/x '{spec}'\n")
    result = tree.newns("-f", str(ns), "touch", str(tree / "ran"))
    assert result.returncode == 125
    assert f"newns: {ns}:1:" in result.stderr
    assert message in result.stderr
    assert not (tree / "ran").exists()


def test_copy_on_write_over_a_real_directory(tree):
    tree.make({
        "checkout/README": "hello\n",
        "checkout/src/main.c": "int main;\n",
        "checkout/src/old.c": "old\n",
        "checkout/docs/": "",
    })
    before = snapshot(tree / "checkout")
    script = """cd "$T/checkout" &&
        cat README &&
        echo more >> README && echo changed > src/main.c && echo new > src/new.c &&
        rm src/old.c && rmdir docs && mkdir build && echo obj > build/out.o &&
        echo --- && cat README src/main.c && find . | sort"""
    result = inside(tree, "mount -bc '#tmpfs' $T/checkout\n", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == [
        "hello", "---", "hello", "more", "changed",
        ".", "./README", "./build", "./build/out.o", "./src", "./src/main.c", "./src/new.c", "",
    ]
    assert snapshot(tree / "checkout") == before


# -- read-only -------------------------------------------------------------------


def test_r_makes_a_tree_read_only_inside_only(tree):
    tree.make({"src/f": "F"})
    result = inside(tree, "bind -r $T/src $T/src\n", 'cat "$T/src/f" && echo new > "$T/src/new"')
    assert result.returncode != 0
    assert result.stdout == "F"
    assert "Read-only file system" in result.stderr
    assert snapshot(tree / "src") == {"f": b"F"}
    outside = tree.caller.run(["sh", "-c", 'echo new > "$T/src/new"'], cwd=tree.base, env={"T": str(tree.base)})
    assert outside.returncode == 0, outside.stderr
    assert (tree / "src/new").read_text() == "new\n"


def test_r_reaches_a_submount(tree):
    tree.make({"src/f": "F", "src/sub/real": "R"})
    ns_text = "mount -c '#tmpfs' $T/src/sub\nbind -r $T/src $T/src\n"
    result = inside(tree, ns_text, 'ls -A "$T/src/sub"; echo listed; echo new > "$T/src/sub/new"')
    assert result.stdout == "listed\n"
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr
    assert snapshot(tree / "src") == {"f": b"F", "sub": None, "sub/real": b"R"}


# -- flags and sources -----------------------------------------------------------


def test_C_is_accepted_and_changes_nothing(tree):
    tree.make({"a/from-a": "", "t/from-t": "", "u/from-u": "", "v/from-v": ""})
    ns_text = "bind -C $T/a $T/t\nbind -aC $T/a $T/u\nmount -cC '#tmpfs' $T/v\n"
    script = 'ls -A "$T/t"; echo; ls -A "$T/u"; echo; echo new > "$T/v/new" && ls -A "$T/v"'
    result = inside(tree, ns_text, script)
    assert result.returncode == 0, result.stderr
    assert [set(part.split()) for part in result.stdout.split("\n\n")] == [{"from-a"}, {"from-a", "from-u"}, {"new"}]


@pytest.mark.parametrize(
    "line, where, says",
    [
        ("mount /srv/foo $T/x", "1:7", ["mount: /srv/foo: ", "'#tmpfs'", "bind"]),
        ("mount '#nosuchfs' $T/x", "1:1", ["#nosuchfs", "no filesystem type 'nosuchfs'"]),
    ],
    ids=["file-server", "unknown-type"],
)
def test_a_source_newns_cannot_mount_is_a_clear_error(tree, line, where, says):
    tree.make({"x/": ""})
    ns = tree.ns(line + "\n")
    result = tree.newns("-f", str(ns), "touch", str(tree / "ran"))
    assert result.returncode == 125
    assert f"newns: {ns}:{where}: " in result.stderr
    assert all(words in result.stderr for words in says), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tree / "ran").exists()


def test_a_union_is_never_made_on_a_mount_point_newns_would_make_up(tree):
    tree.make({"x/f": ""})
    union = tree.ns("mount -c '#tmpfs' $T/x\nmount -bc '#tmpfs' $T/x/sub\n")
    result = tree.newns("-f", str(union), "true")
    assert result.returncode == 125
    assert f"{union}:2:20: mount: {tree / 'x/sub'}: no such directory (in what line 1 put on {tree / 'x'})" in result.stderr
    replace = tree.ns("mount -c '#tmpfs' $T/x\nmount -c '#tmpfs' $T/x/sub\n", "replace.ns")
    result = tree.newns("-f", str(replace), "ls", str(tree / "x"))
    assert (result.returncode, result.stdout) == (0, "sub\n"), result.stderr
    assert (tree / "x/f").exists() and not (tree / "x/sub").exists()
