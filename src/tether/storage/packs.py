"""Packs: many small objects in one remote file.

On S3 every request has a fixed cost (client CPU, server CPU, latency, and a
price per request on AWS), which dominates objects of a few KiB: pushing
20,000 small files one object at a time is 20,000 PUTs. A push to a remote
with packing on (the default for every remote that is not a local folder)
uploads small objects in packs of a few MiB instead; git packs its loose
objects for the same reason. Large objects and trees stay loose, under
``objects/`` as in the cache.

Layout on a remote, beside ``objects/``::

    packs/<name>.pack   the objects' bytes, one after another
    packs/<name>.idx    "tether-pack 2 blake3" and one "<digest> <offset> <size>" line per object

``<name>`` is the BLAKE3-256 of the index bytes. The index names every object
by its digest, so it fixes the pack's content; a cached index is checked
against its name when it is read back.

Invariants:

* A pack is uploaded before its index, and S3 puts are atomic: an index on a
  remote proves that its pack is there and whole. A push interrupted between
  the two leaves an unindexed pack, which nothing reads.
* An index from a remote is untrusted input: a malformed one is refused as a
  whole, and every object read out of a pack is verified against its digest
  before it enters the cache, exactly like a loose download.
* An index is a hint, not proof: a push counts its objects as on the remote
  only when a listing of ``packs/`` shows its pack with (at least) the
  size it implies, and the index with the size of the copy read. An object listed
  by several indexes keeps every location (:class:`Packed`), and a reader
  that finds one damaged tries the next, so no index can shadow good data.
* Packs are immutable and content-named, so two machines pushing the same
  objects at once write different packs or the same bytes under the same
  name; either way every object stays readable.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from tether import atomicfile, ownfiles
from tether.errors import CorruptObjectError
from tether.storage import hashing, safeio

MAX_OBJECT = 256 << 10  # objects up to this size are packed
TARGET = 8 << 20  # a pack is closed once it holds this many bytes
MAX_ENTRIES = 8192
# what an index may claim of one object: packs hold objects up to MAX_OBJECT;
# a hostile index claiming gigabytes would make a reader fetch them
MAX_ENTRY_SIZE = 16 << 20
PREFIX = "packs/"
# the version, then the hash that names the index and the objects it lists
_HEADER = f"tether-pack 2 {hashing.ALGORITHM}\n".encode()
_HEX = hashing.HEX
_ROW = re.compile(rb"([0-9a-f]{%d}) ([0-9]{1,15}) ([0-9]{1,15})\n" % _HEX)
_BODY = re.compile(rb"(?:[0-9a-f]{%d} [0-9]{1,15} [0-9]{1,15}\n)*" % _HEX)
_NAME = re.compile(rf"[0-9a-f]{{{_HEX}}}\Z")


class Location(NamedTuple):  # a tuple: 20,000 of them are built per index read
    pack: str  # the pack's name
    offset: int
    size: int


def pack_key(name: str) -> str:
    return f"{PREFIX}{name}.pack"


def index_key(name: str) -> str:
    return f"{PREFIX}{name}.idx"


def build(objects: Iterable[tuple[str, bytes]]) -> tuple[str, bytes, bytes]:
    """(name, pack bytes, index bytes) for ``(digest, data)`` pairs."""
    lines = [_HEADER]
    chunks: list[bytes] = []
    offset = 0
    for digest, data in objects:
        lines.append(f"{digest} {offset} {len(data)}\n".encode())
        chunks.append(data)
        offset += len(data)
    index = b"".join(lines)
    return hashing.hash_bytes(index), b"".join(chunks), index


def parse_index(data: bytes, name: str) -> dict[str, Location]:
    """The entries of one index; CorruptObjectError if it is not a well-formed
    index named ``name``. (Whole-text regular expressions: a per-line Python
    loop was measurably slower, see docs/benchmarks.md.)"""
    what = f"pack index {name}"
    if hashing.hash_bytes(data) != name:
        raise CorruptObjectError(f"{what} is corrupt (digest mismatch)")
    if not data.startswith(_HEADER):
        first = data.split(b"\n", 1)[0][:40].decode("utf-8", "replace")
        raise CorruptObjectError(
            f"{what}: not a tether pack index of {hashing.ALGORITHM} ({first!r})"
        )
    body = data[len(_HEADER) :]
    if _BODY.fullmatch(body) is None:
        for number, line in enumerate(body.split(b"\n"), start=2):
            if _ROW.fullmatch(line + b"\n") is None:
                raise CorruptObjectError(f"{what}: line {number} is malformed")
        raise CorruptObjectError(f"{what}: the last line is cut short (no newline)")
    out: dict[str, Location] = {}
    end = 0
    for number, (digest, offset_text, size_text) in enumerate(_ROW.findall(body), start=2):
        offset, size = int(offset_text), int(size_text)
        if offset != end:  # objects lie back to back, in order
            raise CorruptObjectError(f"{what}: line {number} has a wrong offset")
        if size > MAX_ENTRY_SIZE:
            raise CorruptObjectError(
                f"{what}: line {number} claims an object of {size:,} bytes, more than a pack holds"
            )
        end = offset + size
        out[digest.decode()] = Location(name, offset, size)
    return out


def pack_size(entries: dict[str, Location]) -> int:
    """The size of the pack an index describes (its objects lie back to back)."""
    return sum(loc.size for loc in entries.values())


class Packed(dict[str, Location]):
    """Every packed object on a remote -> its first location (indexes taken
    in name order); :attr:`more` holds the others, where an object is in
    several packs, for a reader to try when the first is damaged;
    :attr:`broken` says, for the objects of an index whose pack is missing or
    cut short, what is wrong with it (for the error when nothing else holds
    them)."""

    def __init__(self) -> None:
        super().__init__()
        self.more: dict[str, list[Location]] = {}
        self.broken: dict[str, str] = {}

    def add(self, entries: dict[str, Location]) -> None:
        if self.keys().isdisjoint(entries):
            self.update(entries)
            return
        for digest, loc in entries.items():
            if digest in self:
                self.more.setdefault(digest, []).append(loc)
            else:
                self[digest] = loc

    def locations(self, digest: str) -> list[Location]:
        return [self[digest], *self.more.get(digest, ())]


def groups(items: list[tuple[str, int]]) -> Iterator[list[str]]:
    """Split ``(digest, size)`` pairs, in the given order, into packs."""
    group: list[str] = []
    total = 0
    for digest, size in items:
        if group and (total + size > TARGET or len(group) >= MAX_ENTRIES):
            yield group
            group, total = [], 0
        group.append(digest)
        total += size
    if group:
        yield group


def ranges(locations: list[Location], gap: int = 64 << 10) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` covering ``locations``; neighbours closer
    than ``gap`` share one range (fewer requests for a little more data)."""
    out: list[tuple[int, int]] = []
    for loc in sorted(locations, key=lambda x: x.offset):
        start, end = loc.offset, loc.offset + loc.size
        if out and start - out[-1][1] <= gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class IndexCache:
    """Pack indexes already read from any remote, in the cache's ``packs/``
    (immutable and content-named, so shared by every remote)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, name: str, size: int | None = None) -> dict[str, Location] | None:
        """The entries of a cached index; None when there is none, it is
        damaged, or (``size``: the remote copy's) its size differs."""
        try:
            data = safeio.read(self.root / f"{name}.idx", f"pack index {name}", safeio.MAX_KEY)
        except (OSError, CorruptObjectError):
            return None
        if size is not None and len(data) != size:
            return None  # the remote's copy is another: read that one
        try:
            return parse_index(data, name)
        except CorruptObjectError:
            return None  # damaged locally: read it from the remote again

    def put(self, name: str, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a cache: else read from the remote again
            atomicfile.write(ownfiles.real_dir(self.root, self.root.parent) / f"{name}.idx", data)


def names_in(keys: Iterable[str]) -> set[str]:
    """Pack names whose index is among ``keys`` (remote keys under packs/)."""
    out = set()
    for key in keys:
        base = key.rsplit("/", 1)[-1]
        if base.endswith(".idx") and _NAME.match(base[:-4]):
            out.add(base[:-4])
    return out
