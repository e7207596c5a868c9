"""Content hashing: the one wrapper around the hash packages.

Objects are named by BLAKE3-256, a cryptographic hash: nobody can craft two
files with the same name, so a remote anyone can push to cannot swap one
object for another (see docs/design.md, "Threat model"). Digests are 64
lower-case hex characters, and every file that records one also records
``hash: blake3``; a record naming another algorithm is refused
(:func:`check`).

XXH3-128 (:func:`fast_bytes`) stays where speed matters and no trust is
involved: fingerprints of stat fields in the state database, never a name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Protocol

import xxhash
from blake3 import blake3

from tether.errors import MetadataError, OldHashError

ALGORITHM = "blake3"
HEX = 64  # characters in a digest
LEGACY = "xxh3"  # objects named by XXH3-128 (32 hex) before; `tether migrate` converts them
CHUNK = 4 << 20  # 4 MiB: large enough for full disk speed, small enough for memory
SMALL = 1 << 20  # files up to this size are read in one call

_DIGEST = re.compile(rf"[0-9a-f]{{{HEX}}}\Z")


class Hasher(Protocol):
    """What :func:`hasher` returns: ``update`` then ``hexdigest``."""

    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.match(value) is not None


def check(algorithm: object, what: str, error: type[MetadataError] = MetadataError) -> None:
    """Refuse a record of ``what`` that names an algorithm other than ours:
    :class:`OldHashError` for the older XXH3, ``error`` for anything else."""
    if algorithm == ALGORITHM:
        return
    if algorithm == LEGACY:
        raise OldHashError(
            f"{what}: written with the older {LEGACY} hash",
            f"run `tether migrate` to rehash the workspace with {ALGORITHM}",
        )
    shown = repr(algorithm) if len(repr(algorithm)) <= 40 else repr(algorithm)[:37] + "..."
    raise error(f"{what}: unsupported hash {shown} (expected {ALGORITHM})")


def hash_bytes(data: bytes | memoryview) -> str:
    return blake3(data).hexdigest()


def hasher() -> Hasher:
    """An incremental hasher, on the calling thread: BLAKE3's own threads
    (``max_threads``) would be lost across the ``fork`` of parallel ``add``
    workers, leaving a child waiting for them forever, and at 3.7 GB/s on one
    core the hash already outruns the disk a copy waits for."""
    h: Hasher = blake3()
    return h


def fast_bytes(data: bytes) -> str:
    """XXH3-128 of ``data``: for fingerprints nobody else supplies, never a
    name (and to check an old name before `tether migrate` renames its content)."""
    digest: str = xxhash.xxh3_128_hexdigest(data)
    return digest


def legacy_hasher() -> Hasher:
    """XXH3-128, the algorithm that named objects before BLAKE3: only to check
    an old digest before `tether migrate` renames its content."""
    h: Hasher = xxhash.xxh3_128()
    return h


def hash_fd(fd: int, on_chunk: Callable[[memoryview], None] | None = None) -> tuple[str, int]:
    """Hash everything readable from ``fd``; hand each chunk to ``on_chunk`` too.

    Reading once and both hashing and writing each chunk is how ``add`` copies
    a file into the cache at disk speed while proving the copy's digest.
    """
    h = hasher()
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
    return h.hexdigest(), total


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
