"""The state database: (inode, size, mtime_ns) -> digest, so unchanged files are never re-read.

A row is trusted only when all three stat fields match, so any write that
changes a file's size or modification time makes tether hash it again. The
database is a cache: losing it, or failing to write it, costs time only.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from tether import ownfiles

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    inode INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
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


class StateDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[int, tuple[int, int, str]] | None = None
        self._pending: dict[int, tuple[int, int, str]] = {}
        self._trees: dict[str, tuple[str, str]] = {}
        self._singles = 0
        self._con: sqlite3.Connection | None = None
        self._mutex = threading.Lock()

    def _load(self) -> dict[int, tuple[int, int, str]]:
        if self._rows is None:
            with self._mutex:
                if self._rows is None:
                    self._rows = self._read_all()
        return self._rows

    def _read_all(self) -> dict[int, tuple[int, int, str]]:
        if not self.path.exists():
            return {}
        try:
            with self._connect() as con:
                rows = con.execute("SELECT inode, size, mtime_ns, digest FROM state")
                return {r[0]: r[1:] for r in rows.fetchall()}
        except sqlite3.DatabaseError:
            return {}  # a damaged cache of hashes is simply rebuilt

    def _connect(self) -> sqlite3.Connection:
        if self._con is None:
            for suffix in ("", "-journal", "-wal", "-shm"):  # sqlite follows links
                ownfiles.check_file(f"{self.path}{suffix}")
            # checkout writes large files on worker threads, which may look rows up
            self._con = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            self._con.execute(_SCHEMA)
            self._con.execute(_TREES)
        return self._con

    def get_tree(self, path: str, fingerprint: str) -> str | None:
        """The tree digest of a folder whose files' (path, inode, size, mtime) are unchanged."""
        if not self.path.exists():
            return None
        try:
            with self._connect() as con:
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

    def _one(self, inode: int) -> tuple[int, int, str] | None:
        """A single row, for the first few lookups: loading every row costs more."""
        self._singles += 1
        if not self.path.exists():
            return None
        try:
            with self._mutex, self._connect() as con:
                row = con.execute(
                    "SELECT size, mtime_ns, digest FROM state WHERE inode = ?", (inode,)
                ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return (row[0], row[1], row[2]) if row else None

    def get(self, st: os.stat_result) -> str | None:
        row = self._pending.get(st.st_ino)
        if row is None:
            if self._rows is None and self._singles < 32:
                row = self._one(st.st_ino)
            else:
                rows = self._rows if self._rows is not None else self._load()
                row = rows.get(st.st_ino)
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        return None

    def put(self, st: os.stat_result, digest: str) -> None:
        row = (st.st_size, st.st_mtime_ns, digest)
        known = self._rows.get(st.st_ino) if self._rows is not None else None
        if known != row:
            self._pending[st.st_ino] = row

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def flush(self) -> None:
        """Write what was learnt, and close the database."""
        if not self._pending and not self._trees:
            self.close()
            return
        rows = [(ino, s, m, d) for ino, (s, m, d) in self._pending.items()]
        trees = [(p, f, d) for p, (f, d) in self._trees.items()]
        try:
            ownfiles.real_dir(self.path.parent, self.path.parent.parent)
            with self._connect() as con:
                con.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)", rows)
                con.executemany("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", trees)
        except sqlite3.Error:
            self.close()
            return  # a cache; the next run hashes again
        self.close()
        self._trees.clear()
        if self._rows is not None:
            self._rows.update(self._pending)
        self._pending.clear()
