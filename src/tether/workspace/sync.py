"""``push``, ``fetch``, ``pull`` and ``status --remote``: the pointer-level side
of the transfer engine (which objects the chosen pointers need)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from tether import progress
from tether.artifact import Artifact
from tether.pointer import Pointer
from tether.remotes_service import open_for, roots
from tether.repo import Repo
from tether.storage.remotes import Remote
from tether.storage.transfer import Direction, Stats, fetch, push, remote_status
from tether.workspace import checkout, refs, tracked


def _pointers(
    repo: Repo,
    targets: list[str] | None,
    all_commits: bool,
    broken: list[tracked.Broken],
    outputs: tracked.StageOutputs,
) -> list[Pointer]:
    if all_commits:
        chosen = tracked.referenced(repo, outputs, workspace_only=False, all_commits=True)
        if targets:
            selected = tracked.select(repo, targets, outputs, broken=broken)
            wanted = {p.path for p in selected}
            chosen = [p for p in chosen if p.path in wanted]
        return chosen
    return tracked.select(repo, targets, outputs, broken=broken)


def _jobs(remote: Remote, jobs: int | None) -> int:
    return jobs or remote.spec.jobs


def do_transfer(
    repo: Repo,
    direction: Direction,
    targets: list[str] | None,
    remote_name: str | None,
    jobs: int | None,
    all_commits: bool = False,
    *,
    outputs: tracked.StageOutputs,
) -> Stats:
    """``push`` or ``fetch`` the objects of the chosen pointers and cached stage
    outputs (``outputs``), under the repo lock."""
    remote = open_for(repo, remote_name)
    with repo.lock(direction):
        broken: list[tracked.Broken] = []  # the others move; these are failures
        chosen = roots(_pointers(repo, targets, all_commits, broken, outputs))
        stats = move(repo, direction, remote, chosen, jobs, outputs=outputs)
        for b in broken:
            stats.failed[b.source] = f"pointer file does not parse: {b.error.message}"
        return stats


def move(
    repo: Repo,
    direction: Direction,
    remote: Remote,
    chosen: list[Artifact],
    jobs: int | None,
    *,
    outputs: tracked.StageOutputs,
) -> Stats:
    """``push`` or ``fetch`` the objects of ``chosen`` with progress; a push
    records on the remote what it relies on (for its gc). The caller holds the
    repo lock."""
    if direction is not Direction.PUSH:
        with _waiting(direction, remote):
            return fetch(repo.odb, remote, chosen, _jobs(remote, jobs), progress.transfer)
    with (
        _waiting(direction, remote),  # also while a gc of the remote holds the push
        refs.pushing(repo, remote, chosen, _jobs(remote, jobs), outputs),
    ):
        return push(repo.odb, remote, chosen, _jobs(remote, jobs), progress.transfer)


def _waiting(direction: str, remote: Remote) -> AbstractContextManager[None]:
    return progress.waiting(f"{direction} {remote.name}: waiting for {remote.spec.url}")


def do_pull(
    repo: Repo,
    targets: list[str] | None,
    remote_name: str | None,
    jobs: int | None,
    force: bool,
    *,
    outputs: tracked.StageOutputs,
) -> tuple[Stats, list[checkout.Checked]]:
    """Fetch, then check out every pointer whose objects all arrived."""
    stats = do_transfer(repo, Direction.FETCH, targets, remote_name, jobs, outputs=outputs)
    ready = [
        p.path
        for p in tracked.select(repo, targets, outputs, broken=[])  # in stats.failed
        if not any(p.path == f or f.startswith(p.path + "/") for f in stats.failed)
    ]
    results = checkout.checkout(repo, ready, force, outputs=outputs) if ready else []
    return stats, results


def remote_report(
    repo: Repo,
    targets: list[str] | None,
    remote_name: str | None,
    *,
    outputs: tracked.StageOutputs,
) -> dict[str, Any]:
    """``status --remote``: per tracked path, the objects missing in the cache
    and on the remote."""
    remote = open_for(repo, remote_name)
    rs = roots(tracked.select(repo, targets, outputs))
    with _waiting("status", remote):
        paths = remote_status(repo.odb, remote, rs, remote.spec.jobs)
    clean = all(not v["missing_in_cache"] and not v["missing_on_remote"] for v in paths.values())
    return {"remote": remote.name, "paths": paths, "clean": clean}
