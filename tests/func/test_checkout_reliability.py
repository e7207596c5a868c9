"""Checkout, change detection and the state database under the ways real
workspaces go wrong: in-place rewrites, bit rot behind links, races between
the background writer and folder bookkeeping, long names, killed processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import git, write


def _rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    """Rewrite in place with the same size and restore the mtime (``touch -r``)."""
    st = path.stat()
    assert len(data) == st.st_size
    mode = st.st_mode & 0o777
    path.chmod(mode | 0o200)
    with open(path, "r+b") as f:
        f.write(data)
    path.chmod(mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )


@pytest.mark.parametrize("where", ["file", "folder"])
def test_in_place_rewrite_with_mtime_restored_is_noticed(repo, tether, where):
    target = repo / ("a.bin" if where == "file" else "d/sub/a.bin")
    write(target, b"A" * 64)
    if where == "folder":
        write(repo / "d/other.txt", "other")
    assert tether("add", "a.bin" if where == "file" else "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert tether("status", "--exit-code").code == 0  # the state database learns it
    _rewrite_keeping_mtime(target, b"B" * 64)
    r = tether("status", "--exit-code")
    assert r.code == 1 and "modified" in r.out
    r = tether("checkout")
    assert r.code == 1 and "not in the cache" in r.err
    assert target.read_bytes() == b"B" * 64  # the edit survives


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_bit_rot_in_a_linked_object_is_not_checked_out(repo, tether, kind):
    assert tether("config", "cache.link", kind).code == 0
    a = write(repo / "a.bin", b"good data " * 10)
    assert tether("add", "a.bin").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert tether("status", "--exit-code").code == 0
    obj = next(p for p in (repo / ".tether/cache/objects").glob("*/*"))
    _rewrite_keeping_mtime(obj, b"bad! data " + b"good data " * 9)
    r = tether("status", "--exit-code")
    assert r.code == 1 and "modified" in r.out
    a.unlink()
    r = tether("checkout")
    assert r.code == 1 and "corrupt" in r.err
    assert not a.exists() and not a.is_symlink()


def _fresh_checkout_rounds(repo, tether, layout: dict[str, bytes], rounds: int) -> None:
    for _ in range(rounds):
        for top in {rel.split("/")[0] for rel in layout}:
            shutil.rmtree(repo / top)
        r = tether("checkout")
        assert r.code == 0, r.err
        for rel, data in layout.items():
            assert (repo / rel).read_bytes() == data, rel


def test_folders_and_pruning_are_settled_with_background_writes(repo, tether, monkeypatch):
    """Every file goes to the background writer (the threshold is lowered), in
    folders holding only such files, nested, and beside small ones; sizes make
    some writes slow and some instant, so each round meets other orderings."""
    from tether.workspace import checkout

    layout: dict[str, bytes] = {}
    for i in range(4):
        layout[f"big{i}/only.bin"] = os.urandom((i + 1) << 18)
        layout[f"nest{i}/a/b/c/deep.bin"] = os.urandom(1 + i)
        layout[f"nest{i}/a/x.bin"] = os.urandom(3 << 18)
    for j in range(30):
        layout[f"mixed/s{j % 5}/f{j}.bin"] = os.urandom(1 + (j * 7919) % (1 << 17))
    for rel, data in layout.items():
        write(repo / rel, data)
    tops = sorted({rel.split("/")[0] for rel in layout})
    assert tether("add", *tops).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    monkeypatch.setattr(checkout, "BACKGROUND_MIN", 1 << 17)  # most files, not all
    _fresh_checkout_rounds(repo, tether, layout, 8)
    monkeypatch.setattr(checkout, "BACKGROUND_MIN", 0)  # every file
    _fresh_checkout_rounds(repo, tether, layout, 8)


def test_a_folder_of_only_large_files_checks_out(repo, tether):
    """The case seen in the field, at the real threshold: a folder holding one
    large file, restored into a workspace where it is missing."""
    from tether.workspace.checkout import BACKGROUND_MIN

    layout = {
        "big/one.bin": os.urandom(BACKGROUND_MIN),
        "big2/sub/two.bin": os.urandom(BACKGROUND_MIN),
        "small/a.txt": b"a",
    }
    for rel, data in layout.items():
        write(repo / rel, data)
    assert tether("add", "big", "big2", "small").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    _fresh_checkout_rounds(repo, tether, layout, 3)
