"""What tether tracks: a file or a directory at a workspace path, named by the
digest of its content (a file's blob, a directory's tree object).

One value type for every place that handles tracked data: a pointer file
(:mod:`tether.pointer`) and a tether.lock entry (:mod:`tether.pipeline.lock`)
are ways of storing an Artifact; hashing a workspace path gives one; and
transfers to and from remotes move the objects of Artifacts. Stdlib only, so
that every layer, storage included, can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What an artifact's digest names; its value is what files on disk say."""

    FILE = "file"
    DIR = "dir"


# The size of an object fetched by its digest alone: not known. Transfers then
# neither check the size nor count the object's bytes in progress.
UNKNOWN_SIZE = 0


@dataclass(frozen=True)
class Artifact:
    """``path`` is workspace-relative (POSIX); ``size`` is the bytes of the
    file, or of all files of the directory; ``files`` is a directory's file
    count where known (None for a file)."""

    path: str
    kind: Kind
    digest: str
    size: int
    files: int | None = None


def object_named(path: str, digest: str) -> Artifact:
    """One object (a blob, or a tree itself rather than the files it lists)
    known only by its digest: a transfer fetches exactly that object, and
    ``path`` names it in messages."""
    return Artifact(path, Kind.FILE, digest, UNKNOWN_SIZE)
