"""Moving objects between the cache and a remote: only what is missing,
many at once, verified, retried, resumable.

Invariants (see docs/design.md, "Remotes"):

* A tree object is uploaded only after every object it lists is on the
  remote. Yet nothing found on a remote vouches for anything else (objects
  get deleted or damaged there): a push looks up every object the roots use
  (listings: one per two-hex prefix, one of ``packs/``), so it puts back
  whatever went missing, and replaces a loose copy of the wrong size.
* A download enters the cache only once its bytes hash to its name; a
  corrupt or truncated remote object is reported by name and never stored.
* Nothing is published under a final name until it is whole (temp + rename
  locally; S3 puts are atomic), so an interrupted transfer leaves at most
  temporaries, and running it again moves only what is still missing.
* Small objects go to remotes with packing on in packs (:mod:`packs`), each
  pack before its index; what a remote holds is its loose objects plus every
  object its indexes list whose pack is listed whole. A reader tries an
  object's other packs, then a loose copy, when one copy is damaged.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
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
from tether.storage import hashing, packs, tree
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
    legacy = marker is not None and layout.check(remote.spec, marker)
    if write and (marker is None or legacy):
        retrying(remote, lambda: remote.write_key(layout.MARKER, layout.TEXT))


@dataclass
class Survey:
    """What a remote lacks of some objects: ``missing`` (no copy at all) and
    ``damaged`` (a loose copy of another size than the object's)."""

    missing: set[str] = field(default_factory=set)
    damaged: set[str] = field(default_factory=set)

    @property
    def lacking(self) -> set[str]:
        return self.missing | self.damaged


def survey(
    remote: Remote,
    sizes: Mapping[str, int | None],
    jobs: int,
    packed: Mapping[str, packs.Location] | None = None,
) -> Survey:
    """Which of ``sizes`` (digest -> its size, None if not known) the remote
    lacks, given its ``packed`` objects. Of the rest, a two-hex prefix holding
    several candidates is listed once; a lone candidate gets one request for
    its size. A loose copy of another size counts as damaged."""
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for d in sizes:
        if packed is None or d not in packed:
            by_prefix[d[:2]].append(d)
    listed = sorted(p for p, ds in by_prefix.items() if len(ds) > 1)
    singles = [ds[0] for ds in by_prefix.values() if len(ds) == 1]
    found: dict[str, int] = {}

    def list_one(prefix: str) -> None:
        keys = retrying(remote, lambda: remote.list_sizes(f"objects/{prefix}"))
        start = len("objects/xx/")
        got = {prefix + k[start:]: n for k, n in keys.items() if len(k) == start + hashing.HEX - 2}
        with _COUNTING:
            found.update(got)

    def check_one(digest: str) -> None:
        size = retrying(remote, lambda: remote.object_size(digest))
        if size is not None:
            with _COUNTING:
                found[digest] = size

    remote.run_all(list_one, listed, jobs)
    remote.run_all(check_one, singles, jobs)
    out = Survey()
    for ds in by_prefix.values():
        for d in ds:
            if d not in found:
                out.missing.add(d)
            elif sizes[d] is not None and found[d] != sizes[d]:
                out.damaged.add(d)
    return out


def missing(
    remote: Remote,
    digests: Iterable[str],
    jobs: int,
    packed: Mapping[str, packs.Location] | None = None,
) -> set[str]:
    """Which of ``digests`` the remote lacks (see :func:`survey`)."""
    return survey(remote, dict.fromkeys(digests), jobs, packed).missing


def pack_index(odb: ObjectDB, remote: Remote, jobs: int) -> packs.Packed:
    """Every packed object on the remote. ``packs/`` is listed once (one
    request per 1,000 keys); an index counts only when its pack is listed
    with (at least) the size the index implies, and the index with the size of the copy
    read. Those not read before are fetched once and kept in the cache's
    ``packs/``. A damaged index is ignored: its objects count as missing, so
    a push uploads them again."""
    listing = retrying(remote, lambda: remote.list_sizes("packs"))
    names = packs.names_in(listing)
    cache = packs.IndexCache(odb.root / "packs")
    found: dict[str, dict[str, packs.Location]] = {}
    unread = []
    for name in sorted(names):
        entries = cache.get(name, listing[packs.index_key(name)])
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
    out = packs.Packed()
    sized = {name: listing.get(packs.pack_key(name)) for name in found}
    # an index whose pack has exactly the size it implies first (as written),
    # then those whose pack is longer (the bytes it names are still there)
    for name in sorted(found, key=lambda n: (sized[n] != packs.pack_size(found[n]), n)):
        size, expected = sized[name], packs.pack_size(found[name])
        if size is not None and size >= expected:
            out.add(found[name])
            continue
        # its pack is gone or cut short: the index proves nothing
        why = (
            f"pack {name} is missing on the remote"
            if size is None
            else f"pack {name} on remote {remote.name!r} is corrupt: {size:,} bytes, "
            f"its index says {expected:,}"
        )
        out.broken.update(dict.fromkeys(found[name], why))
    return out


def _tree_entries(odb: ObjectDB, root: Artifact) -> list[tree.Entry]:
    return list(tree.parse(odb.read(root.digest, root.path), root.path).entries)


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


def _uses(
    odb: ObjectDB, roots: list[Artifact], stats: Stats
) -> tuple[dict[str, tuple[int, str]], dict[str, Artifact], dict[str, set[str]]]:
    """Every object ``roots`` use: files (digest -> (size, name)), the trees,
    and each tree's files. A root the cache lacks, or whose tree it holds
    damaged, goes to ``stats.failed``; the others still go."""
    files: dict[str, tuple[int, str]] = {}
    trees: dict[str, Artifact] = {}
    kids: dict[str, set[str]] = {}
    for r in roots:
        if not odb.exists(r.digest):
            stats.failed[r.path] = f"not in the cache ({r.digest}); `tether add` or pull it first"
        elif r.kind is Kind.FILE:
            files[r.digest] = (r.size, r.path)
        else:
            try:
                entries = _tree_entries(odb, r)
            except TetherError as exc:
                stats.failed[r.path] = exc.message
                continue
            trees[r.digest] = r
            kids[r.digest] = {e.digest for e in entries}
            for e in entries:
                files.setdefault(e.digest, (e.size, f"{r.path}/{e.path}"))
    return files, trees, kids


def push(
    odb: ObjectDB,
    remote: Remote,
    roots: list[Artifact],
    jobs: int,
    bars: Bars = no_bars,
) -> Stats:
    """Upload what the remote lacks; ``bars``: how to show progress.

    Nothing found on the remote is taken as proof of anything else: a
    folder's tree there does not vouch for its files, nor an index for its
    pack. Every object the roots use is looked up (listings: see
    :func:`survey`), so whatever was deleted or cut short there goes up
    again, files before the trees that list them."""
    stats = Stats(Direction.PUSH, remote.name)
    start = time.monotonic()
    prepare(remote, write=True)
    packed = pack_index(odb, remote, jobs)
    files, trees, kids = _uses(odb, roots, stats)
    sizes: dict[str, int | None] = {d: size for d, (size, _) in files.items()}
    sizes.update((d, odb.size(d)) for d in trees)
    found = survey(remote, sizes, jobs, packed)
    todo = {d: files[d] for d in found.lacking if d in files}
    stats.present = len(sizes) - len(found.lacking)
    small = _take_small(odb, remote, todo, stats)
    mover = _Mover(remote, stats, jobs, bars)

    def upload(digest: str, size: int) -> None:
        if digest in found.damaged:
            remote.replace(digest, odb.file(digest), size)
        else:
            remote.upload(digest, odb.file(digest), size)

    try:
        done = _push_packs(odb, remote, small, stats, jobs, bars) if small else set()
        done |= mover.run(todo, upload, f"push {remote.name}")
        on_remote = done | (set(files) - found.lacking)
        ready: dict[str, tuple[int, str]] = {}
        for d in found.lacking & set(trees):
            if kids[d] <= on_remote:
                ready[d] = (odb.path(d).stat().st_size, trees[d].path)
            else:
                why = "some of its files failed; tree not uploaded"
                stats.failed.setdefault(trees[d].path, why)
        remote.close()  # publish the files before the trees that list them
        mover.run(ready, upload, f"push {remote.name} (trees)")
        remote.close()
    except BaseException:
        remote.close()  # publish what arrived whole: a rerun skips it
        raise
    stats.seconds = time.monotonic() - start
    return stats


def restore(
    odb: ObjectDB,
    remote: Remote,
    files: dict[str, tuple[int, str]],
    trees: dict[str, tuple[set[str], str]],
    jobs: int,
    bars: Bars = no_bars,
) -> Stats:
    """Upload ``files`` (digest -> (size, name)), then each of ``trees``
    (digest -> (the files it lists, name)) whose files are all on the remote,
    whatever the remote holds under their names: a damaged copy is replaced
    atomically. Small files go in a fresh pack where packing is on (a damaged
    pack of the same objects is rewritten under its own name)."""
    stats = Stats(Direction.PUSH, remote.name)
    start = time.monotonic()
    todo = dict(files)
    small = _take_small(odb, remote, todo, stats)
    mover = _Mover(remote, stats, jobs, bars)

    def replace(digest: str, size: int) -> None:
        remote.replace(digest, odb.file(digest), size)

    try:
        failed = set(files) - (
            _push_packs(odb, remote, small, stats, jobs, bars) if small else set()
        )
        failed -= mover.run(todo, replace, f"repair {remote.name}")
        remote.close()  # the files before the trees that list them
        ready = {}
        for d, (kids, name) in trees.items():
            size = odb.size(d)
            if kids & failed or size is None:
                stats.failed.setdefault(name, "not in the cache, or some of its files failed")
            else:
                ready[d] = (size, name)
        mover.run(ready, replace, f"repair {remote.name} (trees)")
    finally:
        remote.close()
    stats.seconds = time.monotonic() - start
    return stats


def _fetch_packs(
    remote: Remote,
    writer: Writer,
    items: dict[str, tuple[int, str]],
    where: Mapping[str, packs.Location],
    stats: Stats,
    jobs: int,
    bars: Bars,
) -> dict[str, str]:
    """Download packed objects: per pack, only the byte ranges holding them.
    Returns digest -> why, for those that did not arrive."""
    failed: dict[str, str] = {}
    by_pack: dict[str, list[str]] = defaultdict(list)
    for digest, (expected, _) in items.items():
        claimed = where[digest].size
        if expected and claimed > expected:  # never fetch more than the tree or pointer says
            failed[digest] = (
                f"object {digest} in pack {where[digest].pack} on remote {remote.name!r} is "
                f"corrupt: its index claims {claimed:,} bytes, more than the {expected:,} expected"
            )
            continue
        by_pack[where[digest].pack].append(digest)
    total = sum(where[d].size for ds in by_pack.values() for d in ds)
    count = sum(len(ds) for ds in by_pack.values())
    with bars(f"fetch {remote.name} (packed)", count, total) as bar:

        def one(pname: str) -> None:
            digests = by_pack[pname]
            spans = packs.ranges([where[d] for d in digests])
            key = packs.pack_key(pname)
            try:
                blobs = retrying(remote, lambda: remote.read_ranges(key, spans))
            except FileNotFoundError:
                for d in digests:
                    failed[d] = f"pack {pname} ({d}) is missing on the remote"
                bar.advance(len(digests), sum(where[d].size for d in digests))
                return
            starts = [s for s, _ in spans]
            for d in digests:
                loc = where[d]
                i = bisect_right(starts, loc.offset) - 1
                at = loc.offset - starts[i]
                data = blobs[i][at : at + loc.size]
                what = f"object {d} in pack {pname} on remote {remote.name!r}"
                try:
                    writer.put_verified(d, data, what)
                except CorruptObjectError as exc:
                    failed[d] = exc.message
                else:
                    stats.moved_one(1, loc.size)
            bar.advance(len(digests), sum(where[d].size for d in digests))

        remote.run_all(one, sorted(by_pack), min(jobs, PACK_JOBS))
    return failed


def _fetch_packed(
    remote: Remote,
    writer: Writer,
    items: dict[str, tuple[int, str]],
    packed: packs.Packed,
    stats: Stats,
    jobs: int,
    bars: Bars,
) -> None:
    """Download packed objects, trying each one's other packs, then a loose
    copy, when a pack is missing or damaged: an index never makes good data
    unreachable."""
    tries = {d: packed.locations(d) for d in items}
    todo, attempt = dict(items), 0
    failed: dict[str, str] = {}
    while todo:
        where = {d: tries[d][attempt] for d in todo}
        reasons = _fetch_packs(remote, writer, todo, where, stats, jobs, bars)
        attempt += 1
        todo = {d: items[d] for d in reasons if attempt < len(tries[d])}
        failed.update((d, why) for d, why in reasons.items() if d not in todo)
    if not failed:
        return
    loose = Stats(stats.direction, stats.remote)  # a loose copy, if there is one
    arrived = _Mover(remote, loose, jobs, bars).run(
        {d: items[d] for d in failed},
        lambda d, size: remote.download(d, size, writer),
        f"fetch {remote.name}",
    )
    stats.moved_one(loose.moved, loose.bytes)
    for d, why in failed.items():
        if d not in arrived:
            stats.failed[items[d][1]] = why


def fetch(
    odb: ObjectDB, remote: Remote, roots: list[Artifact], jobs: int, bars: Bars = no_bars
) -> Stats:
    """Download what the cache lacks of ``roots``; ``bars``: how to show progress."""
    stats = Stats(Direction.FETCH, remote.name)
    start = time.monotonic()
    prepare(remote, write=False)
    writer = odb.writer(TRANSFER).__enter__()  # publishes as it goes: a killed fetch keeps it
    try:
        trees = {r.digest: (r.size, r.path) for r in roots if r.kind is Kind.DIR}
        lacking_trees = {d: (0, v[1]) for d, v in trees.items() if not odb.exists(d)}
        stats.present += len(trees) - len(lacking_trees)
        loose = packs.Packed()  # trees are never packed
        download(remote, writer, lacking_trees, stats, jobs, bars, loose, "(trees)")
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
        download(remote, writer, todo, stats, jobs, bars)
    finally:
        writer.commit()  # whatever arrived whole and verified is kept, even on Ctrl-C
        writer.discard()
    stats.seconds = time.monotonic() - start
    return stats


def download(
    remote: Remote,
    writer: Writer,
    items: dict[str, tuple[int, str]],
    stats: Stats,
    jobs: int,
    bars: Bars = no_bars,
    packed: packs.Packed | None = None,
    label: str = "",
) -> None:
    """Download ``items`` (digest -> (size or 0, name)) into ``writer``, each
    verified: packed ones by byte ranges (``packed``: the remote's packs, read
    here when None), the rest loose. Failures go to ``stats.failed``."""
    if not items:
        return
    if packed is None:
        packed = pack_index(writer.odb, remote, jobs)
    in_packs = {d: v for d, v in items.items() if d in packed}
    if in_packs:
        _fetch_packed(remote, writer, in_packs, packed, stats, jobs, bars)
    loose = {d: v for d, v in items.items() if d not in packed}
    title = f"fetch {remote.name}" + (f" {label}" if label else "")
    _Mover(remote, stats, jobs, bars).run(
        loose, lambda d, size: remote.download(d, size, writer), title
    )
    for d in loose.keys() & packed.broken.keys():
        name = items[d][1]
        if name in stats.absent:  # not loose either: say what happened to its pack
            stats.absent.discard(name)
            stats.failed[name] = f"{packed.broken[d]} ({d})"


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
