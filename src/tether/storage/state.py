"""The state database: (inode, size, mtime, ctime) -> digest, so unchanged files are not re-read.

A row is trusted only when all four stat fields match. The change time
cannot be set by a user (unlike the modification time, which ``touch -r``
restores), and every write, chmod or new hard link moves it: so a file
rewritten in place keeping its size and mtime is hashed again, and so is a
cache object whose bytes changed behind a hard link or symlink. The database
is a cache: losing it, or failing to write it, costs time only.

Every query opens its own connection and closes it before returning (a
connection left for the garbage collector keeps the file open, and newer
Pythons warn about it); lookups are few, since rows are loaded in bulk once
a command needs more than a handful.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from tether import ownfiles

_VERSION = 3  # 1: no ctime_ns; 2: XXH3 digests. Older rows are dropped, not trusted

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    inode INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL
)
"""

_TREES = """
CREATE TABLE IF NOT EXISTS trees (
    path TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    digest TEXT NOT NULL
)
"""


@contextlib.contextmanager
def _connected(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection: committed (or rolled back) and closed on leaving."""
    for suffix in ("", "-journal", "-wal", "-shm"):  # sqlite follows links
        ownfiles.check_file(f"{path}{suffix}")
    con = sqlite3.connect(path, timeout=10)
    try:
        with con:
            if con.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
                con.execute("DROP TABLE IF EXISTS state")
                con.execute("DROP TABLE IF EXISTS trees")
                con.execute(f"PRAGMA user_version = {_VERSION}")
            con.execute(_SCHEMA)
            con.execute(_TREES)
            yield con
    finally:
        con.close()


class StateDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[int, tuple[int, int, int, str]] | None = None
        self._pending: dict[int, tuple[int, int, int, str]] = {}
        self._trees: dict[str, tuple[str, str]] = {}
        self._singles = 0
        self._mutex = threading.Lock()

    def _load(self) -> dict[int, tuple[int, int, int, str]]:
        if self._rows is None:
            with self._mutex:
                if self._rows is None:
                    self._rows = self._read_all()
        return self._rows

    def _read_all(self) -> dict[int, tuple[int, int, int, str]]:
        if not self.path.exists():
            return {}
        try:
            with _connected(self.path) as con:
                rows = con.execute("SELECT inode, size, mtime_ns, ctime_ns, digest FROM state")
                return {r[0]: r[1:] for r in rows.fetchall()}
        except sqlite3.DatabaseError:
            return {}  # a damaged cache of hashes is simply rebuilt

    def get_tree(self, path: str, fingerprint: str) -> str | None:
        """The tree digest of a folder whose files' stat fields (ctime too) are unchanged."""
        if not self.path.exists():
            return None
        try:
            with _connected(self.path) as con:
                row = con.execute(
                    "SELECT digest FROM trees WHERE path = ? AND fingerprint = ?",
                    (path, fingerprint),
                ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return str(row[0]) if row else None

    def put_tree(self, path: str, fingerprint: str, digest: str) -> None:
        self._trees[path] = (fingerprint, digest)

    def preload(self) -> None:
        """Load every row now, before many lookups."""
        self._load()

    def _one(self, inode: int) -> tuple[int, int, int, str] | None:
        """A single row, for the first few lookups: loading every row costs more."""
        self._singles += 1
        if not self.path.exists():
            return None
        try:
            with _connected(self.path) as con:
                row = con.execute(
                    "SELECT size, mtime_ns, ctime_ns, digest FROM state WHERE inode = ?",
                    (inode,),
                ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return (row[0], row[1], row[2], row[3]) if row else None

    def get(self, st: os.stat_result) -> str | None:
        row = self._pending.get(st.st_ino)
        if row is None:
            if self._rows is None and self._singles < 32:
                row = self._one(st.st_ino)
            else:
                rows = self._rows if self._rows is not None else self._load()
                row = rows.get(st.st_ino)
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns and row[2] == st.st_ctime_ns:
            return row[3]
        return None

    def put(self, st: os.stat_result, digest: str) -> None:
        row = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest)
        known = self._rows.get(st.st_ino) if self._rows is not None else None
        if known != row:
            self._pending[st.st_ino] = row

    def flush(self) -> None:
        """Write what was learnt."""
        if not self._pending and not self._trees:
            return
        rows = [(ino, *row) for ino, row in self._pending.items()]
        trees = [(p, f, d) for p, (f, d) in self._trees.items()]
        try:
            ownfiles.real_dir(self.path.parent, self.path.parent.parent)
            with _connected(self.path) as con:
                con.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", rows)
                con.executemany("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", trees)
        except sqlite3.Error:
            return  # a cache; the next run hashes again
        self._trees.clear()
        if self._rows is not None:
            self._rows.update(self._pending)
        self._pending.clear()
