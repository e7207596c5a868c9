"""Transfer planning against the in-memory remote: what a push sends, what a
fetch asks for, and how small objects travel in packs."""

from __future__ import annotations

from pathlib import Path

from tether.storage import packs, tree
from tether.storage.hashing import hash_bytes as _digest
from tether.storage.odb import ObjectDB
from tether.storage.remotes import MemoryRemote, RemoteSpec, object_key
from tether.storage.transfer import Root, fetch, missing, push

LOOSE = RemoteSpec("mem", "memory://", {"pack": False})
PACKED = RemoteSpec("mem", "memory://", {})  # packing is on for every remote but a folder


def _file(odb: ObjectDB, name: str, data: bytes) -> Root:
    with odb.writer() as w:
        digest = w.put_bytes(data)
    return Root(digest=digest, kind="file", size=len(data), name=name)


def _dir(odb: ObjectDB, name: str, files: dict[str, bytes]) -> Root:
    with odb.writer() as w:
        entries = [tree.Entry(path, w.put_bytes(data), len(data)) for path, data in files.items()]
        w.commit()  # files before the tree that lists them
        t = tree.build(entries)
        digest = w.put_bytes(t.to_bytes())
    return Root(digest=digest, kind="dir", size=t.size, name=name, files=len(entries))


def _entries(odb: ObjectDB, root: Root) -> list[str]:
    return [e.digest for e in tree.parse(odb.read(root.digest, root.name), root.name).entries]


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
    a1, a2, lone, in_pack = "ab" + "1" * 30, "ab" + "2" * 30, "cd" + "3" * 30, "ef" + "4" * 30
    remote.keys[object_key(a1)] = b"x"
    packed = {in_pack: packs.Location("0" * 64, 0, 1)}

    lacking = missing(remote, [a1, a2, lone, in_pack], 1, packed)

    assert lacking == {a2, lone}
    assert remote.requests == [("list_prefix", "ab"), ("exists", lone)]


def test_an_incremental_push_checks_only_what_the_new_tree_adds(tmp_path: Path) -> None:
    odb = ObjectDB(tmp_path / "cache")
    remote = MemoryRemote(LOOSE)
    v1 = _dir(odb, "data", FILES)
    push(odb, remote, [v1], jobs=1)
    v2 = _dir(odb, "data", {**FILES, "part-new.csv": b"a new row\n"})
    (new,) = set(_entries(odb, v2)) - set(_entries(odb, v1))
    remote.requests.clear()

    stats = push(odb, remote, [v2], jobs=1, previous={"data": v1.digest})

    asked = set(_made(remote, "exists")) | set(_made(remote, "list_prefix"))
    assert asked == {v2.digest, v1.digest, new}  # the old files are known from the old tree
    assert _made(remote, "upload") == [new, v2.digest]
    assert (stats.moved, stats.present) == (2, 3)


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
    assert written == [packs.pack_key(pack), packs.index_key(pack)]
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
