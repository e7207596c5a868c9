"""Writing objects into an object store in batches (see :class:`Writer`)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from tether import ownfiles
from tether.errors import CorruptObjectError, raise_if_disk_full
from tether.storage import hashing, safeio
from tether.storage.fileio import (
    DIRECT_MIN,
    READONLY,
    copy_hashing,
    hash_object,
    ignore,
    syncfs,
    write_all,
)

if TYPE_CHECKING:
    from tether.storage.odb import ObjectDB


@dataclass(frozen=True)
class Batch:
    """When a writer publishes what it wrote (one flush, then renames): at
    ``nbytes`` or ``count`` objects waiting, or ``seconds`` after it last did."""

    nbytes: int
    count: int
    seconds: float | None = None


# add: as few flushes as memory allows (20,000 small files are one flush)
ADD = Batch(512 << 20, 20_000)
# push and pull: a transfer killed at any point keeps all but its last seconds
TRANSFER = Batch(64 << 20, 500, 2.0)


class Writer:
    """Adds objects in batches: write temps, one filesystem flush, then renames.

    Used as a context manager: leaving it normally publishes every object,
    leaving it by an exception (Ctrl-C included) deletes the temporaries,
    so an interrupted ``add`` leaves only whole objects behind.
    """

    def __init__(
        self, odb: ObjectDB, on_copied: Callable[[int], None] = ignore, batch: Batch = ADD
    ) -> None:
        self.odb = odb
        self.on_copied = on_copied  # told of each chunk of a large file as it is copied
        self.batch = batch
        self._published = time.monotonic()
        self._pending: list[tuple[str, str]] = []
        self._queued: set[str] = set()  # objects this writer stored (or will)
        # fan-out folders this writer created, so empty but for its own objects:
        # a first add into a fresh cache skips one existence check per object
        # (another process's object of the same name holds the same bytes, so
        # replacing it is harmless)
        self._fresh: set[str] = set()
        self._bytes = 0
        self._seq = 0
        self._prefix = f"{os.getpid()}-{id(self):x}"
        self._objects = str(odb.objects)  # str once: f-strings of a Path cost per call
        self._tmpdir = str(odb.tmp)
        self.written = 0
        self.written_bytes = 0
        self._tmps: set[str] = set()
        self._mutex = threading.Lock()  # transfers write from many threads
        self._can_link = True

    def __enter__(self) -> Writer:
        ownfiles.real_dir(self.odb.tmp, self.odb.root)
        ownfiles.check_dir(self.odb.objects)  # a link would take every object elsewhere
        self.odb.mark()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if t is None:
            try:
                self.commit()
            except BaseException:  # Ctrl-C or a full disk while publishing the last batch
                self.discard()
                raise
        else:
            self.discard()

    def _tmp_open(self, digest: str | None = None, mode: int = READONLY) -> tuple[str, int]:
        """A temporary beside its final name when the digest is known (spreads
        directory locks over the fan-out folders), else in ``tmp/``."""
        with self._mutex:
            self._seq += 1
            if digest is None:
                name = f"{self._tmpdir}/{self._prefix}-{self._seq}"
            else:
                name = f"{self._objects}/{digest[:2]}/.tmp-{self._prefix}-{self._seq}"
            self._tmps.add(name)
        try:
            if digest is not None and self.odb._ensure_dir(digest):
                self._fresh.add(digest[:2])
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as exc:
            with self._mutex:
                self._tmps.discard(name)
            raise_if_disk_full(exc, self.odb.root)
            raise
        return name, fd

    def _abandon(self, tmp: str, fd: int, exc: BaseException) -> None:
        """Close and delete a temporary whose writing failed; a full disk says so."""
        os.close(fd)
        self._unlink(tmp)
        if isinstance(exc, OSError):
            raise_if_disk_full(exc, self.odb.root)

    def _unlink(self, name: str) -> None:
        with self._mutex:
            self._tmps.discard(name)
        with contextlib.suppress(OSError):
            os.unlink(name)

    def _queue(self, tmp: str, digest: str, size: int) -> None:
        with self._mutex:
            self._queued.add(digest)
            self._pending.append((tmp, digest))
            self._bytes += size
            self.written += 1
            self.written_bytes += size
            full = self._bytes >= self.batch.nbytes or len(self._pending) >= self.batch.count
            due = self.batch.seconds is not None and (
                time.monotonic() - self._published >= self.batch.seconds
            )
        if full or due:
            self.commit()

    @contextlib.contextmanager
    def _temporary(self, digest: str | None = None) -> Iterator[tuple[str, int]]:
        """An open temporary; removed again if anything fails while writing it."""
        tmp, fd = self._tmp_open(digest)
        try:
            yield tmp, fd
        except BaseException as exc:
            self._abandon(tmp, fd, exc)
            raise
        os.close(fd)

    def put_bytes(self, data: bytes | memoryview, digest: str | None = None) -> str:
        """Store ``data`` unless an object of that digest and size is already there."""
        digest = digest or hashing.hash_bytes(data)
        if digest in self._queued:
            return digest
        if digest[:2] not in self._fresh and self.odb.exists(digest, len(data)):
            return digest
        # no context manager here: this is the inner loop of adding small files
        tmp, fd = self._tmp_open(digest)
        try:
            written = os.write(fd, data)
            if written < len(data):
                write_all(fd, memoryview(data)[written:])
        except BaseException as exc:
            self._abandon(tmp, fd, exc)
            raise
        os.close(fd)
        self._queue(tmp, digest, len(data))
        return digest

    def put_file(self, path: str, size: int) -> str:
        """Store a file whose stat size is ``size``: a small one in a single read
        (asking for one byte more makes a short read its end; a file that grew
        since its stat is read to its end), a large one copied while hashed."""
        src = os.open(path, os.O_RDONLY)
        try:
            if size > hashing.SMALL:
                return self.put_fd(src, size >= DIRECT_MIN)[0]
            data = os.read(src, size + 1)
            if len(data) > size:
                chunks = [data]
                while chunk := os.read(src, hashing.SMALL):
                    chunks.append(chunk)
                data = b"".join(chunks)
        finally:
            os.close(src)
        return self.put_bytes(data)

    def count(self, objects: int, nbytes: int) -> None:
        """Count objects that helpers (worker processes) wrote for this writer."""
        with self._mutex:
            self.written += objects
            self.written_bytes += nbytes

    def put_fd(self, src: int, direct: bool = False) -> tuple[str, int]:
        """Copy a stream into the store while hashing it: one read of the data
        (``direct``: past the page cache, see :func:`copy_hashing`)."""
        with self._temporary() as (tmp, fd):
            digest, size = copy_hashing(src, fd, direct, self.on_copied)
        if digest in self._queued or self.odb.exists(digest, size):
            self._unlink(tmp)
        else:
            self._queue(tmp, digest, size)
        return digest, size

    def put_verified(self, digest: str, data: bytes, what: str) -> None:
        """Store ``data`` as ``digest``, refusing it when it hashes to anything else."""
        if hashing.hash_bytes(data) != digest:
            raise CorruptObjectError(f"{what} is corrupt (digest mismatch); not stored")
        self.put_bytes(data, digest)

    def copy_verified(
        self,
        digest: str,
        src: str | os.PathLike[str],
        what: str,
        link: bool = False,
        expected: int | None = None,
    ) -> None:
        """Copy the object file ``src`` in as ``digest``, hashing while copying.
        Only a regular file is read (see :mod:`~tether.storage.safeio`), and with
        ``expected`` (its size as a tree or pointer gives it) one larger than
        that is refused unread.

        With ``link`` (two object stores on one filesystem, as git's local
        clone does) the immutable file is hard-linked once its content is
        proven, falling back to a copy across filesystems.
        """
        if self.odb.exists(digest):
            return
        if link and self._can_link and self._link_verified(digest, src, what, expected):
            return
        with safeio.opened(src, what, expected) as sfd:
            size = os.fstat(sfd).st_size
            if size <= hashing.SMALL:
                data = os.read(sfd, size + 1)
                self.put_verified(digest, data, what)
                return
            with self._temporary(digest) as (tmp, fd):
                actual, size = copy_hashing(sfd, fd, size >= DIRECT_MIN, self.on_copied)
                if actual != digest:
                    raise CorruptObjectError(f"{what} is corrupt (digest mismatch); not stored")
        self._queue(tmp, digest, size)

    def _link_verified(
        self, digest: str, src: str | os.PathLike[str], what: str, expected: int | None
    ) -> bool:
        import errno

        if hash_object(src, what, expected) != digest:
            raise CorruptObjectError(f"{what} is corrupt (digest mismatch); not stored")
        self.odb._ensure_dir(digest)
        try:
            os.link(src, self.odb.file(digest), follow_symlinks=False)
        except FileExistsError:
            return True
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                self._can_link = False
                return False
            raise_if_disk_full(exc, self.odb.root)
            raise
        with self._mutex:
            self.written += 1
        return True

    @contextlib.contextmanager
    def temporary_path(self, digest: str) -> Iterator[str]:
        """A fresh temporary path for a downloader to fill, removed on failure."""
        tmp, fd = self._tmp_open(digest, 0o600)
        os.close(fd)
        try:
            yield tmp
        except OSError as exc:  # the downloader writes to this disk: a full one says so
            self._unlink(tmp)
            raise_if_disk_full(exc, self.odb.root)
            raise
        except BaseException:
            self._unlink(tmp)
            raise

    def adopt_verified(self, digest: str, tmp: str, what: str) -> None:
        """Queue a filled temporary as ``digest`` once its content proves it."""
        actual, size = hashing.hash_file(tmp)
        if actual != digest:
            self._unlink(tmp)
            raise CorruptObjectError(f"{what} is corrupt (digest mismatch); not stored")
        os.chmod(tmp, READONLY)
        self._queue(tmp, digest, size)

    def commit(self) -> None:
        with self._mutex:
            pending, self._pending, self._bytes = self._pending, [], 0
            self._published = time.monotonic()
        if not pending:
            return
        fd = os.open(self.odb.tmp, os.O_RDONLY)
        try:
            syncfs(fd)
        finally:
            os.close(fd)
        objects = str(self.odb.objects)
        for tmp, digest in pending:
            self.odb._ensure_dir(digest)
            os.replace(tmp, f"{objects}/{digest[:2]}/{digest[2:]}")
            self._tmps.discard(tmp)

    def discard(self) -> None:
        """Delete every temporary of this writer, queued or half-written."""
        for name in list(self._tmps):
            self._unlink(name)
        self._pending.clear()
        self._queued.clear()
        self._bytes = 0
