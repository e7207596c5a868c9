"""``tether remote verify``: is everything the workspace (``-A``: every
commit of every branch and tag) references whole on a remote?

Every object (each file, each folder's tree) is looked up by listings; with
``deep`` it is downloaded and hashed as a pull would read it. With
``repair``, what is missing or damaged goes back up from the cache, over any
damaged copy (atomically), and what no local copy can restore is named.
Runs under the repository lock (a repair may fetch trees into the cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tether import progress
from tether.pipeline import runcache, runcache_remote
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.pointer import Pointer
from tether.remotes_service import open_for, roots
from tether.repo import Repo
from tether.storage import holes
from tether.storage.holes import Problem
from tether.storage.transfer import prepare
from tether.workspace import tracked


@dataclass(frozen=True)
class Hole:
    path: str  # the path that needs the object (a folder, for its tree)
    digest: str  # of the object; a run-cache entry's key
    kind: str  # file | tree | run-cache
    problem: Problem
    reason: str  # what is wrong with it
    repaired: bool | None  # None: no repair asked for
    repair_error: str | None = None  # why it could not be repaired


@dataclass
class Report:
    remote: str
    deep: bool
    repair: bool
    objects: int = 0
    holes: list[Hole] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # pointer files that do not parse
    run_cache: bool = False  # this cache's run-cache entries, and their outputs, checked too

    @property
    def whole(self) -> bool:
        """Nothing missing or damaged (after a repair: every hole filled), and
        every pointer file read."""
        return all(h.repaired for h in self.holes) and not self.unreadable


def _pointers(repo: Repo, all_commits: bool, unreadable: list[str]) -> list[Pointer]:
    if all_commits:
        return tracked.referenced(repo, STAGE_OUTPUTS, workspace_only=False, all_commits=True)
    broken: list[tracked.Broken] = []
    found = tracked.select(repo, None, STAGE_OUTPUTS, broken=broken)
    unreadable += [f"{b.source}: {b.error.message}" for b in broken]
    return found


def verify(
    repo: Repo,
    remote_name: str | None,
    all_commits: bool,
    deep: bool,
    repair: bool,
    run_cache: bool = False,
) -> Report:
    remote = open_for(repo, remote_name)
    report = Report(remote.name, deep, repair, run_cache=run_cache)
    jobs = remote.spec.jobs
    scratch = repo.tmp / f"verify-{os.getpid()}"
    with repo.lock("tether remote verify"):
        prepare(remote, write=repair)  # a marker of another format: nothing read or repaired
        chosen = roots(_pointers(repo, all_commits, report.unreadable))
        if run_cache:
            chosen = roots([*chosen, *runcache.outputs_of_local(repo)])
        wanted = holes.needs(repo.odb, remote, chosen, jobs, progress.transfer)
        report.objects = wanted.count
        found = holes.check(repo.odb, remote, wanted, jobs, deep, scratch, progress.transfer)
        left: dict[str, str] = {}
        if repair and found:
            stats = holes.repair(repo.odb, remote, wanted, found, jobs, progress.transfer)
            again = holes.Needs(
                {d: v for d, v in wanted.files.items() if d in found},
                {d: v for d, v in wanted.trees.items() if d in found},
                {d: v for d, v in wanted.holes.items() if d in found},
            )
            still = holes.check(repo.odb, remote, again, jobs, deep, scratch, progress.transfer)
            for d, hole in still.items():
                left[d] = stats.failed.get(hole.name) or f"still {hole.reason}"
        entries = runcache_remote.check_remote(repo, remote, deep) if run_cache else []
        report.objects += len(entries)
        if repair and entries:
            left.update(runcache_remote.restore_remote(repo, remote, [e.key for e in entries]))
            still_bad = {e.key: e for e in runcache_remote.check_remote(repo, remote, deep)}
            for e in entries:
                if e.key in still_bad and e.key not in left:
                    left[e.key] = f"still {still_bad[e.key].reason}"
    for d in sorted(found, key=lambda d: (found[d].name, d)):
        h = found[d]
        fixed = None if not repair else d not in left
        kind = "tree" if h.tree else "file"
        report.holes.append(Hole(h.name, d, kind, h.problem, h.reason, fixed, left.get(d)))
    for e in entries:
        fixed = None if not repair else e.key not in left
        problem = Problem.MISSING if e.missing else Problem.DAMAGED
        report.holes.append(
            Hole("run-cache", e.key, "run-cache", problem, e.reason, fixed, left.get(e.key))
        )
    return report
