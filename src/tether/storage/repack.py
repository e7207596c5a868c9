"""Repacking: the live objects of a pack rewritten into new packs, so the old
one can go (``tether gc --remote``). Each new pack is written before its
index, both before the caller deletes the old index and pack: a reader finds
every live object in one pack or the other at any moment."""

from __future__ import annotations

from tether.errors import CorruptObjectError
from tether.storage import hashing, packs
from tether.storage.remotes import Remote
from tether.storage.transfer import retrying


def rewrite(remote: Remote, name: str, live: dict[str, packs.Location]) -> None:
    """Copy the objects ``live`` of pack ``name`` into new packs on ``remote``,
    each verified against its digest (a damaged one stops it, nothing deleted)."""
    order = sorted(live, key=lambda d: live[d].offset)
    spans = [(live[d].offset, live[d].offset + live[d].size) for d in order]
    blobs = retrying(remote, lambda: remote.read_ranges(packs.pack_key(name), spans))
    objects = []
    for digest, data in zip(order, blobs, strict=True):
        if hashing.hash_bytes(data) != digest:
            raise CorruptObjectError(
                f"object {digest} in pack {name} on remote {remote.name!r} is corrupt; "
                "not repacked, nothing deleted",
                "push it again from a clone whose cache holds it",
            )
        objects.append((digest, data))
    for group in packs.groups([(d, len(b)) for d, b in objects]):
        chosen = set(group)
        pname, pack, index = packs.build([(d, b) for d, b in objects if d in chosen])
        retrying(remote, lambda: remote.write_key(packs.pack_key(pname), pack))  # noqa: B023
        remote.close()
        retrying(remote, lambda: remote.write_key(packs.index_key(pname), index))  # noqa: B023
        remote.close()
