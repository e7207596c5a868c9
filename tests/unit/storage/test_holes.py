"""Holes in a remote, against the in-memory remote: what a listing sees, what
only reading sees, and what a repair puts back."""

from __future__ import annotations

from pathlib import Path

from tether.artifact import Artifact, Kind
from tether.storage import holes, tree
from tether.storage.holes import Problem
from tether.storage.odb import ObjectDB
from tether.storage.remotes import MemoryRemote, RemoteSpec, object_key
from tether.storage.transfer import push

LOOSE = RemoteSpec("mem", "memory://", {"pack": False})
FILES = {f"part-{i}.csv": f"row {i}\n".encode() * (i + 1) for i in range(4)}


def _dir(odb: ObjectDB) -> tuple[Artifact, list[str]]:
    with odb.writer() as w:
        entries = [tree.Entry(path, w.put_bytes(data), len(data)) for path, data in FILES.items()]
        w.commit()
        t = tree.build(entries)
        digest = w.put_bytes(t.to_bytes())
    return Artifact("data", Kind.DIR, digest, t.size, len(entries)), [e.digest for e in entries]


def test_listings_see_what_is_gone_or_resized_and_reading_sees_the_rest(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(LOOSE)
    root, files = _dir(odb)
    push(odb, remote, [root], jobs=1)
    gone, cut, garbled = files[0], files[1], files[2]
    del remote.keys[object_key(gone)]
    remote.keys[object_key(cut)] = remote.keys[object_key(cut)][:-1]
    remote.keys[object_key(garbled)] = bytes(b ^ 1 for b in remote.keys[object_key(garbled)])
    wanted = holes.needs(odb, remote, [root], 1)

    fast = holes.check(odb, remote, wanted, 1, False, tmp_path / "scratch")
    deep = holes.check(odb, remote, wanted, 1, True, tmp_path / "scratch")

    assert {d: h.problem for d, h in fast.items()} == {
        gone: Problem.MISSING,
        cut: Problem.DAMAGED,
    }
    assert {d: h.problem for d, h in deep.items()} == {
        gone: Problem.MISSING,
        cut: Problem.DAMAGED,
        garbled: Problem.DAMAGED,
    }
    assert deep[garbled].name == "data/part-2.csv"
    assert not (tmp_path / "scratch").exists()  # the deep check keeps nothing

    stats = holes.repair(odb, remote, wanted, deep, 1)

    assert stats.failed == {}
    assert holes.check(odb, remote, wanted, 1, True, tmp_path / "scratch") == {}


def test_a_tree_in_neither_the_cache_nor_the_remote_is_a_hole_no_repair_fills(
    tmp_path: Path,
) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(LOOSE)
    root, _ = _dir(odb)
    push(odb, remote, [root], jobs=1)
    del remote.keys[object_key(root.digest)]
    odb.remove(root.digest)

    wanted = holes.needs(odb, remote, [root], 1)
    found = holes.check(odb, remote, wanted, 1, False, tmp_path / "scratch")

    assert list(found) == [root.digest]
    assert found[root.digest].tree
    stats = holes.repair(odb, remote, wanted, found, 1)
    assert "data" in stats.failed
