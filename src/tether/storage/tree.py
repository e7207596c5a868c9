"""Tree objects: the canonical manifest of a tracked directory.

A tree is itself an object in the store. Its bytes are canonical JSON::

    {"schema":1,"hash":"blake3","entries":[["a/x.bin","<digest>",123,false],...]}

``hash`` names the algorithm of every digest in it (a tree without it was
written with XXH3-128 and is refused, pointing to ``tether migrate``); one
entry per file (relative POSIX path, digest, size, executable bit),
sorted by path, no duplicates, no file that is also a folder of another.
Equal directories give byte-identical trees and so equal digests.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

from tether.errors import MetadataError, PathError
from tether.paths import CLEAN_ENTRY, tree_entry
from tether.storage import hashing
from tether.untrusted import MAX_SIZE


@dataclass(frozen=True, slots=True)
class Entry:
    """One file listed inside a tree object: its path relative to the tree,
    digest, size and executable bit. Not an :class:`~tether.artifact.Artifact`:
    an entry is a part of a tracked directory, never tracked on its own."""

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
    doc = {"schema": 1, "hash": hashing.ALGORITHM, "entries": rows}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def build(entries: list[Entry], trusted: bool = False) -> Tree:
    """A tree from entries; ``trusted`` skips the checks for entries read from disk."""
    ordered = tuple(sorted(entries, key=lambda e: e.path))
    if not trusted:
        _validate_order(ordered, "tree")
    return Tree(ordered)


def _validate_order(entries: tuple[Entry, ...], source: str) -> None:
    """Sorted, no duplicates, no path that is a file and a folder at once.
    (Linear: each folder is looked up once, not once per file below it.)"""
    paths = [e.path for e in entries]
    for prev, path in itertools.pairwise(paths):
        if path <= prev:
            raise MetadataError(f"{source}: entries not sorted or duplicated at {path!r}")
    files = set(paths)
    folders: set[str] = set()
    for path in paths:
        folder = path.rpartition("/")[0]
        while folder and folder not in folders:
            if folder in files:
                raise MetadataError(f"{source}: {folder!r} is both a file and a folder")
            folders.add(folder)
            folder = folder.rpartition("/")[0]


def parse(data: bytes, source: str) -> Tree:
    """Parse and validate tree bytes; every path is untrusted input."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MetadataError(f"{source}: tree object is not valid JSON") from None
    except RecursionError:  # an entry nested thousands deep
        raise MetadataError(f"{source}: tree object is nested too deeply") from None
    if (
        not isinstance(doc, dict)
        or doc.get("schema") != 1
        or not isinstance(doc.get("entries"), list)
    ):
        raise MetadataError(f"{source}: tree object has no schema 1 entry list")
    hashing.check(doc.get("hash", hashing.LEGACY), f"{source}: tree object")
    entries = []
    is_digest = hashing.is_digest
    for row in doc["entries"]:
        if type(row) is not list or len(row) != 4:
            raise MetadataError(f"{source}: malformed tree entry {row!r}")
        path, digest, size, exe = row
        # one regular expression per path for the common ASCII names; the rest
        # (and every refusal, with its reason) through the confinement helper
        if type(path) is not str or not CLEAN_ENTRY.fullmatch(path):
            try:
                tree_entry(path, source)
            except PathError as exc:
                raise MetadataError(exc.message, exc.hint or None) from None
        if not is_digest(digest) or type(size) is not int or not 0 <= size <= MAX_SIZE:
            raise MetadataError(f"{source}: bad digest or size in entry {path!r}")
        if type(exe) is not bool:
            raise MetadataError(f"{source}: bad executable flag in entry {path!r}")
        entries.append(Entry(path, digest, size, exe))
    result = tuple(entries)
    _validate_order(result, source)
    return Tree(result)
