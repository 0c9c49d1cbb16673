"""The directory of overlayfs's work directories (linux/workdirs.py), used in place."""
from __future__ import annotations

import os

from newns.linux.workdirs import WorkArea


def test_a_run_leaves_no_cache_directory_it_made_and_nothing_made_by_others(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    cache = home / ".cache/newns"
    area = WorkArea(str(cache), os.geteuid())
    assert os.listdir(cache) == [area.name]
    area.remove()
    assert os.listdir(home) == []  # as on a far side of --cpu, whose account had no cache
    (cache / "parsed").mkdir(parents=True)
    WorkArea(str(cache), os.geteuid()).remove()
    assert os.listdir(cache) == ["parsed"]


def test_a_run_that_made_the_cache_directories_keeps_them_while_another_run_uses_them(tmp_path):
    cache = tmp_path / ".cache/newns"
    first = WorkArea(str(cache), os.geteuid())
    second = WorkArea(str(cache), os.geteuid())
    first.remove()
    assert os.listdir(cache) == [second.name]
    second.remove()
    assert os.listdir(cache) == []


def test_the_cache_directories_made_are_removed_where_they_are_not_where_their_path_leads_now(tmp_path):
    """Moved away while the run lived, with a symlink in their place leading elsewhere: the
    run removes its own directories where they went, and nothing the symlink leads to."""
    (tmp_path / "d").mkdir()
    area = WorkArea(str(tmp_path / "d/c/newns"), os.geteuid())
    (tmp_path / "victim/newns").mkdir(parents=True)
    (tmp_path / "d/c").rename(tmp_path / "moved")
    (tmp_path / "d/c").symlink_to(tmp_path / "victim")
    area.remove()
    assert (tmp_path / "victim/newns").is_dir()
    assert os.listdir(tmp_path / "moved") == []  # its newns removed; itself, no longer named c, kept

