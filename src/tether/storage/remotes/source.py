"""Reading a cache object to upload it. Only a regular file of the size its
pointer or tree gives is read (see :mod:`~tether.storage.safeio`), and the
bytes are hashed as they are read for sending: a damaged cache object is
refused and never completed on the remote, where a later push would take it
as already there."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from tether.errors import CorruptObjectError
from tether.storage import hashing, safeio

CHUNK = 8 << 20  # one part of a multipart upload


def damaged(digest: str, why: str) -> CorruptObjectError:
    return CorruptObjectError(f"cache object {digest} is corrupt ({why}); not uploaded")


@contextlib.contextmanager
def opened(src: str, digest: str, size: int) -> Iterator[int]:
    """A read descriptor of the regular file ``src`` holding exactly ``size`` bytes."""
    with safeio.opened(src, f"cache object {digest}") as fd:
        actual = os.fstat(fd).st_size
        if actual != size:
            raise damaged(digest, f"{actual:,} bytes, not the {size:,} expected")
        yield fd


def read(src: str, digest: str, size: int) -> bytes:
    """A small cache object's bytes, refused if they do not hash to its name."""
    with opened(src, digest, size) as fd:
        data = os.read(fd, size + 1)
    if len(data) != size or hashing.hash_bytes(data) != digest:
        raise damaged(digest, "digest mismatch")
    return data


def chunks(src: str, digest: str, size: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """A cache object's bytes in chunks, hashed as they are read. The last
    chunk is held back until the whole has hashed to ``digest``; a mismatch
    raises instead, so an uploader never receives a whole corrupt object."""
    h = hashing.hasher()
    total = 0
    held: bytes | None = None
    with opened(src, digest, size) as fd:
        while data := os.read(fd, chunk):
            total += len(data)
            if total > size:
                raise damaged(digest, f"grew past the {size:,} bytes expected")
            h.update(data)
            if held is not None:
                yield held
            held = data
    if total != size or h.hexdigest() != digest:
        raise damaged(digest, "digest mismatch")
    if held is not None:
        yield held
