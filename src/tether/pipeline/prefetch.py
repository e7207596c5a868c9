"""``repro --pull``: fetch from the default remote whatever the decision needs —
run-cache entries, the data of tracked dependencies, and the outputs the lock
records — so a fresh CI clone restores instead of re-running. A remote that
fails is an error (it was asked for); objects that did not arrive are a warning,
since the stages that need them run again."""

from __future__ import annotations

from collections.abc import Callable

from tether import progress, remotes_service
from tether.pipeline import lock, runcache_remote
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.repo import Repo
from tether.storage.transfer import fetch
from tether.workspace import checkout, tracked


def prefetch(repo: Repo, warn: Callable[[str], None]) -> str:
    entries = runcache_remote.pull(repo, None)
    remote = remotes_service.open_for(repo, None)
    roots = remotes_service.roots(tracked.all_pointers(repo))
    for entry in lock.load(repo.root).values():
        roots += entry.outs
    with repo.lock("repro --pull"):
        stats = fetch(repo.odb, remote, roots, remote.spec.jobs, progress.transfer)
    if stats.failed:
        first = sorted(stats.failed)[0]
        warn(
            f"fetch {stats.remote}: {len(stats.failed)} path(s) not fetched, first {first}: "
            f"{stats.failed[first]}; the stages that need them run again"
        )
    ready = [p.path for p in tracked.select(repo, None, STAGE_OUTPUTS) if repo.odb.exists(p.digest)]
    if ready:
        checkout.checkout(repo, ready, force=False, outputs=STAGE_OUTPUTS)
    return f"{stats.summary()}; run-cache: {entries} new entr{'y' if entries == 1 else 'ies'}"
