"""Pointer files: ``<path>.tether`` beside a tracked path, committed to git;
each stores one :class:`~tether.artifact.Artifact`.

A pointer file is untrusted input (it comes with any clone), so parsing
checks every field and confines the path to the workspace::

    schema: 1
    path: raw            # relative to this file's folder
    kind: dir            # file | dir
    hash: blake3
    digest: 9b1f0c2e…                # 64 lower-case hex
    size: 81234567
    files: 20000         # dirs only
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether import atomicfile, paths, untrusted, yamlio
from tether.artifact import Artifact, Kind
from tether.errors import MetadataError, PathError
from tether.storage import hashing

SUFFIX = ".tether"
_KEYS = ("schema", "path", "kind", "hash", "digest", "size", "files")


@dataclass(frozen=True, kw_only=True)
class Pointer(Artifact):
    """An artifact and the file that records it, both workspace-relative: a
    pointer file, or ``tether.lock`` for a cached stage output."""

    source: str

    @classmethod
    def of(cls, artifact: Artifact, source: str) -> Pointer:
        """``artifact`` as recorded in ``source``."""
        a = artifact
        return cls(a.path, a.kind, a.digest, a.size, a.files, source=source)

    def to_yaml(self) -> str:
        doc: dict[str, Any] = {
            "schema": 1,
            "path": posixpath.relpath(self.path, posixpath.dirname(self.source) or "."),
            "kind": self.kind.value,
            "hash": hashing.ALGORITHM,
            "digest": self.digest,
            "size": self.size,
        }
        if self.kind is Kind.DIR:
            doc["files"] = self.files
        return yamlio.dumps(doc)


def source_for(path: str) -> str:
    """The pointer file that tracks ``path``."""
    return path + SUFFIX


def parse(root: Path | None, source: str, text: str) -> Pointer:
    """``root`` None: a pointer read at another revision, its path checked as text."""
    data = yamlio.loads(text, source, aliases=False)
    if not isinstance(data, dict):
        raise MetadataError(f"{source}: expected a mapping of pointer fields")
    unknown = sorted(set(map(str, data)) - set(_KEYS))
    if unknown:
        raise MetadataError(f"{source}: unknown field(s) {', '.join(unknown)}")
    if data.get("schema") != 1:
        raise MetadataError(f"{source}: schema must be 1, got {data.get('schema')!r}")
    hashing.check(data.get("hash"), source)
    raw_kind = data.get("kind")
    if raw_kind not in ("file", "dir"):
        raise MetadataError(f"{source}: kind must be file or dir, got {raw_kind!r}")
    kind = Kind(raw_kind)
    digest = data.get("digest")
    if not hashing.is_digest(digest):
        raise MetadataError(
            f"{source}: digest {digest!r} is not {hashing.HEX} lower-case hex characters"
        )
    size = _count(data.get("size"), "size", source)
    files = data.get("files")
    if kind is Kind.DIR:
        files = _count(files, "files", source)
    if kind is Kind.FILE and files is not None:
        raise MetadataError(f"{source}: a file pointer has no files count")
    try:
        path = paths.from_metadata(root, posixpath.dirname(source), data.get("path"), source)
    except PathError as exc:
        raise MetadataError(
            exc.message, "a pointer's path must stay inside the workspace"
        ) from None
    return Pointer(path, kind, str(digest), size, files, source=source)


def _count(value: Any, field: str, source: str) -> int:
    if type(value) is not int or not 0 <= value <= untrusted.MAX_SIZE:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise MetadataError(f"{source}: {field} must be an integer from 0 to 2**63-1, got {shown}")
    return value


def check_data(p: Pointer, size: int, files: int | None = None) -> None:
    """Refuse a pointer whose size (or file count) is not its data's: the
    digest names the data, so a field that disagrees is corrupt metadata."""
    said = []
    if size != p.size:
        said.append(f"size {p.size:,} where its data holds {size:,} bytes")
    if files is not None and p.kind is Kind.DIR and files != p.files:
        said.append(f"files {p.files:,} where its tree lists {files:,}")
    if said:
        raise MetadataError(f"{p.source}: says {' and '.join(said)} (corrupt metadata)")


def load(root: Path, source: str) -> Pointer:
    try:
        text = untrusted.read_text_in(root, source)
    except FileNotFoundError:
        raise MetadataError(f"{source}: no such pointer file", "") from None
    except IsADirectoryError:
        raise MetadataError(f"{source}: a folder where a pointer file should be") from None
    return parse(root, source, text)


def write(root: Path, pointer: Pointer) -> None:
    atomicfile.write(root / pointer.source, pointer.to_yaml())
