"""``tether gc --remote NAME``: delete from a remote what no repository pushing
to it needs (docs/design.md, "Remote gc").

Referenced: the roots every ref manifest on the remote names (every clone of
every repository that pushes there; narrowed by ``keep_last``/``since``), this
clone's own refs and workspace, every push in progress (pending manifests),
every run-cache entry on the remote, and the files of every tree among them.
Deleted: unreferenced loose objects and packs older than the grace period,
packs mostly dead are repacked, stale temporaries and manifests of pushes that
died. Safe against concurrent pushes by the handshake in
:mod:`tether.storage.manifests`; takes the remote's gc marker, not the local
repository's lock (it writes nothing locally).
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tether import units
from tether.artifact import Kind
from tether.errors import ConfirmationError, CorruptObjectError, MetadataError, RemoteError
from tether.pipeline import runcache
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.remotes_service import open_for
from tether.repo import Repo
from tether.storage import hashing, manifests, packs, repack, tree
from tether.storage.remotes import Remote, layout
from tether.storage.remotes.listing import Listed, delete, scan
from tether.storage.remotes.temporaries import STALE_AFTER, is_stale_temporary
from tether.storage.transfer import pack_index, prepare, retrying
from tether.workspace import refs

GRACE = 3 * 24 * 3600  # seconds: what is younger stays, whatever references it
REPACK_BELOW = 0.5  # a pack whose live objects hold less than this share of its bytes


@dataclass(frozen=True)
class Narrowing:
    """Which commits of each ref count (the workspace and pushes in progress always do)."""

    keep_last: int | None = None
    since: int | None = None  # Unix seconds

    def commits(self, m: manifests.RefManifest) -> list[manifests.Commit]:
        kept = list(m.commits)
        if m.ref == manifests.WORKSPACE:
            return kept
        if self.keep_last is not None:
            kept = kept[: self.keep_last]
        if self.since is not None:
            kept = [c for c in kept if c.time >= self.since] or kept[:1]  # the tip stays
        return kept

    @property
    def scope(self) -> str:
        parts = []
        if self.keep_last is not None:
            parts.append(f"the last {self.keep_last} commit(s) of each branch and tag")
        if self.since is not None:
            parts.append(f"commits since {time.strftime('%Y-%m-%d', time.gmtime(self.since))}")
        return " and ".join(parts) or "every commit of every branch and tag"


@dataclass
class Repack:
    live: dict[str, packs.Location]  # digest -> where it is in the old pack
    pack_bytes: int
    keys: tuple[str, ...]  # the old pack and index

    @property
    def freed(self) -> int:
        return self.pack_bytes - sum(loc.size for loc in self.live.values())


@dataclass
class RemotePlan:
    remote: str
    scope: str
    clones: int = 0
    grace: int = GRACE
    objects: dict[str, int] = field(default_factory=dict)  # loose key -> size
    packs: dict[str, int] = field(default_factory=dict)  # dead packs' .pack/.idx keys -> size
    repack: dict[str, Repack] = field(default_factory=dict)  # pack name -> its live part
    leftovers: dict[str, int] = field(default_factory=dict)  # stale temporaries and manifests
    walked: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)  # trees read

    @property
    def bytes(self) -> int:
        return (
            sum(self.objects.values())
            + sum(self.packs.values())
            + sum(r.freed for r in self.repack.values())
            + sum(self.leftovers.values())
        )

    @property
    def empty(self) -> bool:
        return not (self.objects or self.packs or self.repack or self.leftovers)

    @property
    def summary(self) -> str:
        dead_packs = sum(1 for k in self.packs if k.endswith(".pack"))
        return (
            f"{len(self.objects)} unreferenced object(s), {dead_packs} dead pack(s), "
            f"{len(self.repack)} pack(s) to repack and {len(self.leftovers)} stale "
            f"temporary file(s), {units.size(self.bytes)}"
        )


@dataclass(frozen=True)
class RemoteOutcome:
    plan: RemotePlan
    removed: bool = False
    freed: int = 0


def _check_layout(remote: Remote) -> None:
    """gc deletes only on a remote whose layout marker says a format this
    tether knows: names it does not know could be live objects of another."""
    prepare(remote, write=False)
    if retrying(remote, lambda: remote.read_key(layout.MARKER)) is None:
        raise RemoteError(
            f"remote {remote.name!r} has no layout marker ({layout.MARKER}): gc deletes "
            "nothing on a remote whose format it cannot tell",
            "push to it once with this version of tether (which writes the marker)",
        )


def collect(
    repo: Repo,
    remote_name: str,
    *,
    grace: int = GRACE,
    narrowing: Narrowing | None = None,
    dry_run: bool = False,
    force: bool = False,
    confirm: Callable[[RemotePlan], bool] | None = None,
) -> RemoteOutcome:
    """Plan, then (unless ``dry_run``; with ``force`` or a ``confirm`` that says
    yes, else ConfirmationError) delete, holding the remote's gc marker."""
    narrowing = narrowing or Narrowing()
    remote = open_for(repo, remote_name)
    _check_layout(remote)
    if dry_run:
        return RemoteOutcome(plan(repo, remote, grace, narrowing, time.time()))
    stem = manifests.begin_gc(remote)
    started = time.time()
    try:
        p = plan(repo, remote, grace, narrowing, started)
        if p.empty:
            return RemoteOutcome(p)
        if not force:
            if confirm is None:
                raise ConfirmationError(f"gc of remote {remote.name!r} would remove {p.summary}")
            if not confirm(p):
                return RemoteOutcome(p)
        _spare_new_references(repo, remote, p, narrowing)
        return RemoteOutcome(p, True, _delete(remote, p, started))
    finally:  # done, even when it failed half way: a push that overlapped it goes round again
        with contextlib.suppress(RemoteError):
            manifests.end_gc(remote, stem)


# -- marking ------------------------------------------------------------------


class _Marks:
    """Referenced digests, with the files of every referenced tree. Trees are
    read by :meth:`walk`, many at once; ``walked`` may come from an earlier read."""

    def __init__(
        self, repo: Repo, remote: Remote, walked: dict[str, frozenset[str]] | None = None
    ) -> None:
        self.repo = repo
        self.remote = remote
        self.live: set[str] = set()
        self.trees: set[str] = set()
        self.walked = walked if walked is not None else {}  # tree -> its files

    def add(self, files: Iterable[str], trees: Iterable[str]) -> None:
        self.live.update(files)
        self.trees.update(trees)

    def walk(self) -> None:
        self.live |= self.trees
        todo = sorted(t for t in self.trees if t not in self.walked)

        def one(digest: str) -> None:
            self.walked[digest] = self._entries(digest)

        self.remote.run_all(one, todo, self.remote.spec.jobs)
        for t in self.trees:
            self.live |= self.walked[t]

    def _entries(self, digest: str) -> frozenset[str]:
        """The files of a tree, read from this cache, else from the remote; a tree
        in neither was never pushed whole (a push in progress lists its files)."""
        if self.repo.odb.exists(digest):
            where = f"tree {digest} in the cache"
            data: bytes | None = self.repo.odb.read(digest, where)
        else:
            key = f"objects/{digest[:2]}/{digest[2:]}"
            where = f"tree {digest} on remote {self.remote.name!r}"
            data = retrying(self.remote, lambda: self.remote.read_key(key))
        if data is None:
            return frozenset()
        if hashing.hash_bytes(data) != digest:
            raise CorruptObjectError(
                f"{where} is corrupt; gc cannot tell what it keeps, so nothing was deleted",
                "push it again from a clone whose cache holds it",
            )
        return frozenset(e.digest for e in tree.parse(data, where).entries)


def _references(
    repo: Repo,
    remote: Remote,
    narrowing: Narrowing,
    now: float,
    grace: int,
    walked: dict[str, frozenset[str]] | None = None,
) -> tuple[_Marks, set[str], list[manifests.Pending]]:
    """(marks, clones seen, pending manifests of pushes that died)."""
    found = manifests.read_all(remote)
    marks = _Marks(repo, remote, walked)
    mine = refs.ref_manifests(repo, STAGE_OUTPUTS, strict=True)
    me = refs.clone_id(repo)
    clones = {m.clone for m in found.refs} | {m.clone for m in mine}
    # this clone's refs as they are now, not as its last push recorded them (a
    # branch deleted since frees its data); its pushes in progress still count
    for m in [*(m for m in found.refs if m.clone != me), *mine]:
        for c in narrowing.commits(m):
            marks.add(c.files, c.trees)
    dead = []
    for p in found.pending:
        if now - p.time > max(grace, STALE_AFTER):
            dead.append(p)
        else:
            marks.add(p.files, p.trees)

    def run_entry(key: str) -> None:
        data = retrying(remote, lambda: remote.read_key(key))
        if data is None:
            return
        try:
            outs = runcache.decode(data, f"remote run-cache {key}")
        except MetadataError:
            return  # a damaged entry restores nothing
        marks.add(
            [a.digest for a in outs if a.kind is Kind.FILE],
            [a.digest for a in outs if a.kind is Kind.DIR],
        )

    keys = retrying(remote, lambda: remote.list_keys("runs"))
    remote.run_all(run_entry, keys, remote.spec.jobs)
    marks.walk()
    return marks, clones, dead


# -- planning -----------------------------------------------------------------


def plan(repo: Repo, remote: Remote, grace: int, narrowing: Narrowing, now: float) -> RemotePlan:
    """What a gc started at ``now`` deletes: nothing younger than ``grace``."""
    listed = {
        top: retrying(remote, lambda: scan(remote, top))  # noqa: B023 - called at once
        for top in ("objects", "packs", "runs", "tmp", "manifests")
    }
    marks, clones, dead = _references(repo, remote, narrowing, now, grace)
    result = RemotePlan(remote.name, narrowing.scope, len(clones), grace, walked=marks.walked)
    old = now - grace
    for item in listed["objects"]:
        digest = item.key[len("objects/") :].replace("/", "", 1)
        ours = hashing.is_digest(digest) and item.key[10:11] == "/"
        if ours and item.time < old and digest not in marks.live:
            result.objects[item.key] = item.size
    _plan_packs(repo, remote, listed["packs"], marks.live, old, now, result)
    for top in listed.values():
        for item in top:
            if is_stale_temporary(item.key, now - item.time):
                result.leftovers[item.key] = item.size
    for p in dead:
        result.leftovers[p.key] = 0
    return result


def _plan_packs(
    repo: Repo,
    remote: Remote,
    listed: list[Listed],
    live: set[str],
    old: float,
    now: float,
    result: RemotePlan,
) -> None:
    files = {item.key: item for item in listed}
    by_pack: dict[str, dict[str, packs.Location]] = defaultdict(dict)
    for digest, loc in pack_index(repo.odb, remote, remote.spec.jobs).items():
        by_pack[loc.pack][digest] = loc
    for name, entries in sorted(by_pack.items()):
        idx, pack = files.get(packs.index_key(name)), files.get(packs.pack_key(name))
        if idx is None or pack is None or max(idx.time, pack.time) >= old:
            continue  # young: a push may be about to rely on it
        kept = {d: loc for d, loc in entries.items() if d in live}
        if not kept:
            result.packs[idx.key] = idx.size
            result.packs[pack.key] = pack.size
        elif sum(loc.size for loc in kept.values()) < REPACK_BELOW * pack.size:
            result.repack[name] = Repack(kept, pack.size, (idx.key, pack.key))
    indexed = set(by_pack)
    for key, item in files.items():  # a pack a push wrote, then died before its index
        name = key[len(packs.PREFIX) :].removesuffix(".pack")
        if (
            key.endswith(".pack")
            and name not in indexed
            and packs.index_key(name) not in files
            and now - item.time > max(now - old, STALE_AFTER)
        ):
            result.leftovers[key] = item.size


def _spare_new_references(repo: Repo, remote: Remote, p: RemotePlan, narrowing: Narrowing) -> None:
    """Right before deleting, read the references again: anything they name now
    leaves the plan (the handshake already keeps pushes safe; this costs little)."""
    marks, _, _ = _references(repo, remote, narrowing, time.time(), p.grace, p.walked)
    for key in list(p.objects):
        if key[8:10] + key[11:] in marks.live:
            del p.objects[key]
    # a dead pack, or one to repack, holding an object referenced now is left whole
    index = pack_index(repo.odb, remote, remote.spec.jobs)
    for digest in marks.live:
        loc = index.get(digest)
        if loc is None:
            continue
        for key in (packs.index_key(loc.pack), packs.pack_key(loc.pack)):
            p.packs.pop(key, None)
        r = p.repack.get(loc.pack)
        if r is not None and digest not in r.live:
            del p.repack[loc.pack]


# -- deleting -----------------------------------------------------------------


def _in_time(remote: Remote, started: float) -> None:
    """A gc deletes only while pushes still wait for its marker (it is stale after an hour)."""
    if time.time() - started >= manifests.GC_STALE:
        raise RemoteError(
            f"gc of remote {remote.name!r} ran for over an hour: pushes no longer wait for "
            "it, so it stopped deleting",
            "run it again",
        )


def _delete(remote: Remote, p: RemotePlan, started: float) -> int:
    freed = 0
    _in_time(remote, started)
    for name, r in sorted(p.repack.items()):
        _in_time(remote, started)
        repack.rewrite(remote, name, r.live)
        for key in r.keys:  # the index first: no reader finds a pack about to go
            retrying(remote, lambda: delete(remote, key))  # noqa: B023 - called at once
        freed += r.freed
    for key in sorted(p.packs, key=lambda k: (k.rsplit(".", 1)[0], not k.endswith(".idx"))):
        _in_time(remote, started)
        retrying(remote, lambda: delete(remote, key))  # noqa: B023 - called at once
        freed += p.packs[key]
    for key, size in sorted(p.objects.items()):
        _in_time(remote, started)
        retrying(remote, lambda: delete(remote, key))  # noqa: B023 - called at once
        freed += size
    for key, size in sorted(p.leftovers.items()):
        _in_time(remote, started)
        retrying(remote, lambda: delete(remote, key))  # noqa: B023 - called at once
        freed += size
    return freed
