"""storage/links.py: cache objects placed in the workspace by each link type."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tether.errors import ConfigError, CorruptObjectError, MissingObjectError
from tether.storage.links import LINK_TYPES, Linker, validate_order, work_tree_order
from tether.storage.odb import ObjectDB
from tether.storage.state import StateDB


@pytest.fixture
def odb(tmp_path: Path) -> ObjectDB:
    return ObjectDB(tmp_path / "cache")


def linker(odb: ObjectDB, tmp_path: Path, order: list[str]) -> Linker:
    return Linker(odb, order, StateDB(tmp_path / "state.db"))


def put(odb: ObjectDB, data: bytes) -> str:
    with odb.writer() as w:
        return w.put_bytes(data)


@pytest.mark.parametrize("kind", ["copy", "hardlink", "symlink"])
def test_each_kind_places_the_bytes(odb: ObjectDB, tmp_path: Path, kind: str) -> None:
    d = put(odb, b"hello")
    dest = tmp_path / "ws" / "sub" / "f.txt"
    linker(odb, tmp_path, [kind]).link(d, dest, False, "f.txt")
    assert dest.read_bytes() == b"hello"
    assert [p.name for p in dest.parent.iterdir()] == ["f.txt"]  # no temporaries left
    if kind == "copy":  # a private, writable file
        assert os.stat(dest).st_ino != os.stat(odb.path(d)).st_ino
        assert os.stat(dest).st_mode & stat.S_IWUSR
    elif kind == "hardlink":  # shares the read-only cache file
        assert os.stat(dest).st_ino == os.stat(odb.path(d)).st_ino
    else:
        assert dest.is_symlink() and dest.resolve() == odb.path(d).resolve()


def test_copy_keeps_the_executable_bit(odb: ObjectDB, tmp_path: Path) -> None:
    d = put(odb, b"#!/bin/sh\n")
    dest = tmp_path / "run.sh"
    linker(odb, tmp_path, ["copy"]).link(d, dest, True, "run.sh")
    assert os.stat(dest).st_mode & stat.S_IXUSR


def test_a_target_is_replaced_whole(odb: ObjectDB, tmp_path: Path) -> None:
    d = put(odb, b"new")
    dest = tmp_path / "f.txt"
    dest.write_bytes(b"old content")
    linker(odb, tmp_path, ["reflink", "copy"]).link(d, dest, False, "f.txt")
    assert dest.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("f.txt")] == ["f.txt"]


def test_corrupt_and_missing_objects_never_reach_the_workspace(
    odb: ObjectDB, tmp_path: Path
) -> None:
    d = put(odb, b"good")
    path = odb.path(d)
    os.chmod(path, 0o644)
    path.write_bytes(b"evil")
    for kind in ("copy", "hardlink"):
        with pytest.raises(CorruptObjectError, match=re.escape("f.txt: cache object")):
            linker(odb, tmp_path, [kind]).link(d, tmp_path / "ws" / "f.txt", False, "f.txt")
    assert not (tmp_path / "ws" / "f.txt").exists()
    with pytest.raises(MissingObjectError, match=re.escape("g.txt: object")):
        linker(odb, tmp_path, ["copy"]).link("0" * 64, tmp_path / "ws" / "g.txt", False, "g.txt")
    assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == []


def test_validate_order() -> None:
    assert validate_order(["copy"]) == ["copy"]
    assert set(LINK_TYPES) == {"reflink", "copy", "hardlink", "symlink"}
    with pytest.raises(ConfigError, match="unknown link type"):
        validate_order(["copy", "teleport"])
    with pytest.raises(ConfigError):
        validate_order([])


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_a_link_replaces_a_target_and_names_a_missing_object(
    odb: ObjectDB, tmp_path: Path, kind: str
) -> None:
    d = put(odb, b"new")
    dest = tmp_path / "ws" / "f.txt"
    dest.parent.mkdir()
    dest.write_bytes(b"old content")
    linker(odb, tmp_path, [kind]).link(d, dest, False, "f.txt")
    assert dest.read_bytes() == b"new"
    assert [p.name for p in dest.parent.iterdir()] == ["f.txt"]
    with pytest.raises(MissingObjectError, match=re.escape("g.txt: object")):
        linker(odb, tmp_path, [kind]).link("0" * 64, dest.parent / "g.txt", False, "g.txt")
    assert [p.name for p in dest.parent.iterdir()] == ["f.txt"]


def test_a_work_tree_links_where_a_checkout_would_copy() -> None:
    assert work_tree_order(["reflink", "copy"]) == ["reflink", "hardlink", "copy"]
    assert work_tree_order(["copy"]) == ["hardlink", "copy"]
    assert work_tree_order(["copy", "hardlink"]) == ["copy", "hardlink"]  # the user's order
    assert work_tree_order(["symlink"]) == ["symlink"]
