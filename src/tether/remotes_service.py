"""Reaching a remote: which one a command means, opening it, and fetching what
the cache lacks from the default one. Below both the workspace and the
pipeline, so neither needs the other to reach a remote."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tether import config, progress
from tether.artifact import Artifact
from tether.config import check_committed, check_endpoint, check_url
from tether.errors import ConfigError, MissingObjectError, TransferError
from tether.repo import Repo
from tether.storage.remotes import Remote, RemoteSpec, open_remote
from tether.storage.remotes.local import folder, make_folder
from tether.storage.transfer import Direction, Stats, fetch


def spec_for(repo: Repo, name: str | None) -> RemoteSpec:
    cfg = repo.config
    chosen = name or cfg.remote
    if not chosen:
        raise ConfigError(
            "no remote given and no default remote",
            "add one: `tether remote add NAME URL --default`, or pass -r NAME",
        )
    if chosen not in cfg.remotes:
        known = ", ".join(sorted(cfg.remotes)) or "none"
        raise ConfigError(
            f"no remote named {chosen!r} (known: {known})", "see `tether remote list`"
        )
    opts = dict(cfg.remotes[chosen])
    check_url(opts["url"])
    spec = RemoteSpec(chosen, opts["url"], opts)
    committed = {o for o in opts if f"remotes.{chosen}.{o}" in cfg.committed}
    check_committed(spec, committed)
    check_endpoint(spec, committed)
    return spec


def add(
    repo: Repo, name: str, url: str, default: bool, local: bool, force: bool, parents: bool
) -> Path | None:
    """``tether remote add``: record the remote; for a folder, create it when
    its parent exists (with ``parents``: any missing parent too). Returns the
    folder when it is still missing (push and pull refuse it until it exists)."""
    config.remote_add(repo.dir, name, url, default, local, force)
    spec = RemoteSpec(name, url, {})
    if spec.protocol != "file":
        return None
    make_folder(spec, parents)
    path = folder(spec)
    return None if path.is_dir() or not path.is_absolute() else path


def open_for(repo: Repo, name: str | None) -> Remote:
    return open_remote(spec_for(repo, name))


def roots(artifacts: Iterable[Artifact]) -> list[Artifact]:
    """One artifact per digest, in path order: what a transfer of ``artifacts``
    (pointers, stage outputs) moves."""
    seen: dict[str, Artifact] = {}
    for p in artifacts:
        seen.setdefault(p.digest, p)
    return sorted(seen.values(), key=lambda r: r.path)


def fetch_from_default(repo: Repo, wanted: list[Artifact]) -> None:
    """Fetch ``wanted`` from the default remote when any is missing from the cache
    (a no-op without a default remote). Raises MissingObjectError when the remote
    simply lacks objects, another TetherError (naming the remote) when it failed.
    An artifact of kind ``file`` fetches that one object, even a tree
    (see :func:`tether.artifact.object_named`)."""
    if not repo.config.remote or all(repo.odb.exists(r.digest) for r in wanted):
        return
    remote = open_for(repo, None)
    stats = fetch(repo.odb, remote, wanted, remote.spec.jobs, progress.transfer)
    if stats.failed and set(stats.failed) <= stats.absent:
        first = sorted(stats.failed)[0]
        raise MissingObjectError(f"fetch {stats.remote}: {first}: {stats.failed[first]}")
    raise_failures(stats)


def raise_failures(stats: Stats) -> None:
    """Raise TransferError naming the first object that failed to move, if any."""
    if stats.failed:
        names = sorted(stats.failed)
        first = names[0]
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        reason = stats.failed[first]
        hint = None
        if "corrupt" in reason and stats.direction is Direction.FETCH:
            hint = (
                "the remote copy is damaged: delete it there and `tether push` again from a "
                "machine whose cache holds it"
            )
        elif "corrupt" in reason:
            hint = (
                "the cache copy is damaged and was not uploaded: `tether fsck` moves it "
                "aside; then add the file again from a good copy, or pull it"
            )
        raise TransferError(f"{stats.direction} {stats.remote}: {first}: {reason}{more}", hint)
