"""XXH3-128 content hashing: the one wrapper around the ``xxhash`` package.

Digests are 32 lower-case hex characters and every file that records one
also records ``hash: xxh3`` so another algorithm can be added later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import xxhash

ALGORITHM = "xxh3"
CHUNK = 4 << 20  # 4 MiB: large enough for full disk speed, small enough for memory
SMALL = 1 << 20  # files up to this size are read in one call

_DIGEST = re.compile(r"[0-9a-f]{32}\Z")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.match(value) is not None


def hash_bytes(data: bytes | memoryview) -> str:
    digest: str = xxhash.xxh3_128_hexdigest(data)
    return digest


def hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def hash_fd(fd: int, on_chunk: Callable[[memoryview], None] | None = None) -> tuple[str, int]:
    """Hash everything readable from ``fd``; hand each chunk to ``on_chunk`` too.

    Reading once and both hashing and writing each chunk is how ``add`` copies
    a file into the cache at disk speed while proving the copy's digest.
    """
    h = xxhash.xxh3_128()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    while True:
        n = os.readv(fd, [buf])
        if n == 0:
            break
        chunk = view[:n]
        h.update(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
        total += n
    digest: str = h.hexdigest()
    return digest, total


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size <= SMALL:  # one read, no chunk buffer to allocate
            data = os.read(fd, size + 1)
            if len(data) == size:
                return hash_bytes(data), size
            os.lseek(fd, 0, os.SEEK_SET)
        return hash_fd(fd)
    finally:
        os.close(fd)
