"""Low-level file I/O for the object stores: copying while hashing (through
the page cache with early write-back, or past it with ``O_DIRECT``), writing
a whole buffer, flushing a filesystem, hashing a regular file read without
following a link."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections.abc import Callable

from tether.storage import hashing, safeio

READONLY = 0o444


def syncfs(fd: int) -> None:
    """Flush the whole filesystem once: far cheaper than one fsync per small object."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
    except (OSError, AttributeError):  # pragma: no cover - non-Linux
        pass
    os.sync()  # pragma: no cover


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


def ignore(_nbytes: int) -> None:
    """A progress callback that reports nowhere."""


def copy_hashing(
    src: int, dst: int, direct: bool = False, on_chunk: Callable[[int], None] = ignore
) -> tuple[str, int]:
    """Copy ``src`` into the new file ``dst`` while hashing it (one read of the
    data); return the digest and size. ``on_chunk`` is told the size of each
    chunk copied (a progress bar moves with it).

    Every object is flushed before it is named (see :meth:`Writer.commit`),
    so its bytes reach the disk before the command ends whatever the route;
    the route decides how long that takes.

    * Through the page cache (the default), each chunk is handed to the disk
      at once (``sync_file_range``, which does not wait): the disk works
      while the next chunk is read and hashed, and the flush finds little
      left to do.
    * With ``direct`` (:data:`DIRECT_MIN` and larger), the bytes go from one
      page-aligned buffer straight to the disk (``O_DIRECT``). A gigabyte
      through the page cache must first find a gigabyte of free memory,
      which a VM's host may have taken back; ``O_DIRECT`` costs the same
      every run, and adding a 50 GB model no longer pushes everything else
      out of the page cache. For files of a few MiB it is slower (one
      synchronous write per file), hence the threshold.

    The measurements behind both routes are in docs/benchmarks.md
    ("Storage: measurements behind the code").

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
            on_chunk(n)
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
