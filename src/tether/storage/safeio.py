"""Reading object files that a remote (or anyone with access to the cache) controls.

A folder remote is a tree of files someone else may have written: in an
object's place there may be a FIFO (a read blocks forever), a symlink to
``/dev/zero`` (a read never ends), a device, a folder, or a sparse file of many
gigabytes. Every read of an object, pack or key file goes through here:

* the file is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink is refused,
  a FIFO does not block the open) and checked on the open descriptor to be a
  regular file; anything else is a :class:`~tether.errors.CorruptObjectError`
  naming the path, and nothing of it is stored;
* reads are bounded by what the caller expects: an object larger than its
  tree or pointer says is corrupt and is not read past that size; a pack is
  read only in the byte ranges its index names.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

from tether import ownfiles
from tether.errors import CorruptObjectError

MAX_KEY = 64 << 20  # pack indexes and run-cache entries, which are far smaller
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def not_a_file(path: str | os.PathLike[str], what: str, kind: str) -> CorruptObjectError:
    return CorruptObjectError(f"{what}: {os.fspath(path)} is {kind}, not a file; not read")


def open_regular(path: str | os.PathLike[str], what: str) -> int:
    """A blocking read descriptor of the regular file ``path``. FileNotFoundError
    if there is none; CorruptObjectError if a symlink, FIFO, device or folder
    sits there (never followed, never waited on)."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise not_a_file(path, what, "a symlink") from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
            raise not_a_file(path, what, "a socket") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_a_file(path, what, ownfiles.kind(mode))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def opened(path: str | os.PathLike[str], what: str, expected: int | None = None) -> Iterator[int]:
    """:func:`open_regular` as a context manager; with ``expected`` (a size a
    tree or pointer gives), a file larger than that is refused before it is read."""
    fd = open_regular(path, what)
    try:
        if expected is not None:
            check_size(os.fstat(fd).st_size, expected, what)
        yield fd
    finally:
        os.close(fd)


def check_size(actual: int, expected: int, what: str) -> None:
    if actual > expected:
        raise CorruptObjectError(
            f"{what} is corrupt: {actual:,} bytes, more than the {expected:,} expected; not read"
        )


def read(path: str | os.PathLike[str], what: str, limit: int) -> bytes:
    """The whole regular file ``path``, refused (unread) if larger than ``limit``."""
    with opened(path, what, limit) as fd:
        chunks = []
        left = limit + 1  # one more: a file that grew since its stat is caught too
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    data = b"".join(chunks)
    check_size(len(data), limit, what)
    return data
