"""Tree objects: the canonical manifest of a tracked directory.

A tree is itself an object in the store. Its bytes are canonical JSON::

    {"schema":1,"entries":[["a/x.bin","<digest>",123,false],...]}

one entry per file (relative POSIX path, digest, size, executable bit),
sorted by path, no duplicates, no file that is also a folder of another.
Equal directories give byte-identical trees and so equal digests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tether.errors import MetadataError, PathError
from tether.paths import tree_entry
from tether.storage import hashing


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    digest: str
    size: int
    executable: bool = False


@dataclass(frozen=True)
class Tree:
    entries: tuple[Entry, ...]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    def to_bytes(self) -> bytes:
        return serialize([[e.path, e.digest, e.size, e.executable] for e in self.entries])

    def digest(self) -> str:
        return hashing.hash_bytes(self.to_bytes())


def serialize(rows: list[list[object]]) -> bytes:
    """Canonical bytes of rows ``[path, digest, size, executable]`` sorted by path."""
    text = json.dumps({"schema": 1, "entries": rows}, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def build(entries: list[Entry], trusted: bool = False) -> Tree:
    """A tree from entries; ``trusted`` skips the checks for entries read from disk."""
    ordered = tuple(sorted(entries, key=lambda e: e.path))
    if not trusted:
        _validate_order(ordered, "tree")
    return Tree(ordered)


def _validate_order(entries: tuple[Entry, ...], source: str) -> None:
    prev: str | None = None
    folders: set[str] = set()
    for e in entries:
        if prev is not None and e.path <= prev:
            raise MetadataError(f"{source}: entries not sorted or duplicated at {e.path!r}")
        prev = e.path
        parts = e.path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = folders.intersection(e.path for e in entries)
    if clash:
        raise MetadataError(f"{source}: {min(clash)!r} is both a file and a folder")


def parse(data: bytes, source: str) -> Tree:
    """Parse and validate tree bytes; every path is untrusted input."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MetadataError(f"{source}: tree object is not valid JSON") from None
    if (
        not isinstance(doc, dict)
        or doc.get("schema") != 1
        or not isinstance(doc.get("entries"), list)
    ):
        raise MetadataError(f"{source}: tree object has no schema 1 entry list")
    entries = []
    for row in doc["entries"]:
        if not (isinstance(row, list) and len(row) == 4):
            raise MetadataError(f"{source}: malformed tree entry {row!r}")
        path, digest, size, exe = row
        try:
            tree_entry(path, source)
        except PathError as exc:
            raise MetadataError(exc.message) from None
        if not hashing.is_digest(digest) or type(size) is not int or size < 0:
            raise MetadataError(f"{source}: bad digest or size in entry {path!r}")
        if not isinstance(exe, bool):
            raise MetadataError(f"{source}: bad executable flag in entry {path!r}")
        entries.append(Entry(path, digest, size, exe))
    result = tuple(entries)
    _validate_order(result, source)
    return Tree(result)
