"""The object database and the state database, on a real disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether.errors import CorruptObjectError, MissingObjectError
from tether.storage.fileio import DIRECT_MIN, copy_hashing
from tether.storage.hashing import hash_bytes
from tether.storage.odb import ObjectDB
from tether.storage.state import StateDB


def test_writer_publishes_read_only_objects(tmp_path):
    odb = ObjectDB(tmp_path / "cache")
    with odb.writer() as w:
        d = w.put_bytes(b"hello")
        assert not odb.exists(d)  # not visible before the batch is committed
    assert odb.exists(d, 5)
    assert odb.read(d, "x") == b"hello"
    assert not os.stat(odb.path(d)).st_mode & 0o222
    assert list(odb.all()) == [d]


def test_writer_interrupted_leaves_no_temporaries(tmp_path):
    odb = ObjectDB(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt), odb.writer() as w:
        w.put_bytes(b"one")
        src = tmp_path / "big"
        src.write_bytes(os.urandom(3 << 20))
        fd = os.open(src, os.O_RDONLY)
        try:
            w.put_fd(fd)
        finally:
            os.close(fd)
        raise KeyboardInterrupt
    assert list(odb.all()) == []
    leftovers = [
        p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != ".tether-cache"
    ]
    assert leftovers == []


def test_writer_failing_while_publishing_leaves_no_temporaries(tmp_path):
    """The last batch is published when the block ends; a failure (or Ctrl-C)
    in the middle of it must still remove the temporaries not yet renamed."""
    odb = ObjectDB(tmp_path / "cache")
    blocked = hash_bytes(b"one")
    with pytest.raises(OSError), odb.writer() as w:
        w.put_bytes(b"one")
        w.put_bytes(b"two")
        (odb.path(blocked) / "x").mkdir(parents=True)  # no file can be renamed onto it
    assert not odb.exists(hash_bytes(b"two"))
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if "tmp-" in p.name]
    assert leftovers == []


def _copy(tmp_path: Path, data: bytes, direct: bool, before: bytes = b"") -> bytes:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(dfd, before)
        digest, size = copy_hashing(sfd, dfd, direct)
    finally:
        os.close(sfd)
        os.close(dfd)
    assert (digest, size) == (hash_bytes(data), len(data))
    return dst.read_bytes()


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("size", [0, 4096, (9 << 20) + 123])
def test_copy_hashing_copies_every_byte_either_route(tmp_path, direct, size):
    """Past the page cache (O_DIRECT) or through it; a tail that is not a
    whole block, and a file that spans several chunks."""
    data = os.urandom(size)
    assert _copy(tmp_path, data, direct) == data


def test_copy_hashing_falls_back_when_the_disk_refuses_a_direct_write(tmp_path):
    """A file whose offset is not block-aligned makes the kernel refuse every
    O_DIRECT write (EINVAL); the copy goes on through the page cache."""
    data = os.urandom((5 << 20) + 1)
    assert _copy(tmp_path, data, True, before=b"x") == b"x" + data


def test_copy_hashing_takes_short_reads_from_a_pipe(tmp_path):
    """Reads that end off a block boundary (a pipe's) switch O_DIRECT off
    rather than fail."""
    import threading

    data = os.urandom(3 << 20)
    r, w = os.pipe()

    def feed() -> None:
        for i in range(0, len(data), 70001):
            os.write(w, data[i : i + 70001])
        os.close(w)

    t = threading.Thread(target=feed)
    t.start()
    dst = tmp_path / "dst"
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        assert copy_hashing(r, dfd, direct=True) == (hash_bytes(data), len(data))
    finally:
        os.close(dfd)
        os.close(r)
        t.join()
    assert dst.read_bytes() == data


def test_large_files_are_stored_whole_past_the_page_cache(tmp_path):
    odb = ObjectDB(tmp_path / "cache")
    src = tmp_path / "model.bin"
    data = os.urandom(DIRECT_MIN + 4097)
    src.write_bytes(data)
    with odb.writer() as w:
        d = w.put_file(str(src), len(data))
    assert d == hash_bytes(data)
    assert odb.read(d, "x") == data


def test_reader_detects_corruption_and_absence(tmp_path):
    odb = ObjectDB(tmp_path / "cache")
    with odb.writer() as w:
        d = w.put_bytes(b"payload")
    path = odb.path(d)
    path.chmod(0o644)
    path.write_bytes(b"PAYLOAD")
    with pytest.raises(CorruptObjectError):
        odb.read(d, "x")
    assert not odb.verify(d)
    with pytest.raises(MissingObjectError):
        odb.check(hash_bytes(b"never stored"), "y")


def test_state_trusts_only_identical_stat(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    db = StateDB(tmp_path / "state.db")
    st = os.stat(f)
    db.put(st, "d" * 64)
    db.flush()
    again = StateDB(tmp_path / "state.db")
    assert again.get(os.stat(f)) == "d" * 64
    f.write_bytes(b"abcd")  # size changes
    assert again.get(os.stat(f)) is None
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert again.get(os.stat(f)) is None


def _open_files(path: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    return [str(fd) for fd in fds.iterdir() if os.path.realpath(fd) == str(path)]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_state_db_leaves_no_connection_open(tmp_path):
    """Each lookup closes its connection: none waits for the garbage collector."""
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    path = (tmp_path / "state.db").resolve()
    db = StateDB(path)
    db.put(os.stat(f), "d" * 64)
    db.put_tree("data", "fp", "t" * 64)
    db.flush()
    assert _open_files(path) == []
    again = StateDB(path)
    assert again.get(os.stat(f)) == "d" * 64  # a single-row lookup
    assert again.get_tree("data", "fp") == "t" * 64
    assert _open_files(path) == []
    again.preload()
    assert _open_files(path) == []


def test_state_db_without_change_times_is_replaced(tmp_path):
    """Rows from before the change time was kept are dropped, never trusted."""
    import sqlite3

    f = tmp_path / "f"
    f.write_bytes(b"abc")
    st = os.stat(f)
    con = sqlite3.connect(tmp_path / "state.db")
    with con:
        con.execute("CREATE TABLE state (inode INTEGER PRIMARY KEY, size, mtime_ns, digest)")
        con.execute("INSERT INTO state VALUES (?, ?, ?, ?)", (st.st_ino, 3, st.st_mtime_ns, "o"))
    con.close()
    db = StateDB(tmp_path / "state.db")
    assert db.get(st) is None
    db.put(st, "d" * 64)
    db.flush()
    assert StateDB(tmp_path / "state.db").get(st) == "d" * 64


def test_corrupt_state_db_is_rebuilt(tmp_path):
    (tmp_path / "state.db").write_bytes(b"not a database at all" * 100)
    db = StateDB(tmp_path / "state.db")
    f = tmp_path / "f"
    f.write_bytes(b"x")
    assert db.get(os.stat(f)) is None


def test_writer_stores_duplicate_content_once_even_in_a_fresh_cache(tmp_path):
    """A fresh fan-out folder skips the existence check; the writer still dedupes."""
    odb = ObjectDB(tmp_path / "cache")
    with odb.writer() as w:
        first = w.put_bytes(b"same bytes")
        assert w.put_bytes(b"same bytes") == first
        w.put_bytes(b"other")
    assert w.written == 2
    assert sorted(odb.all()) == sorted([first, hash_bytes(b"other")])
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*") if p.name.startswith(".tmp")]
    assert leftovers == []
    with odb.writer() as w2:  # a second writer finds it already there
        w2.put_bytes(b"same bytes")
    assert w2.written == 0


def test_shares_balance_bytes_and_keep_item_order():
    from tether.storage.parallel import shares

    sizes = [1 << 30] + [1000] * 9999  # one huge file among many small ones
    split = shares(sizes, 2)
    assert sorted(i for s in split for i in s) == list(range(len(sizes)))
    assert all(s == sorted(s) for s in split)
    assert split[0] == [0]  # the huge file alone is a worker's whole share
    assert shares([5, 5], 8) == [[0], [1]]  # never an empty share


def test_errors_cross_a_process_boundary_whole():
    import pickle

    from tether.errors import DiskFullError, PathError, StageFailedError

    for exc in (PathError("a/b: cannot", "do x"), DiskFullError("full"), StageFailedError("m", 7)):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert back.__dict__ == exc.__dict__


def test_temporary_names_are_short_and_recognised(tmp_path):
    from tether import tempfiles

    dest = str(tmp_path / ("x" * 255))
    names = {os.path.basename(tempfiles.beside(dest)) for _ in range(100)}
    assert len(names) == 100
    assert all(len(n) == 24 and tempfiles.is_temporary(n) for n in names)
    assert os.path.dirname(tempfiles.beside(dest)) == str(tmp_path)
    for mine in ("notes.tether-tmp", ".tether-tmp", "a.tmp", ".0123456789ab.tether-tmp.bak"):
        assert not tempfiles.is_temporary(mine)


def test_a_remote_reads_its_own_options_one_way() -> None:
    from tether.errors import RemoteError
    from tether.storage.remotes import RemoteSpec

    folder, s3 = RemoteSpec("f", "/srv/f", {}), RemoteSpec("s", "s3://b", {})
    assert (folder.jobs, folder.packs, folder.hardlink) == (1, False, False)  # a copy
    assert (s3.jobs, s3.packs) == (32, True)
    assert (s3.timeout("connect_timeout"), s3.timeout("read_timeout")) == (10.0, 60.0)
    off = RemoteSpec("f", "/srv/f", {"jobs": "4", "pack": "yes", "hardlink": "off"})
    assert (off.jobs, off.packs, off.hardlink) == (4, True, False)
    assert RemoteSpec("f", "/srv/f", {"hardlink": "true"}).hardlink
    assert RemoteSpec("s", "s3://b", {"read_timeout": "2.5"}).timeout("read_timeout") == 2.5
    with pytest.raises(RemoteError, match="remote 's': read_timeout must be more than 0"):
        RemoteSpec("s", "s3://b", {"read_timeout": 0}).timeout("read_timeout")
    assert not RemoteSpec("s", "s3://b", {"pack": False}).packs
    with pytest.raises(RemoteError, match="remote 'f': jobs must be at least 1"):
        _ = RemoteSpec("f", "/srv/f", {"jobs": 0}).jobs
    with pytest.raises(RemoteError, match="remote 'f': jobs must be a whole number, got 'many'"):
        _ = RemoteSpec("f", "/srv/f", {"jobs": "many"}).jobs
