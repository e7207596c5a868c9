"""What the repositories pushing to a remote need, recorded on the remote, and
the handshake between pushes and ``tether gc --remote`` (docs/design.md,
"Remote gc").

Layout on a remote::

    manifests/<clone>/<XXH3 of ref>.json     what one ref of one clone needs
    manifests/<clone>/pending-<nonce>.json   what one push in progress relies on
    gc/<start>-<nonce>.running | .done       a gc in progress / finished

Every file here is read from a remote, so it is untrusted: a manifest that
does not parse is an error that stops gc (it cannot tell what the file kept).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tether import untrusted
from tether.errors import MetadataError, RemoteError
from tether.storage import hashing
from tether.storage.remotes import Remote
from tether.storage.remotes.listing import Listed, delete, scan
from tether.storage.transfer import missing, retrying

PREFIX = "manifests"
GC_PREFIX = "gc"
WORKSPACE = "workspace"  # the ref of what a clone's pointers name before any commit
GC_STALE = 3600  # seconds: a running gc marker this old belongs to a gc that died
DONE_KEPT = 24 * 3600  # seconds a done marker stays (pushes compare marker sets)
_CLONE = re.compile(r"[0-9a-f]{32}\Z")
_MARKER = re.compile(r"gc/([0-9]{1,12})-([0-9a-f]{16})\.(running|done)\Z")


@dataclass(frozen=True)
class Commit:
    """One commit a ref reaches (``commit`` None: the workspace) and the root
    objects it names."""

    commit: str | None
    time: int
    files: tuple[str, ...]
    trees: tuple[str, ...]


@dataclass(frozen=True)
class RefManifest:
    clone: str
    project: str  # the repository's first commit, for people reading the remote
    ref: str
    commits: tuple[Commit, ...]  # newest first

    def encode(self) -> bytes:
        doc = {
            "schema": 1,
            "clone": self.clone,
            "project": self.project,
            "ref": self.ref,
            "commits": [
                {"commit": c.commit, "time": c.time, "files": c.files, "trees": c.trees}
                for c in self.commits
            ],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Pending:
    """A push in progress: every object it relies on is one of ``files`` or
    ``trees``, or listed by one of ``trees`` found on the remote."""

    key: str
    time: float
    files: frozenset[str]
    trees: frozenset[str]


@dataclass(frozen=True)
class References:
    refs: list[RefManifest]
    pending: list[Pending]


def ref_key(clone: str, ref: str) -> str:
    return f"{PREFIX}/{clone}/{hashing.hash_bytes(ref.encode('utf-8', 'surrogateescape'))}.json"


def _digests(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(hashing.is_digest(d) for d in value):
        raise _malformed(key)
    return tuple(value)


def parse_ref(data: bytes, key: str) -> RefManifest:
    doc = untrusted.json_loads(data, f"remote manifest {key}")
    try:
        _check(isinstance(doc, dict) and doc.get("schema") == 1, key)
        commits = []
        for c in doc["commits"]:
            _check(c["commit"] is None or isinstance(c["commit"], str), key)
            _check(isinstance(c["time"], int), key)
            files, trees = _digests(c["files"], key), _digests(c["trees"], key)
            commits.append(Commit(c["commit"], c["time"], files, trees))
        _check(all(isinstance(doc[k], str) for k in ("clone", "project", "ref")), key)
        return RefManifest(doc["clone"], doc["project"], doc["ref"], tuple(commits))
    except (KeyError, TypeError):
        raise _malformed(key) from None


def _check(ok: bool, key: str) -> None:
    if not ok:
        raise _malformed(key)


def _malformed(key: str) -> MetadataError:
    return MetadataError(
        f"remote manifest {key} is malformed; gc cannot tell what it keeps, so nothing was deleted",
        "if no repository needs it, delete that file on the remote and run gc again",
    )


def _parse_pending(data: bytes, item: Listed) -> Pending:
    doc = untrusted.json_loads(data, f"remote manifest {item.key}")
    try:
        _check(isinstance(doc, dict) and doc.get("schema") == 1, item.key)
        files, trees = _digests(doc["files"], item.key), _digests(doc["trees"], item.key)
    except (KeyError, TypeError):
        raise _malformed(item.key) from None
    return Pending(item.key, item.time, frozenset(files), frozenset(trees))


def read_all(remote: Remote) -> References:
    """Every ref and pending manifest on the remote. A key listed but gone when
    read means a push just ended (it wrote its ref manifests before deleting its
    pending one): list again, until one listing reads whole."""
    for _ in range(20):
        refs: list[RefManifest] = []
        pending: list[Pending] = []
        listed = retrying(remote, lambda: scan(remote, PREFIX))
        whole = True
        for item in listed:
            name = item.key.rsplit("/", 1)[-1]
            if not name.endswith(".json"):
                continue  # a temporary of an atomic write
            data = retrying(remote, lambda: remote.read_key(item.key))  # noqa: B023 - at once
            if data is None:
                whole = False
                break
            if name.startswith("pending-"):
                pending.append(_parse_pending(data, item))
            else:
                refs.append(parse_ref(data, item.key))
        if whole:
            return References(refs, pending)
    raise RemoteError(f"remote {remote.name!r}: manifests keep changing while read; try again")


def clone_keys(remote: Remote, clone: str) -> list[str]:
    """The ref manifests of one clone (not its pending ones)."""
    keys = retrying(remote, lambda: remote.list_keys(f"{PREFIX}/{clone}"))
    return [k for k in keys if k.endswith(".json") and "/pending-" not in k]


# -- gc markers ---------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    key: str
    start: int
    running: bool


def markers(remote: Remote) -> list[Marker]:
    """Every gc marker; a gc that wrote its done marker is not running."""
    found = []
    keys = retrying(remote, lambda: remote.list_keys(GC_PREFIX))
    done = {k.rsplit(".", 1)[0] for k in keys if k.endswith(".done")}
    for k in keys:
        m = _MARKER.match(k)
        if m:
            running = m.group(3) == "running" and k.rsplit(".", 1)[0] not in done
            found.append(Marker(k, int(m.group(1)), running))
    return found


def _live(found: Iterable[Marker], now: float) -> list[Marker]:
    return [m for m in found if m.running and now - m.start < GC_STALE]


def begin_gc(remote: Remote) -> str:
    """Write this gc's running marker; another gc running is an error. Returns
    the marker's stem (``gc/<start>-<nonce>``)."""
    stem = f"{GC_PREFIX}/{int(time.time())}-{os.urandom(8).hex()}"
    info = {"host": os.uname().nodename, "pid": os.getpid()}
    retrying(remote, lambda: remote.write_key(f"{stem}.running", json.dumps(info).encode()))
    remote.close()
    others = [m for m in _live(markers(remote), time.time()) if not m.key.startswith(stem)]
    if others:
        end_gc(remote, stem, done=False)
        raise RemoteError(
            f"remote {remote.name!r}: another gc is running ({others[0].key})",
            "wait for it to finish; a gc that died stops counting after an hour",
        )
    return stem


def end_gc(remote: Remote, stem: str, done: bool = True) -> None:
    """Mark this gc done (pushes that saw it running go on), then tidy old markers."""
    if done:
        retrying(remote, lambda: remote.write_key(f"{stem}.done", b"{}"))
        remote.close()
    retrying(remote, lambda: delete(remote, f"{stem}.running"))
    now = time.time()
    for m in markers(remote):  # a running one this old is a gc that died long ago
        if now - m.start > DONE_KEPT:
            retrying(remote, lambda: delete(remote, m.key))  # noqa: B023 - called at once


# -- the push side ------------------------------------------------------------


def _wait_for_gc(remote: Remote) -> frozenset[str]:
    """The marker keys, once no gc is running (waits up to TETHER_GC_WAIT s)."""
    limit = float(os.environ.get("TETHER_GC_WAIT", "600"))
    start = time.monotonic()
    while True:
        found = markers(remote)
        live = _live(found, time.time())
        if not live:
            return frozenset(m.key for m in found)
        if time.monotonic() - start > limit:
            raise RemoteError(
                f"remote {remote.name!r}: a gc has been running since "
                f"{time.strftime('%H:%M:%S', time.localtime(live[0].start))} ({live[0].key})",
                "push again once it finished (a gc that died stops counting after an hour)",
            )
        time.sleep(1.0)


def claim(
    remote: Remote,
    clone: str,
    files: set[str],
    trees: set[str],
    entries: Callable[[str], set[str]],
    jobs: int,
) -> str:
    """Before a push checks or uploads anything: record what it will rely on
    (``entries``: the file digests of a tree, from the cache), so a gc running
    after this returns keeps it; a gc that started meanwhile makes it start
    over. Returns the pending manifest's key (:func:`release` it)."""
    key = f"{PREFIX}/{clone}/pending-{os.urandom(8).hex()}.json"
    while True:
        before = _wait_for_gc(remote)
        lacking = missing(remote, trees, jobs) if trees else set()
        listed = set(files)
        for t in sorted(lacking):
            listed |= entries(t)
        doc = {"schema": 1, "files": sorted(listed), "trees": sorted(trees)}
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        retrying(remote, lambda: remote.write_key(key, data))  # noqa: B023 - called at once
        remote.close()
        if frozenset(m.key for m in markers(remote)) == before:
            return key


def release(remote: Remote, key: str) -> None:
    """The push ended (its ref manifests, if any, are written): drop its pending manifest."""
    retrying(remote, lambda: delete(remote, key))


def publish(
    remote: Remote, clone: str, manifests: list[RefManifest], written: dict[str, str]
) -> dict[str, str]:
    """Write a clone's ref manifests; delete those of refs it no longer has.
    ``written``: key -> digest of what this clone last wrote there; a manifest
    still on the remote with the same content is not written again. Returns
    the same for what is there now."""
    wanted = {ref_key(clone, m.ref): m.encode() for m in manifests}
    there = set(clone_keys(remote, clone))
    now = {}
    for key, data in sorted(wanted.items()):
        now[key] = hashing.hash_bytes(data)
        if key not in there or written.get(key) != now[key]:
            retrying(remote, lambda: remote.write_key(key, data))  # noqa: B023 - called at once
    remote.close()
    for key in sorted(there - set(wanted)):
        retrying(remote, lambda: delete(remote, key))  # noqa: B023 - called at once
    return now


def valid_clone(value: str) -> bool:
    return _CLONE.match(value) is not None
