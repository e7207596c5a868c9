"""The object database and the state database, on a real disk."""

from __future__ import annotations

import os

import pytest

from tether.errors import CorruptObjectError, MissingObjectError
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
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


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
    db.put(st, "d" * 32)
    db.flush()
    again = StateDB(tmp_path / "state.db")
    assert again.get(os.stat(f)) == "d" * 32
    f.write_bytes(b"abcd")  # size changes
    assert again.get(os.stat(f)) is None
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert again.get(os.stat(f)) is None


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
