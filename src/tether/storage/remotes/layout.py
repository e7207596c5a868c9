"""The layout marker at the root of every remote, as of every cache:
``.tether-cache``, holding ``tether-cache <version>`` and ``hash: <algorithm>``.

A push writes it before its first object when a remote has none; every
command reads it before its first read or write of a remote's data. A
marker that names a newer layout or another hash algorithm stops the
command (one error, nothing read or written): a tether that wrote objects in
a format it does not know, or named them by another digest, would damage the
remote for every client."""

from __future__ import annotations

from tether.errors import RemoteError
from tether.storage import hashing, odb
from tether.storage.remotes.spec import RemoteSpec

MARKER = odb.MARKER  # the same name and text as a cache's
TEXT = odb.MARKER_TEXT.encode()
VERSION = 1
_UPGRADE = "use a tether that reads it (`pip install -U tether`), or another remote"


def check(spec: RemoteSpec, data: bytes) -> bool:
    """Refuse a remote whose marker (``data``) this tether cannot honour. True:
    the marker says XXH3, as every marker written before BLAKE3 names did.
    Such a remote is used as it is (old names are 32 hex, new ones 64: the two
    never meet, and nothing is looked up by an old name) and its marker is
    brought up to date by the first push."""
    where = f"remote {spec.name!r} ({spec.url})"
    lines = data.decode("utf-8", "replace").splitlines()
    head = lines[0].split() if lines else []
    if len(head) != 2 or head[0] != "tether-cache" or not head[1].isdigit():
        raise RemoteError(
            f"{where}: its layout marker {MARKER} is not one tether wrote; nothing was read "
            "or written",
            "check that the url names a tether remote",
        )
    version = int(head[1])
    if version > VERSION:
        raise RemoteError(
            f"{where} has layout version {version}, newer than the version {VERSION} this "
            "tether reads and writes; nothing was read or written",
            _UPGRADE,
        )
    algorithm = next((ln[5:].strip() for ln in lines[1:] if ln.startswith("hash:")), None)
    if algorithm == hashing.LEGACY:
        return True
    if algorithm != hashing.ALGORITHM:
        raise RemoteError(
            f"{where} names its objects by {algorithm or 'an unnamed'} digests, this tether "
            f"by {hashing.ALGORITHM}; nothing was read or written",
            _UPGRADE,
        )
    return False
