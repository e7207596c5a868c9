"""``push``, ``fetch``, ``pull`` and ``status --remote``: the pointer-level side
of the transfer engine (which objects the chosen pointers need)."""

from __future__ import annotations

from typing import Any

from tether import progress
from tether.config import check_committed, check_url
from tether.errors import ConfigError, MissingObjectError, TransferError
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage.remotes import Remote, RemoteSpec, open_remote
from tether.storage.transfer import Direction, Root, Stats, fetch, push, remote_status
from tether.workspace import checkout, tracked


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
    check_committed(spec, {o for o in opts if f"remotes.{chosen}.{o}" in cfg.committed})
    return spec


def open_for(repo: Repo, name: str | None) -> Remote:
    return open_remote(spec_for(repo, name))


def roots(pointers: list[Pointer]) -> list[Root]:
    seen: dict[str, Root] = {}
    for p in pointers:
        seen.setdefault(p.digest, Root(p.digest, p.kind, p.size, p.path, p.files))
    return sorted(seen.values(), key=lambda r: r.name)


def fetch_from_default(repo: Repo, wanted: list[Root]) -> None:
    """Fetch ``wanted`` from the default remote when any is missing from the cache
    (a no-op without a default remote). Raises MissingObjectError when the remote
    simply lacks objects, another TetherError (naming the remote) when it failed.
    A Root of kind ``file`` fetches that one object, even a tree."""
    if not repo.config.remote or all(repo.odb.exists(r.digest) for r in wanted):
        return
    remote = open_for(repo, None)
    stats = fetch(repo.odb, remote, wanted, remote.spec.jobs, progress.transfer)
    if stats.failed and set(stats.failed) <= stats.absent:
        first = sorted(stats.failed)[0]
        raise MissingObjectError(f"fetch {stats.remote}: {first}: {stats.failed[first]}")
    raise_failures(stats)


def _pointers(
    repo: Repo, targets: list[str] | None, all_commits: bool, broken: list[tracked.Broken]
) -> list[Pointer]:
    if all_commits:
        chosen = tracked.referenced(repo, workspace_only=False, all_commits=True)
        if targets:
            selected = tracked.select(repo, targets, outputs=True, broken=broken)
            wanted = {p.path for p in selected}
            chosen = [p for p in chosen if p.path in wanted]
        return chosen
    return tracked.select(repo, targets, outputs=True, broken=broken)


def _jobs(remote: Remote, jobs: int | None) -> int:
    return jobs or remote.spec.jobs


def raise_failures(stats: Stats) -> None:
    """Raise TransferError naming the first object that failed to move, if any."""
    if stats.failed:
        names = sorted(stats.failed)
        first = names[0]
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        reason = stats.failed[first]
        hint = (
            "the remote copy is damaged: delete it there and `tether push` again from a "
            "machine whose cache holds it"
            if "corrupt" in reason and stats.direction is Direction.FETCH
            else None
        )
        raise TransferError(f"{stats.direction} {stats.remote}: {first}: {reason}{more}", hint)


def do_transfer(
    repo: Repo,
    direction: Direction,
    targets: list[str] | None,
    remote_name: str | None,
    jobs: int | None,
    all_commits: bool = False,
) -> Stats:
    """``push`` or ``fetch`` the objects of the chosen pointers, under the repo lock."""
    remote = open_for(repo, remote_name)
    with repo.lock(direction):
        broken: list[tracked.Broken] = []  # the others move; these are failures
        chosen = roots(_pointers(repo, targets, all_commits, broken))
        if direction is not Direction.PUSH:
            stats = fetch(repo.odb, remote, chosen, _jobs(remote, jobs), progress.transfer)
        else:
            previous = _pushed(repo, remote)
            stats = push(repo.odb, remote, chosen, _jobs(remote, jobs), previous, progress.transfer)
            trees = {r.name: r.digest for r in chosen if r.kind == "dir"}
            failed = set(stats.failed)
            _remember(repo, remote, {k: v for k, v in trees.items() if k not in failed})
        for b in broken:
            stats.failed[b.source] = f"pointer file does not parse: {b.error.message}"
        return stats


_PUSHED = "pushed-trees.json"


def _pushed(repo: Repo, remote: Remote) -> dict[str, str]:
    """Per remote URL: the tree digest each folder had when last pushed there."""
    import json

    from tether import ownfiles

    try:
        data = json.loads(ownfiles.read_text(repo.tmp / _PUSHED) or "{}")
        found = data.get(remote.spec.url, {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _remember(repo: Repo, remote: Remote, trees: dict[str, str]) -> None:
    import json

    from tether.yamlio import write_atomic

    if not trees:
        return
    from tether import ownfiles

    path = repo.tmp / _PUSHED
    try:
        data = json.loads(ownfiles.read_text(path) or "{}")
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data.setdefault(remote.spec.url, {}).update(trees)
    write_atomic(path, json.dumps(data, sort_keys=True))


def do_pull(
    repo: Repo,
    targets: list[str] | None,
    remote_name: str | None,
    jobs: int | None,
    force: bool,
) -> tuple[Stats, list[checkout.Checked]]:
    """Fetch, then check out every pointer whose objects all arrived."""
    stats = do_transfer(repo, Direction.FETCH, targets, remote_name, jobs)
    ready = [
        p.path
        for p in tracked.select(repo, targets, outputs=True, broken=[])  # in stats.failed
        if not any(p.path == f or f.startswith(p.path + "/") for f in stats.failed)
    ]
    results = checkout.checkout(repo, ready, force) if ready else []
    return stats, results


def status(repo: Repo, targets: list[str] | None, remote_name: str | None) -> dict[str, Any]:
    remote = open_for(repo, remote_name)
    rs = roots(tracked.select(repo, targets, outputs=True))
    paths = remote_status(repo.odb, remote, rs, remote.spec.jobs)
    clean = all(not v["missing_in_cache"] and not v["missing_on_remote"] for v in paths.values())
    return {"remote": remote.name, "paths": paths, "clean": clean}
