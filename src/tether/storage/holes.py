"""Holes in a remote: objects some data needs that the remote lacks or holds
damaged, found by listings (and, ``deep``, by downloading and hashing every
object), and filled from the cache.

Nothing the remote holds vouches for anything else: a tree there does not
prove its files, nor an index its pack; every object is looked up on its own.
A deep check reads the remote's pack indexes afresh (not the cache's copies)
and hashes each object where a pull would read it, trying its other copies
when one is damaged, so an object counts as whole when a pull would get it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tether.artifact import Artifact, Kind
from tether.errors import CorruptObjectError, TetherError
from tether.storage import hashing, tree
from tether.storage.odb import ObjectDB
from tether.storage.remotes import Remote
from tether.storage.transfer import (
    Bars,
    Direction,
    Stats,
    download,
    no_bars,
    pack_index,
    restore,
    retrying,
    survey,
)
from tether.storage.writer import Writer


class Problem(StrEnum):
    MISSING = "missing"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class Hole:
    digest: str
    name: str  # the path that needs it (for a folder's tree: the folder)
    tree: bool
    problem: Problem
    reason: str


@dataclass
class Needs:
    """Every object some roots use: files (digest -> (size, name)) and trees
    (digest -> (the files it lists, name)); trees neither the cache nor the
    remote could give are holes already."""

    files: dict[str, tuple[int, str]]
    trees: dict[str, tuple[set[str], str]]
    holes: dict[str, Hole]

    @property
    def count(self) -> int:
        return len(self.files.keys() | self.trees.keys() | self.holes.keys())


def needs(
    odb: ObjectDB, remote: Remote, roots: list[Artifact], jobs: int, bars: Bars = no_bars
) -> Needs:
    """What ``roots`` use. A folder's tree missing from the cache is fetched
    (verified) from the remote first: its files are known only from it."""
    out = Needs({}, {}, {})
    absent = [r for r in roots if r.kind is Kind.DIR and not odb.exists(r.digest)]
    if absent:
        stats = Stats(Direction.FETCH, remote.name)
        with odb.writer() as writer:
            items = {r.digest: (0, r.path) for r in absent}
            download(remote, writer, items, stats, jobs, bars)
        for r in absent:
            if r.path in stats.failed:
                problem = Problem.MISSING if r.path in stats.absent else Problem.DAMAGED
                reason = (
                    f"{stats.failed[r.path]}; not in the cache either, so its files are unknown"
                )
                out.holes[r.digest] = Hole(r.digest, r.path, True, problem, reason)
    for r in roots:
        if r.digest in out.holes:
            continue
        if r.kind is Kind.FILE:
            out.files.setdefault(r.digest, (r.size, r.path))
            continue
        try:
            entries = tree.parse(odb.read(r.digest, r.path), r.path).entries
        except TetherError as exc:
            out.holes[r.digest] = Hole(r.digest, r.path, True, Problem.DAMAGED, exc.message)
            continue
        out.trees[r.digest] = ({e.digest for e in entries}, r.path)
        for e in entries:
            out.files.setdefault(e.digest, (e.size, f"{r.path}/{e.path}"))
    return out


def check(
    odb: ObjectDB,
    remote: Remote,
    wanted: Needs,
    jobs: int,
    deep: bool,
    scratch: Path,
    bars: Bars = no_bars,
) -> dict[str, Hole]:
    """The holes among ``wanted``: by listings, then (``deep``) by reading
    every object found there and hashing it. ``scratch``: an empty folder
    for the deep check's temporaries (deleted again)."""
    retrying(remote, remote.probe)
    names: dict[str, tuple[int | None, str, bool]] = {
        d: (size, name, False) for d, (size, name) in wanted.files.items()
    }
    names.update((d, (odb.size(d), name, True)) for d, (_, name) in wanted.trees.items())
    sizes = {d: v[0] for d, v in names.items()}
    found = survey(remote, sizes, jobs, pack_index(odb, remote, jobs))
    holes = dict(wanted.holes)
    for d in found.missing:
        holes[d] = Hole(d, names[d][1], names[d][2], Problem.MISSING, "not on the remote")
    for d in found.damaged:
        size = sizes[d]
        why = f"on the remote with another size than its {size:,} bytes"
        holes[d] = Hole(d, names[d][1], names[d][2], Problem.DAMAGED, why)
    if deep:
        rest = {d: (v[0] or 0, d) for d, v in names.items() if d not in holes}
        for d, why, gone in _read_all(remote, rest, jobs, scratch, bars):
            problem = Problem.MISSING if gone else Problem.DAMAGED
            holes[d] = Hole(d, names[d][1], names[d][2], problem, why)
    return holes


class _Hasher(Writer):
    """A writer that keeps nothing: each object is hashed (by the download
    that feeds it) and dropped, so a deep check needs no room for the data."""

    def put_verified(self, digest: str, data: bytes, what: str) -> None:
        if hashing.hash_bytes(data) != digest:
            raise CorruptObjectError(f"{what} is corrupt (digest mismatch)")

    def _queue(self, tmp: str, digest: str, size: int) -> None:
        self._unlink(tmp)


def _read_all(
    remote: Remote, items: dict[str, tuple[int, str]], jobs: int, scratch: Path, bars: Bars
) -> list[tuple[str, str, bool]]:
    """(digest, why, missing) for each of ``items`` (named by digest) that
    does not download whole. The remote's indexes are read afresh into
    ``scratch``, never trusted from the cache."""
    stats = Stats(Direction.FETCH, remote.name)
    try:
        with _Hasher(ObjectDB(scratch)) as hasher:
            download(remote, hasher, items, stats, jobs, bars)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [(d, why, d in stats.absent) for d, why in stats.failed.items()]


def repair(
    odb: ObjectDB,
    remote: Remote,
    wanted: Needs,
    holes: dict[str, Hole],
    jobs: int,
    bars: Bars = no_bars,
) -> Stats:
    """Put back from the cache every hole it can (files, then trees), each
    over whatever copy the remote holds; ``Stats.failed`` names the rest."""
    files = {d: wanted.files[d] for d in holes if d in wanted.files and d not in wanted.trees}
    trees = {d: wanted.trees[d] for d in holes if d in wanted.trees}
    stats = restore(odb, remote, files, trees, jobs, bars)
    for d, hole in holes.items():
        if hole.tree and d not in wanted.trees:
            stats.failed.setdefault(hole.name, "its tree is in neither the cache nor the remote")
    return stats
