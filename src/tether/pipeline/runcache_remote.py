"""The run-cache on a remote: ``runs/<2 hex>/<62 hex>`` beside the objects,
one entry per (command, dependencies, params), as in the cache.

Kept apart from :mod:`tether.pipeline.runcache` (the cache's entries) so
that ``repro``, which reads and writes only those, does not import what
reaching a remote takes.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from tether import progress
from tether.artifact import Artifact
from tether.errors import MetadataError, TetherError
from tether.pipeline.runcache import decode, get, local_keys, rel, save
from tether.remotes_service import open_for, raise_failures
from tether.repo import Repo
from tether.storage import hashing, safeio
from tether.storage.remotes import Remote
from tether.storage.transfer import prepare, retrying
from tether.storage.transfer import push as push_objects
from tether.workspace import refs


def push(repo: Repo, remote_name: str | None) -> int:
    """Upload entries the remote lacks (or holds with another size: damaged),
    after the objects they name. The objects of every entry are looked up
    (those this cache holds), not only of the new ones: an entry on the
    remote does not prove its outputs are still there."""
    remote = open_for(repo, remote_name)
    prepare(remote, write=True)
    have = retrying(remote, lambda: remote.list_sizes("runs"))
    todo = []
    roots: list[Artifact] = []
    for k in local_keys(repo):
        with contextlib.suppress(OSError):
            if have.get(rel(k)) != os.stat(repo.cache_dir / rel(k)).st_size:
                todo.append(k)
        try:
            outs = get(repo, k) or []
        except MetadataError:
            outs = []  # a damaged entry names no object to send
        # outputs this cache holds (an entry pulled from the remote may name
        # objects only the remote has: nothing to put back from here)
        roots += [a for a in outs if repo.odb.exists(a.digest)]
    with refs.pushing(repo, remote, roots, remote.spec.jobs):  # a remote gc keeps them
        if roots:
            stats = push_objects(repo.odb, remote, roots, remote.spec.jobs, bars=progress.transfer)
            raise_failures(stats)
        for k in todo:
            data = safeio.read(repo.cache_dir / rel(k), f"run-cache {k}", safeio.MAX_KEY)
            retrying(remote, lambda: remote.write_key(rel(k), data))  # noqa: B023 - called at once
        remote.close()
    return len(todo)


@dataclass(frozen=True)
class RemoteEntry:
    """A run-cache entry of this cache that the remote lacks or holds damaged."""

    key: str
    missing: bool  # else damaged
    reason: str


def check_remote(repo: Repo, remote: Remote, deep: bool) -> list[RemoteEntry]:
    """This cache's run-cache entries as the remote holds them: missing, of
    another size, or (``deep``) other bytes than this cache's copy. Entries
    are named by what ran, not by their bytes, so this cache's copy is the
    reference; one that cannot be read here is left to ``tether fsck``."""
    have = retrying(remote, lambda: remote.list_sizes("runs"))
    out = []
    for k in local_keys(repo):
        try:
            mine = safeio.read(repo.cache_dir / rel(k), f"run-cache {k}", safeio.MAX_KEY)
        except (OSError, TetherError):
            continue
        size = have.get(rel(k))
        if size is None:
            out.append(RemoteEntry(k, True, "not on the remote"))
        elif size != len(mine):
            out.append(RemoteEntry(k, False, f"{size:,} bytes there, {len(mine):,} here"))
        elif deep:
            theirs = retrying(remote, lambda: remote.read_key(rel(k)))  # noqa: B023 - called at once
            if theirs is None:
                out.append(RemoteEntry(k, True, "not on the remote"))
            elif theirs != mine:
                out.append(RemoteEntry(k, False, "other bytes than this cache's copy"))
    return out


def restore_remote(repo: Repo, remote: Remote, keys: list[str]) -> dict[str, str]:
    """Write this cache's copy of each entry over whatever the remote holds
    (atomically); key -> why one could not be."""
    failed = {}
    for k in keys:
        try:
            data = safeio.read(repo.cache_dir / rel(k), f"run-cache {k}", safeio.MAX_KEY)
            retrying(remote, lambda: remote.write_key(rel(k), data))  # noqa: B023 - called at once
        except TetherError as exc:
            failed[k] = exc.message
        except OSError as exc:
            failed[k] = f"cannot read this cache's copy: {exc.strerror or exc}"
    remote.close()
    return failed


def pull(repo: Repo, remote_name: str | None) -> int:
    """Download entries this cache lacks (objects come when an entry is used)."""
    remote = open_for(repo, remote_name)
    prepare(remote, write=False)
    mine = set(local_keys(repo))
    count = 0
    for key in retrying(remote, lambda: remote.list_keys("runs")):
        k = key.removeprefix("runs/").replace("/", "")
        if not hashing.is_digest(k) or k in mine:
            continue
        data = retrying(remote, lambda: remote.read_key(key))  # noqa: B023 - called at once
        if data is None:
            continue
        try:
            outs = decode(data, f"remote run-cache {k}")
        except MetadataError:
            continue  # a damaged remote entry is not copied here
        save(repo, k, outs)
        count += 1
    return count
