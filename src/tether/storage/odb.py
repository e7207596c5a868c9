"""The object database: write-once files named by their digest.

Layout (identical in the cache and on every remote)::

    objects/<first 2 hex>/<remaining 30 hex>

Invariants:

* An object is written under a temporary name, flushed to disk, then renamed:
  a reader never sees a partial object under its final name.
* Object files are read-only (0444) and never edited in place.
* A reader that finds content whose digest differs treats the object as
  corrupt (and so missing); it is never handed to the workspace.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from tether import ownfiles, progress
from tether.errors import CorruptObjectError, MissingObjectError, raise_if_disk_full
from tether.storage import hashing, safeio
from tether.storage.state import StateDB

READONLY = 0o444
MARKER = ".tether-cache"
MARKER_TEXT = f"tether-cache 1\nhash: {hashing.ALGORITHM}\n"
_TMP_NAME = r"\d+-[0-9a-f]+-\d+"  # Writer._tmp_open's names, in tmp/
_TMP_BESIDE = r"\.tmp-\d+-[0-9a-f]+-\d+"  # and beside the final names
_BATCH_BYTES = 512 << 20
_BATCH_COUNT = 20_000
MAX_READ = 1 << 30  # whole-object reads are of small objects (trees, packed files)


def hash_object(path: str | os.PathLike[str], what: str, expected: int | None = None) -> str:
    """The digest of the regular file ``path``, read without following a link
    (CorruptObjectError for anything else, or for more than ``expected`` bytes)."""
    with safeio.opened(path, what, expected) as fd:
        size = os.fstat(fd).st_size
        if size <= hashing.SMALL:  # one read, no chunk buffer to allocate
            data = os.read(fd, size + 1)
            if len(data) == size:
                return hashing.hash_bytes(data)
            os.lseek(fd, 0, os.SEEK_SET)
        return hashing.hash_fd(fd)[0]


def _syncfs(fd: int) -> None:
    """Flush the whole filesystem once: far cheaper than one fsync per small object."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
    except (OSError, AttributeError):  # pragma: no cover - non-Linux
        pass
    os.sync()  # pragma: no cover


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_SYNC_FILE_RANGE_WRITE = 2
_ALIGN = 4096  # O_DIRECT wants offsets, lengths and memory aligned to the disk's block
_O_DIRECT = getattr(os, "O_DIRECT", 0)
DIRECT_MIN = 64 << 20  # files this large are written past the page cache


@functools.cache
def _writeback() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range``, or None where there is none."""
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return fn


def _set_direct(fd: int, on: bool) -> bool:
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, (flags | _O_DIRECT) if on else (flags & ~_O_DIRECT))
    return on


def copy_hashing(src: int, dst: int, direct: bool = False) -> tuple[str, int]:
    """Copy ``src`` into the new file ``dst`` while hashing it (one read of the
    data); return the digest and size.

    Every object is flushed before it is named (see :meth:`Writer.commit`),
    so its bytes reach the disk before the command ends whatever the route;
    the route decides how long that takes.

    * Through the page cache (the default), each chunk is handed to the disk
      at once (``sync_file_range``, which does not wait): the disk works
      while the next chunk is read and hashed, and the flush finds little
      left to do (1 GiB: 0.45-0.6 s of flush before, under 0.01 s after).
    * With ``direct`` (:data:`DIRECT_MIN` and larger), the bytes go from one
      page-aligned buffer straight to the disk (``O_DIRECT``). A gigabyte
      through the page cache must first find a gigabyte of free memory; on
      this VM that was memory the host had taken back as often as not, and
      faulting it in cost 2-4 s against 0.7 s when it was at hand.
      ``O_DIRECT`` took 0.85-1.0 s every run, and adding a 50 GB model no
      longer pushes everything else out of the page cache. For files of a
      few MiB it was slower (one synchronous write per file: 0.73 s against
      0.49 s for 200 x 3 MiB), hence the threshold.

    Where a filesystem refuses ``O_DIRECT`` (tmpfs, some network
    filesystems), and for an unaligned tail or short read, the copy carries
    on through the page cache.
    """
    import mmap

    h = hashing.hasher()
    buf = mmap.mmap(-1, hashing.CHUNK, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = memoryview(buf)
    direct = direct and _O_DIRECT != 0 and _try_direct(dst)
    start = _writeback()
    total = 0
    try:
        while n := os.readv(src, [buf]):
            chunk = view[:n]
            h.update(chunk)
            if direct and n % _ALIGN:  # the tail (or a short read): no longer aligned
                direct = _set_direct(dst, False)
            while chunk:
                try:
                    chunk = chunk[os.write(dst, chunk) :]
                except OSError as exc:
                    if not direct or exc.errno != errno.EINVAL:
                        raise
                    direct = _set_direct(dst, False)  # refused after all: buffered
            if start is not None and not direct:
                start(dst, total, n, _SYNC_FILE_RANGE_WRITE)
            total += n
            progress.copied(n)
    finally:
        chunk = view = None  # type: ignore[assignment]  # no view may outlive the buffer
        with contextlib.suppress(BufferError):
            buf.close()
    digest: str = h.hexdigest()
    return digest, total


def _try_direct(fd: int) -> bool:
    try:
        return _set_direct(fd, True)
    except OSError:
        return False


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
            from tether.yamlio import write_atomic

            write_atomic(self.marker, MARKER_TEXT)

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

    def writer(self) -> Writer:
        return Writer(self)

    def verify(self, digest: str, state: StateDB | None = None) -> bool:
        """True when the object is present and its content hashes to its name."""
        path = self.path(digest)
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
        if not self.exists(digest):
            raise MissingObjectError(f"{name}: object {digest} is not in the cache")
        if not self.verify(digest, state):
            raise CorruptObjectError(f"{name}: cache object {digest} is corrupt (digest mismatch)")
        return self.path(digest)

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
        import re
        import time

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


class Writer:
    """Adds objects in batches: write temps, one filesystem flush, then renames.

    Used as a context manager: leaving it normally publishes every object,
    leaving it by an exception (Ctrl-C included) deletes the temporaries,
    so an interrupted ``add`` leaves only whole objects behind.
    """

    def __init__(self, odb: ObjectDB) -> None:
        self.odb = odb
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
            full = self._bytes >= _BATCH_BYTES or len(self._pending) >= _BATCH_COUNT
        if full:
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
            digest, size = copy_hashing(src, fd, direct)
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
                actual, size = copy_hashing(sfd, fd, size >= DIRECT_MIN)
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
        if not pending:
            return
        fd = os.open(self.odb.tmp, os.O_RDONLY)
        try:
            _syncfs(fd)
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
