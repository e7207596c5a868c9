"""Transfer planning against the in-memory remote: what a push sends, what a
fetch asks for, and how small objects travel in packs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.artifact import Artifact, Kind
from tether.storage import packs, tree
from tether.storage.hashing import hash_bytes as _digest
from tether.storage.odb import ObjectDB
from tether.storage.remotes import MemoryRemote, RemoteSpec, layout, object_key
from tether.storage.transfer import fetch, missing, push

LOOSE = RemoteSpec("mem", "memory://", {"pack": False})
PACKED = RemoteSpec("mem", "memory://", {})  # packing is on for every remote but a folder


def _file(odb: ObjectDB, name: str, data: bytes) -> Artifact:
    with odb.writer() as w:
        digest = w.put_bytes(data)
    return Artifact(name, Kind.FILE, digest, len(data))


def _dir(odb: ObjectDB, name: str, files: dict[str, bytes]) -> Artifact:
    with odb.writer() as w:
        entries = [tree.Entry(path, w.put_bytes(data), len(data)) for path, data in files.items()]
        w.commit()  # files before the tree that lists them
        t = tree.build(entries)
        digest = w.put_bytes(t.to_bytes())
    return Artifact(name, Kind.DIR, digest, t.size, len(entries))


def _entries(odb: ObjectDB, root: Artifact) -> list[str]:
    return [e.digest for e in tree.parse(odb.read(root.digest, root.path), root.path).entries]


def _made(remote: MemoryRemote, method: str) -> list[str]:
    return [arg for m, arg in remote.requests if m == method]


FILES = {f"part-{i}.csv": f"row {i}\n".encode() * (i + 1) for i in range(3)}


def test_a_push_sends_what_the_remote_lacks_and_each_tree_after_its_files(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    data = _dir(odb, "data", FILES)
    model = _file(odb, "model.bin", b"weights")
    remote = MemoryRemote(LOOSE)

    stats = push(odb, remote, [data, model], jobs=4)

    files = _entries(odb, data)
    assert remote.objects() == {data.digest, model.digest, *files}
    uploads = _made(remote, "upload")
    assert uploads[-1] == data.digest  # the tree only once all its files are there
    assert (stats.moved, stats.present, stats.failed) == (5, 0, {})

    remote.requests.clear()
    again = push(odb, remote, [data, model], jobs=4)
    assert _made(remote, "upload") == []
    assert (again.moved, again.present) == (0, 5)


def test_a_tree_whose_files_did_not_all_arrive_is_not_uploaded(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    data = _dir(odb, "data", FILES)
    lost = _entries(odb, data)[0]
    odb.remove(lost)
    remote = MemoryRemote(LOOSE)

    stats = push(odb, remote, [data], jobs=1)

    assert data.digest not in remote.objects()
    assert remote.objects() == set(_entries(odb, data)) - {lost}
    assert stats.failed["data"] == "some of its files failed; tree not uploaded"
    assert any(lost in reason for reason in stats.failed.values())


def test_missing_lists_a_shared_prefix_once_and_checks_a_lone_digest() -> None:
    remote = MemoryRemote(LOOSE)
    a1, a2, lone, in_pack = "ab" + "1" * 62, "ab" + "2" * 62, "cd" + "3" * 62, "ef" + "4" * 62
    remote.keys[object_key(a1)] = b"x"
    packed = {in_pack: packs.Location("0" * 64, 0, 1)}

    lacking = missing(remote, [a1, a2, lone, in_pack], 1, packed)

    assert lacking == {a2, lone}
    assert remote.requests == [("list_sizes", "objects/ab"), ("object_size", lone)]


def test_a_tree_on_the_remote_does_not_vouch_for_its_files(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(LOOSE)
    v1 = _dir(odb, "data", FILES)
    push(odb, remote, [v1], jobs=1)
    lost = _entries(odb, v1)[0]
    del remote.keys[object_key(lost)]
    v2 = _dir(odb, "data", {**FILES, "part-new.csv": b"a new row\n"})
    (new,) = set(_entries(odb, v2)) - set(_entries(odb, v1))
    remote.requests.clear()

    stats = push(odb, remote, [v2], jobs=1)

    assert _made(remote, "upload") == [*sorted([lost, new]), v2.digest]
    assert (stats.moved, stats.present) == (3, 2)
    asked = {m for m, _ in remote.requests} - {"upload"}
    assert asked <= {"list_sizes", "object_size", "read_key"}  # listings, never a download


def test_a_loose_object_of_the_wrong_size_is_replaced(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(LOOSE)
    data = _dir(odb, "data", FILES)
    push(odb, remote, [data], jobs=1)
    cut = _entries(odb, data)[1]
    remote.keys[object_key(cut)] = remote.keys[object_key(cut)][:-1]

    stats = push(odb, remote, [data], jobs=1)

    assert stats.moved == 1
    assert remote.keys[object_key(cut)] == odb.read(cut, "x")


def test_an_index_whose_pack_is_gone_or_cut_short_proves_nothing(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(PACKED)
    data = _dir(odb, "data", FILES)
    push(odb, remote, [data], jobs=1)
    (name,) = packs.names_in(remote.keys)
    remote.keys[packs.pack_key(name)] = remote.keys[packs.pack_key(name)][:-3]

    stats = push(odb, remote, [data], jobs=1)

    assert stats.moved == 3  # packed again: the same objects make the same pack
    clone = ObjectDB(tmp_path / "clone")
    assert fetch(clone, remote, [data], jobs=1).failed == {}
    del remote.keys[packs.pack_key(name)]
    assert push(odb, remote, [data], jobs=1).moved == 3


@pytest.mark.parametrize("before", [True, False])
def test_a_second_index_pointing_at_garbage_does_not_shadow_the_good_pack(
    tmp_path: Path, before: bool
) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(PACKED)
    data = _dir(odb, "data", FILES)
    push(odb, remote, [data], jobs=1)
    (good,) = packs.names_in(remote.keys)
    files = _entries(odb, data)
    # a valid index whose pack (of the right size) holds garbage, named before or after
    for n in range(1000):
        junk = [(f"{n:032x}", b"j"), *((d, b"?" * len(odb.read(d, "x"))) for d in files)]
        bad, pack, index = packs.build(junk)
        if (bad < good) == before:
            break
    remote.keys[packs.pack_key(bad)] = pack
    remote.keys[packs.index_key(bad)] = index
    clone = ObjectDB(tmp_path / "clone")

    stats = fetch(clone, remote, [data], jobs=1)

    assert stats.failed == {}
    assert all(clone.read(d, "x") == odb.read(d, "x") for d in files)


def test_small_objects_travel_in_packs_each_pack_before_its_index(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    big = b"x" * (packs.MAX_OBJECT + 1)
    data = _dir(odb, "data", {**FILES, "big.bin": big})
    remote = MemoryRemote(PACKED)

    stats = push(odb, remote, [data], jobs=4)

    small = set(_entries(odb, data)) - {_digest(big)}
    assert remote.objects() == {data.digest, _digest(big)}  # loose: the tree and the large file
    written = _made(remote, "write_key")
    (pack,) = packs.names_in(remote.keys)
    assert written == [layout.MARKER, packs.pack_key(pack), packs.index_key(pack)]  # marker first
    index = packs.parse_index(remote.keys[packs.index_key(pack)], pack)
    assert set(index) == small
    assert stats.moved == 5


def test_a_fetch_reads_only_the_pack_ranges_it_lacks(tmp_path: Path) -> None:
    pushed = ObjectDB(tmp_path / "pushed")
    data = _dir(pushed, "data", FILES)
    remote = MemoryRemote(PACKED)
    push(pushed, remote, [data], jobs=1)
    (pack,) = packs.names_in(remote.keys)
    odb = ObjectDB(tmp_path / "cache")
    remote.requests.clear()

    stats = fetch(odb, remote, [data], jobs=4)

    assert _made(remote, "download") == [data.digest]  # the tree is loose
    assert _made(remote, "read_ranges") == [packs.pack_key(pack)]  # one pack, read once
    assert all(odb.verify(d) for d in [data.digest, *_entries(odb, data)])
    assert (stats.moved, stats.present, stats.failed) == (4, 0, {})

    remote.requests.clear()
    again = fetch(odb, remote, [data], jobs=4)
    assert _made(remote, "download") == _made(remote, "read_ranges") == []
    assert (again.moved, again.present) == (0, 4)


def test_a_fetch_stores_no_corrupt_object_and_names_a_missing_one(tmp_path: Path) -> None:
    pushed = ObjectDB(tmp_path / "pushed")
    bad = _file(pushed, "bad.bin", b"the right bytes")
    gone = _file(pushed, "gone.bin", b"deleted on the remote")
    good = _file(pushed, "good.bin", b"fine")
    remote = MemoryRemote(LOOSE)
    push(pushed, remote, [bad, gone, good], jobs=1)
    remote.keys[object_key(bad.digest)] = b"other bytes"
    del remote.keys[object_key(gone.digest)]
    odb = ObjectDB(tmp_path / "cache")

    stats = fetch(odb, remote, [bad, gone, good], jobs=1)

    assert "corrupt" in stats.failed["bad.bin"]
    assert stats.absent == {"gone.bin"}
    assert not odb.exists(bad.digest)
    assert not odb.exists(gone.digest)
    assert odb.verify(good.digest)
    assert stats.moved == 1
