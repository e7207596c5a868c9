"""The object database: write-once files named by their digest.

Layout (identical in the cache and on every remote)::

    objects/<first 2 hex>/<remaining 62 hex>

Invariants:

* An object is written under a temporary name, flushed to disk, then renamed:
  a reader never sees a partial object under its final name.
* Object files are read-only (0444) and never edited in place.
* A reader that finds content whose digest differs treats the object as
  corrupt (and so missing); it is never handed to the workspace.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from tether import atomicfile, ownfiles
from tether.errors import CorruptObjectError, MissingObjectError
from tether.storage import hashing, safeio
from tether.storage.fileio import hash_object
from tether.storage.state import StateDB
from tether.storage.writer import ADD, Batch, Writer

MARKER = ".tether-cache"
MARKER_TEXT = f"tether-cache 1\nhash: {hashing.ALGORITHM}\n"
_TMP_NAME = r"\d+-[0-9a-f]+-\d+"  # Writer._tmp_open's names, in tmp/
_TMP_BESIDE = r"\.tmp-\d+-[0-9a-f]+-\d+"  # and beside the final names
MAX_READ = 1 << 30  # whole-object reads are of small objects (trees, packed files)


class ObjectDB:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self._dirs: set[str] = set()

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def marked(self) -> bool:
        """Whether the folder carries the layout marker: proof that tether
        made it, which gc wants before it deletes anything there."""
        text = ownfiles.read_text(self.marker)
        return text is not None and text.startswith(MARKER_TEXT.split("\n", 1)[0])

    def mark(self) -> None:
        """Write the layout marker if it is missing (every writer does)."""
        if not ownfiles.check_file(self.marker):
            atomicfile.write(self.marker, MARKER_TEXT)

    def path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def file(self, digest: str) -> str:
        """:meth:`path` as a string: no pathlib cost on hot paths."""
        return f"{self.objects}/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str, size: int | None = None) -> bool:
        try:
            st = os.stat(f"{self.objects}/{digest[:2]}/{digest[2:]}")
        except OSError:
            return False
        return size is None or st.st_size == size

    def size(self, digest: str) -> int | None:
        """The size of the object file, None if there is no regular file there."""
        try:
            st = os.lstat(self.file(digest))
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def writer(self, batch: Batch = ADD) -> Writer:
        return Writer(self, batch=batch)

    def verify(self, digest: str, state: StateDB | None = None) -> bool:
        """True when the object is present and its content hashes to its name."""
        path = self.file(digest)
        try:
            st = os.lstat(path)  # a link in an object's place is never taken as it
        except OSError:
            return False
        if state is not None and state.get(st) == digest:
            return True
        try:
            actual = hash_object(path, f"cache object {digest}")
        except (OSError, CorruptObjectError):
            return False
        if actual == digest and state is not None:
            state.put(st, digest)
        return actual == digest

    def check(self, digest: str, name: str, state: StateDB | None = None) -> Path:
        """The path of a verified object, or a clear error naming what needs it."""
        return Path(self.check_file(digest, name, state))

    def check_file(self, digest: str, name: str, state: StateDB | None = None) -> str:
        """:meth:`check` as a string: no pathlib cost on hot paths."""
        if not self.verify(digest, state):
            if not self.exists(digest):
                raise MissingObjectError(f"{name}: object {digest} is not in the cache")
            raise CorruptObjectError(f"{name}: cache object {digest} is corrupt (digest mismatch)")
        return self.file(digest)

    def read(self, digest: str, name: str) -> bytes:
        """Read a whole (small) object, verified against its digest."""
        try:
            data = safeio.read(self.path(digest), f"{name}: cache object {digest}", MAX_READ)
        except FileNotFoundError:
            raise MissingObjectError(f"{name}: object {digest} is not in the cache") from None
        if hashing.hash_bytes(data) != digest:
            raise CorruptObjectError(f"{name}: cache object {digest} is corrupt (digest mismatch)")
        return data

    def all(self, misplaced: bool = False) -> Iterator[str]:
        """Digests of the objects present. ``misplaced``: also names where
        something other than a regular file sits (a folder, a fifo, a link),
        which only ``fsck`` wants, to quarantine them; gc never deletes them."""
        if not self.objects.is_dir():
            return
        for top in sorted(os.scandir(self.objects), key=lambda e: e.name):
            if len(top.name) != 2 or not top.is_dir(follow_symlinks=False):
                continue  # a link is no fan-out folder of ours: never listed, never emptied
            for entry in os.scandir(top.path):
                digest = top.name + entry.name
                if hashing.is_digest(digest) and (
                    misplaced or entry.is_file(follow_symlinks=False)
                ):
                    yield digest

    def stale_temporaries(self, max_age: float) -> Iterator[str]:
        """Temporaries older than ``max_age`` seconds: left by a writer that was
        killed (SIGKILL, power loss), since a living one deletes its own. They
        are in ``tmp/`` or beside the final names (``objects/ab/.tmp-*``). Only
        regular files named as a writer names them count: anything else there
        (a folder, a link, a file someone put there) is not provably ours."""
        now = time.time()
        tmp = str(self.tmp)
        folders = [tmp] if ownfiles.check_dir(tmp) else []
        if ownfiles.check_dir(self.objects):
            folders += [
                e.path
                for e in os.scandir(self.objects)
                if len(e.name) == 2 and e.is_dir(follow_symlinks=False)
            ]
        for folder in folders:
            pattern = _TMP_NAME if folder == tmp else _TMP_BESIDE
            with os.scandir(folder) as it:
                for entry in it:
                    if not re.fullmatch(pattern, entry.name):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode) and now - st.st_mtime > max_age:
                        yield entry.path

    def remove(self, digest: str) -> int:
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def quarantine(self, digest: str) -> Path:
        """Move an object (or whatever is in its place) to ``quarantine/``,
        beside, never over, what an earlier run put there."""
        folder = ownfiles.real_dir(self.root / "quarantine", self.root)
        dest = folder / digest
        n = 1
        while os.path.lexists(dest):
            dest, n = folder / f"{digest}.{n}", n + 1
        os.rename(self.path(digest), dest)
        return dest

    def _ensure_dir(self, digest: str) -> bool:
        """Make the object's fan-out folder; True if this call created it."""
        prefix = digest[:2]
        if prefix in self._dirs:
            return False
        created = True
        try:
            os.mkdir(f"{self.objects}/{prefix}")
        except FileExistsError:
            created = False
            folder = f"{self.objects}/{prefix}"
            if os.path.islink(folder):  # once per folder: never write through a link
                raise ownfiles.refuse(folder, "a symlink") from None
        except FileNotFoundError:  # no objects/ yet
            ownfiles.real_dir(self.objects / prefix, self.root)
        self._dirs.add(prefix)
        return created
