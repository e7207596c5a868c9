"""Moving objects between the cache and a remote: only what is missing,
many at once, verified, retried, resumable.

Invariants (see docs/design.md, "Remotes"):

* A tree object is uploaded only after every object it lists is on the
  remote. So a tree found on a remote proves its files are there, and a push
  that finds a directory's tree skips the directory without listing it.
* A download enters the cache only once its bytes hash to its name; a
  corrupt or truncated remote object is reported by name and never stored.
* Nothing is published under a final name until it is whole (temp + rename
  locally; S3 puts are atomic), so an interrupted transfer leaves at most
  temporaries, and running it again moves only what is still missing.
* Small objects go to remotes with packing on in packs (:mod:`packs`), each
  pack before its index; what a remote holds is its loose objects plus every
  object its indexes list.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from tether import units
from tether.artifact import Artifact, Kind
from tether.errors import (
    CorruptObjectError,
    MissingObjectError,
    RemoteError,
    TetherError,
    TransientRemoteError,
)
from tether.storage import packs, tree
from tether.storage.odb import ObjectDB
from tether.storage.remotes import Remote, classify, is_bucket_missing, layout
from tether.storage.writer import TRANSFER, Writer

T = TypeVar("T")
RETRIES = 3
BACKOFF = 0.25  # seconds, doubled per retry
_COUNTING = threading.Lock()  # Stats counters are bumped from transfer threads
PACK_JOBS = 8  # packs in flight at once: bounds memory (8 x 8 MiB)


class Bar(Protocol):
    """A progress bar for one transfer: objects and bytes done."""

    def advance(self, files: int, nbytes: int) -> None: ...


# Opens a bar for (description, objects, bytes): how a transfer reports progress.
Bars = Callable[[str, int, int], AbstractContextManager[Bar]]


class _NoBar:
    def advance(self, files: int, nbytes: int) -> None:
        return


@contextmanager
def no_bars(_description: str, _files: int, _nbytes: int) -> Iterator[Bar]:
    """Report progress nowhere (the default)."""
    yield _NoBar()


class Direction(StrEnum):
    """Which way objects move; the value starts the summary line (``push origin: …``)."""

    PUSH = "push"
    FETCH = "fetch"


@dataclass
class Stats:
    direction: Direction
    remote: str
    moved: int = 0
    present: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    absent: set[str] = field(default_factory=set)  # of failed: the remote has no such object

    def moved_one(self, count: int, nbytes: int) -> None:
        """Count objects that arrived (called from many transfer threads)."""
        with _COUNTING:
            self.moved += count
            self.bytes += nbytes

    def summary(self) -> str:
        """Counted in objects (files and folder trees) both ways, so a second
        push reports as already there what the first uploaded."""
        verb = "uploaded" if self.direction is Direction.PUSH else "downloaded"
        line = (
            f"{self.direction} {self.remote}: {self.moved} {verb}, {self.present} already there, "
            f"{units.size(self.bytes)} in {self.seconds:.1f} s"
        )
        if self.failed:
            line += f", {len(self.failed)} failed"
        return line


def retrying(remote: Remote, fn: Callable[[], T]) -> T:
    """Run ``fn``, retrying transient failures with backoff; permanent ones raise."""
    delay = BACKOFF
    for attempt in range(RETRIES):
        try:
            return fn()
        except FileNotFoundError as exc:
            if is_bucket_missing(exc):
                raise classify(remote.spec, exc) from exc
            raise
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if isinstance(exc, TetherError) and not isinstance(exc, TransientRemoteError):
                raise  # says what failed already: a full local disk is not the remote's fault
            err = classify(remote.spec, exc)
            if not isinstance(err, TransientRemoteError):
                raise err from exc
            if attempt == RETRIES - 1:  # retried enough: stop the whole transfer
                raise RemoteError(err.message, err.hint) from exc
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def prepare(remote: Remote, write: bool) -> None:
    """Before a command's first read or write of the remote: it answers (a
    missing bucket or folder is one clear error) and its layout marker names a
    format this tether honours. ``write``: a remote without a marker gets one."""
    retrying(remote, remote.probe)
    marker = retrying(remote, lambda: remote.read_key(layout.MARKER))
    if marker is not None:
        layout.check(remote.spec, marker)
    elif write:
        retrying(remote, lambda: remote.write_key(layout.MARKER, layout.TEXT))


def missing(
    remote: Remote,
    digests: Iterable[str],
    jobs: int,
    packed: Mapping[str, packs.Location] | None = None,
) -> set[str]:
    """Which of ``digests`` the remote lacks, given its ``packed`` objects. Of
    the rest, a two-hex prefix holding several candidates is listed once; a lone
    candidate gets one existence check."""
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for d in set(digests):
        if packed is None or d not in packed:
            by_prefix[d[:2]].append(d)
    listed = sorted(p for p, ds in by_prefix.items() if len(ds) > 1)
    singles = [ds[0] for ds in by_prefix.values() if len(ds) == 1]
    present: dict[str, set[str]] = {}

    def list_one(prefix: str) -> None:
        present[prefix] = retrying(remote, lambda: remote.list_prefix(prefix))

    found: set[str] = set()

    def check_one(digest: str) -> None:
        if retrying(remote, lambda: remote.exists(digest)):
            found.add(digest)

    remote.run_all(list_one, listed, jobs)
    remote.run_all(check_one, singles, jobs)
    out = {d for p in listed for d in by_prefix[p] if d not in present[p]}
    out.update(d for d in singles if d not in found)
    return out


def pack_index(odb: ObjectDB, remote: Remote, jobs: int) -> dict[str, packs.Location]:
    """Every packed object on the remote. Its indexes are listed (one request
    per 1,000 packs); those not read before are fetched once and kept in the
    cache's ``packs/``. A damaged index is ignored: its objects count as
    missing, so a push uploads them again."""
    names = packs.names_in(retrying(remote, lambda: remote.list_keys("packs")))
    cache = packs.IndexCache(odb.root / "packs")
    found: dict[str, dict[str, packs.Location]] = {}
    unread = []
    for name in sorted(names):
        entries = cache.get(name)
        if entries is None:
            unread.append(name)
        else:
            found[name] = entries

    def read(name: str) -> None:
        try:  # an index that is no file, too large or malformed: as if there were none
            data = retrying(remote, lambda: remote.read_key(packs.index_key(name)))
            if data is None:
                return
            found[name] = packs.parse_index(data, name)
        except CorruptObjectError:
            return
        cache.put(name, data)

    remote.run_all(read, unread, jobs)
    out: dict[str, packs.Location] = {}
    for name in sorted(found):
        out.update(found[name])
    return out


def _tree_entries(odb: ObjectDB, root: Artifact) -> list[tree.Entry]:
    return list(tree.parse(odb.read(root.digest, root.path), root.path).entries)


def _entry_digests(odb: ObjectDB, root: Artifact) -> set[str]:
    try:
        return {e.digest for e in _tree_entries(odb, root)}
    except TetherError:
        return set()


class _Mover:
    """Runs one kind of transfer over many objects with a progress bar."""

    def __init__(self, remote: Remote, stats: Stats, jobs: int, bars: Bars) -> None:
        self.remote = remote
        self.stats = stats
        self.jobs = jobs
        self.bars = bars

    def run(
        self, items: dict[str, tuple[int, str]], one: Callable[[str, int], None], label: str
    ) -> set[str]:
        """Move each digest -> (size, name); returns the digests that made it."""
        done: set[str] = set()
        total_bytes = sum(size for size, _ in items.values())
        with self.bars(label, len(items), total_bytes) as bar:

            def move(digest: str) -> None:
                size, name = items[digest]
                try:
                    retrying(self.remote, lambda: one(digest, size))
                except CorruptObjectError as exc:
                    self.stats.failed[name] = exc.message
                except FileNotFoundError:
                    self.stats.failed[name] = f"object {digest} is missing on the remote"
                    self.stats.absent.add(name)
                else:
                    done.add(digest)
                    self.stats.moved_one(1, size)
                bar.advance(1, size)

            self.remote.run_all(move, sorted(items), self.jobs)
        return done


def _known_on_remote(
    odb: ObjectDB,
    remote: Remote,
    previous: dict[str, str],
    r: Artifact,
    jobs: int,
    packed: Mapping[str, packs.Location],
) -> set[str]:
    """Objects of the tree this path had when last pushed to this remote, if that
    tree is still there: by the tree invariant its files are too, so an
    incremental push checks only what the new tree adds."""
    old = previous.get(r.path)
    if not old or old == r.digest or not odb.exists(old) or missing(remote, [old], jobs, packed):
        return set()
    try:
        return {e.digest for e in _tree_entries(odb, replace(r, digest=old))}
    except TetherError:
        return set()


def _push_packs(
    odb: ObjectDB,
    remote: Remote,
    items: dict[str, tuple[int, str]],
    stats: Stats,
    jobs: int,
    bars: Bars,
) -> set[str]:
    """Upload small objects in packs, ordered by path so a folder's files share
    packs (a later partial pull reads fewer, closer ranges), then by digest
    (``push -A`` has several objects per path): the same objects always make
    the same packs, under the same names."""
    order = sorted(items, key=lambda d: (items[d][1], d))
    batches = list(packs.groups([(d, items[d][0]) for d in order]))
    done: set[str] = set()
    total = sum(size for size, _ in items.values())
    cache = packs.IndexCache(odb.root / "packs")  # the next push need not read them back
    with bars(f"push {remote.name} (packed)", len(items), total) as bar:

        def one(group: list[str]) -> None:
            objects = []
            for digest in group:
                name = items[digest][1]
                try:
                    objects.append((digest, odb.read(digest, name)))
                except (CorruptObjectError, MissingObjectError) as exc:
                    stats.failed[name] = exc.message
            if objects:
                pname, pack, index = packs.build(objects)
                retrying(remote, lambda: remote.write_key(packs.pack_key(pname), pack))
                retrying(remote, lambda: remote.write_key(packs.index_key(pname), index))
                cache.put(pname, index)
                done.update(d for d, _ in objects)
                stats.moved_one(len(objects), len(pack))
            bar.advance(len(group), sum(items[d][0] for d in group))

        remote.run_all(one, batches, min(jobs, PACK_JOBS))
    return done


def _take_small(
    odb: ObjectDB, remote: Remote, todo: dict[str, tuple[int, str]], stats: Stats
) -> dict[str, tuple[int, str]]:
    """Move the objects that go into packs out of ``todo`` (and the ones the
    cache lacks into ``stats.failed``)."""
    small: dict[str, tuple[int, str]] = {}
    for digest, (_, name) in list(todo.items()):
        try:  # the size on disk, not the one a (possibly hostile) tree claims
            size = os.stat(odb.file(digest)).st_size
        except OSError:
            stats.failed[name] = f"not in the cache ({digest}); run `tether fsck` or re-add it"
            del todo[digest]
            continue
        if remote.spec.packs and size <= packs.MAX_OBJECT:
            small[digest] = (size, name)
            del todo[digest]
    return small


def push(
    odb: ObjectDB,
    remote: Remote,
    roots: list[Artifact],
    jobs: int,
    previous: dict[str, str] | None = None,
    bars: Bars = no_bars,
) -> Stats:
    """Upload what the remote lacks. ``previous``: path -> the tree digest last
    pushed for it to this remote (a hint; verified on the remote before use);
    ``bars``: how to show progress."""
    stats = Stats(Direction.PUSH, remote.name)
    start = time.monotonic()
    prepare(remote, write=True)
    packed = pack_index(odb, remote, jobs)
    blobs: dict[str, tuple[int, str]] = {}
    trees: dict[str, Artifact] = {}
    for r in roots:
        if not odb.exists(r.digest):
            stats.failed[r.path] = f"not in the cache ({r.digest}); `tether add` or pull it first"
        elif r.kind is Kind.DIR:
            trees[r.digest] = r
        else:
            blobs[r.digest] = (r.size, r.path)
    lacking = missing(remote, [*blobs, *trees], jobs, packed)
    needed = set(blobs) | set(trees)  # every object the roots use, to count what is there
    blobs = {d: v for d, v in blobs.items() if d in lacking}
    children: dict[str, dict[str, tuple[int, str]]] = {}
    for digest, r in trees.items():
        if digest in lacking:
            children[digest] = {
                e.digest: (e.size, f"{r.path}/{e.path}") for e in _tree_entries(odb, r)
            }
        else:  # on the remote, so are its files: read from the local tree to count them
            needed.update(_entry_digests(odb, r))  # distinct objects, as the first push counts
    wanted = {d: v for kids in children.values() for d, v in kids.items()}
    needed.update(wanted)
    known: set[str] = set()
    for digest in children:
        known |= _known_on_remote(odb, remote, previous or {}, trees[digest], jobs, packed)
    to_check = set(wanted) - set(blobs) - known
    wanted_missing = missing(remote, to_check, jobs, packed) if to_check else set()
    todo = {**blobs, **{d: wanted[d] for d in wanted_missing}}
    stats.present = len(needed - set(todo) - set(children))
    small = _take_small(odb, remote, todo, stats)
    mover = _Mover(remote, stats, jobs, bars)

    def upload(digest: str, size: int) -> None:
        remote.upload(digest, odb.file(digest), size)

    try:
        done = _push_packs(odb, remote, small, stats, jobs, bars) if small else set()
        done |= mover.run(todo, upload, f"push {remote.name}")
        on_remote = done | (set(wanted) - wanted_missing)
        ready = {
            d: (odb.path(d).stat().st_size, trees[d].path)
            for d, kids in children.items()
            if all(k in on_remote for k in kids)
        }
        for d in set(children) - set(ready):
            stats.failed.setdefault(trees[d].path, "some of its files failed; tree not uploaded")
        remote.close()  # publish the files before the trees that list them
        mover.run(ready, upload, f"push {remote.name} (trees)")
        remote.close()
    except BaseException:
        remote.close()  # publish what arrived whole: a rerun skips it
        raise
    stats.seconds = time.monotonic() - start
    return stats


def _fetch_packs(
    remote: Remote,
    writer: Writer,
    items: dict[str, tuple[int, str]],
    packed: Mapping[str, packs.Location],
    stats: Stats,
    jobs: int,
    bars: Bars,
) -> None:
    """Download packed objects: per pack, only the byte ranges holding them."""
    by_pack: dict[str, list[str]] = defaultdict(list)
    for digest, (expected, name) in items.items():
        claimed = packed[digest].size
        if expected and claimed > expected:  # never fetch more than the tree or pointer says
            stats.failed[name] = (
                f"object {digest} in pack {packed[digest].pack} on remote {remote.name!r} is "
                f"corrupt: its index claims {claimed:,} bytes, more than the {expected:,} expected"
            )
            continue
        by_pack[packed[digest].pack].append(digest)
    items = {d: items[d] for ds in by_pack.values() for d in ds}
    total = sum(packed[d].size for d in items)
    with bars(f"fetch {remote.name} (packed)", len(items), total) as bar:

        def one(pname: str) -> None:
            digests = by_pack[pname]
            spans = packs.ranges([packed[d] for d in digests])
            key = packs.pack_key(pname)
            try:
                blobs = retrying(remote, lambda: remote.read_ranges(key, spans))
            except FileNotFoundError:
                for d in digests:
                    stats.failed[items[d][1]] = f"pack {pname} ({d}) is missing on the remote"
                bar.advance(len(digests), sum(packed[d].size for d in digests))
                return
            starts = [s for s, _ in spans]
            for d in digests:
                loc = packed[d]
                i = bisect_right(starts, loc.offset) - 1
                at = loc.offset - starts[i]
                data = blobs[i][at : at + loc.size]
                what = f"object {d} in pack {pname} on remote {remote.name!r}"
                try:
                    writer.put_verified(d, data, what)
                except CorruptObjectError as exc:
                    stats.failed[items[d][1]] = exc.message
                else:
                    stats.moved_one(1, loc.size)
            bar.advance(len(digests), sum(packed[d].size for d in digests))

        remote.run_all(one, sorted(by_pack), min(jobs, PACK_JOBS))


def fetch(
    odb: ObjectDB, remote: Remote, roots: list[Artifact], jobs: int, bars: Bars = no_bars
) -> Stats:
    """Download what the cache lacks of ``roots``; ``bars``: how to show progress."""
    stats = Stats(Direction.FETCH, remote.name)
    start = time.monotonic()
    prepare(remote, write=False)
    mover = _Mover(remote, stats, jobs, bars)
    writer = odb.writer(TRANSFER).__enter__()  # publishes as it goes: a killed fetch keeps it
    try:

        def download(digest: str, size: int) -> None:
            remote.download(digest, size, writer)

        trees = {r.digest: (r.size, r.path) for r in roots if r.kind is Kind.DIR}
        lacking_trees = {d: (0, v[1]) for d, v in trees.items() if not odb.exists(d)}
        stats.present += len(trees) - len(lacking_trees)
        mover.run(lacking_trees, download, f"fetch {remote.name} (trees)")
        writer.commit()
        wanted: dict[str, tuple[int, str]] = {}
        for r in roots:
            if r.kind is Kind.FILE:
                wanted[r.digest] = (r.size, r.path)
            elif odb.exists(r.digest):
                for e in _tree_entries(odb, r):
                    wanted.setdefault(e.digest, (e.size, f"{r.path}/{e.path}"))
        todo = {d: v for d, v in wanted.items() if not odb.exists(d, v[0])}
        stats.present += len(wanted) - len(todo)
        packed = pack_index(odb, remote, jobs) if todo else {}
        in_packs = {d: v for d, v in todo.items() if d in packed}
        if in_packs:
            _fetch_packs(remote, writer, in_packs, packed, stats, jobs, bars)
        loose = {d: v for d, v in todo.items() if d not in packed}
        mover.run(loose, download, f"fetch {remote.name}")
    finally:
        writer.commit()  # whatever arrived whole and verified is kept, even on Ctrl-C
        writer.discard()
    stats.seconds = time.monotonic() - start
    return stats


def remote_status(
    odb: ObjectDB, remote: Remote, roots: list[Artifact], jobs: int
) -> dict[str, Any]:
    """Per root: how many of its objects the cache and the remote lack."""
    prepare(remote, write=False)
    per_root: dict[str, set[str]] = {}
    for r in roots:
        objs = {r.digest}
        if r.kind is Kind.DIR and odb.exists(r.digest):
            objs.update(e.digest for e in _tree_entries(odb, r))
        per_root[r.path] = objs
    everything = set().union(*per_root.values()) if per_root else set()
    not_remote = missing(remote, everything, jobs, pack_index(odb, remote, jobs))
    out: dict[str, Any] = {}
    for r in roots:
        objs = per_root[r.path]
        out[r.path] = {
            "objects": len(objs),
            "missing_in_cache": sum(1 for d in objs if not odb.exists(d)),
            "missing_on_remote": len(objs & not_remote),
            "tree_in_cache": r.kind is not Kind.DIR or odb.exists(r.digest),
        }
    return out
