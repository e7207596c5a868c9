"""workspace/checkout.py: the plan decides everything before the first change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tether.artifact import Kind
from tether.errors import MissingObjectError, WorkspaceError
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import tree
from tether.workspace import checkout


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    (tmp_path / ".tether").mkdir()
    (tmp_path / ".tether" / "config.yaml").write_text("schema: 1\ncache:\n  link: [copy]\n")
    return Repo(tmp_path)


def put(repo: Repo, data: bytes) -> str:
    with repo.odb.writer() as w:
        return w.put_bytes(data)


def folder(repo: Repo, files: dict[str, bytes]) -> Pointer:
    """A tracked folder ``data`` whose objects are all in the cache."""
    entries = [tree.Entry(rel, put(repo, b), len(b)) for rel, b in files.items()]
    t = tree.build(entries)
    assert put(repo, t.to_bytes()) == t.digest()
    size = sum(len(b) for b in files.values())
    return Pointer("data", Kind.DIR, t.digest(), size, len(files), source="data.tether")


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, b in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b)


def test_a_folder_plan_writes_only_what_differs(repo: Repo) -> None:
    p = folder(repo, {"same.txt": b"same", "changed.txt": b"v2", "sub/new.txt": b"new"})
    put(repo, b"v1")  # the old contents are safe in the cache, so they may go
    put(repo, b"")
    write(repo.root, {"data/same.txt": b"same", "data/changed.txt": b"v1", "data/gone.txt": b""})
    plan = checkout._plan(repo, p, force=False, relink=False)
    assert sorted(path for path, _ in plan.needed) == ["data/changed.txt", "data/sub/new.txt"]
    assert (repo.root / "data" / "gone.txt").exists()  # planning changed nothing
    res = checkout._run(plan, None)
    assert (res.added, res.modified, res.deleted, res.unchanged) == (1, 1, 1, 1)
    assert (repo.root / "data" / "changed.txt").read_bytes() == b"v2"
    assert sorted(p.name for p in (repo.root / "data").rglob("*")) == [
        "changed.txt",
        "new.txt",
        "same.txt",
        "sub",
    ]


def test_content_in_no_cache_is_not_overwritten_without_force(repo: Repo) -> None:
    p = folder(repo, {"a.txt": b"tracked"})
    write(repo.root, {"data/a.txt": b"local edit", "data/b.txt": b"local file"})
    with pytest.raises(WorkspaceError, match="has changes that are not in the cache"):
        checkout._plan(repo, p, force=False, relink=False)
    assert (repo.root / "data" / "a.txt").read_bytes() == b"local edit"
    res = checkout._run(checkout._plan(repo, p, force=True, relink=False), None)
    assert (res.modified, res.deleted) == (1, 1)
    assert (repo.root / "data" / "a.txt").read_bytes() == b"tracked"


def test_an_unchanged_file_needs_nothing(repo: Repo) -> None:
    d = put(repo, b"model")
    p = Pointer("model.bin", Kind.FILE, d, 5, source="model.bin.tether")
    (repo.root / "model.bin").write_bytes(b"model")
    plan = checkout._plan(repo, p, force=False, relink=False)
    assert plan.needed == [] and plan.res.unchanged == 1
    relinked = checkout._plan(repo, p, force=False, relink=True)
    assert relinked.needed == [("model.bin", d)]


def test_a_missing_object_stops_before_any_change(repo: Repo) -> None:
    p = Pointer("model.bin", Kind.FILE, "0" * 64, 5, source="model.bin.tether")
    with pytest.raises(
        MissingObjectError, match=re.escape("model.bin not in the cache; nothing was changed")
    ):
        checkout.checkout_pointer(repo, p, force=False)
    assert not (repo.root / "model.bin").exists()


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_a_folder_made_from_nothing_needs_no_scan_to_be_known(repo: Repo, link: str) -> None:
    """Its tree row is written from what each write left: the next command's
    quick walk finds the folder's digest without reading or hashing a file."""
    from tether.workspace import hashpath, scan

    (repo.root / ".tether" / "config.yaml").write_text(f"schema: 1\ncache:\n  link: [{link}]\n")
    repo = Repo(repo.root)
    p = folder(repo, {"a.txt": b"a", "sub/b.txt": b"b", "sub/c.txt": b"a"})
    checkout._run(checkout._plan(repo, p, force=False, relink=False), None)
    repo.state.flush()
    quick = scan.quick(repo.root / "data")
    assert quick is not None
    fresh = Repo(repo.root)
    if link == "copy":
        assert fresh.state.get_tree("data", quick.fingerprint) == p.digest
    # (two links to one object move its change time: then it is simply scanned)
    found = hashpath.hash_path(fresh, "data")
    assert found is not None and found.digest == p.digest
    write(repo.root, {"data/a.txt": b"changed"})
    changed = hashpath.hash_path(Repo(repo.root), "data")
    assert changed is not None and changed.digest != p.digest
