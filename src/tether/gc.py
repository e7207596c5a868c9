"""``tether gc``: delete cache objects that nothing references any more.

Referenced means: named by a pointer file or a stage output in tether.lock in
the workspace, or (unless ``workspace_only``) in the commit of any branch, tag
or HEAD, the last :data:`HISTORY` commits of HEAD, any commit a reflog or
``git stash`` still names, any experiment's commit (and the log its note
names), a queued experiment's starting point, or by a run-cache entry, directly or as an entry of
a referenced tree. If a referenced tree is itself missing, or a pointer or lock
in one of those commits does not parse, gc cannot know what it needs and stops
without deleting anything. It deletes only in a folder carrying the cache's
layout marker, and only names it wrote. It runs under the repository lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from tether import exprefs, gitscm, units
from tether.artifact import Kind
from tether.errors import ConfirmationError, MetadataError, MissingObjectError, PathError
from tether.pipeline import runcache
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.repo import Repo
from tether.storage import tree
from tether.workspace import tracked

TMP_MAX_AGE = 24 * 3600
HISTORY = 10  # commits of HEAD kept by default, so `git checkout HEAD~3` still finds its data


@dataclass
class Plan:
    scope: str
    keep: set[str] = field(default_factory=set)
    drop: dict[str, int] = field(default_factory=dict)  # digest -> size
    stale: dict[str, int] = field(default_factory=dict)  # killed writers' temporaries -> size

    @property
    def drop_bytes(self) -> int:
        return sum(self.drop.values()) + sum(self.stale.values())

    @property
    def empty(self) -> bool:
        return not self.drop and not self.stale

    @property
    def summary(self) -> str:
        """What would go, as the user reads it: ``3 unreferenced object(s), 1.2 kB``."""
        text = f"{len(self.drop)} unreferenced object(s)"
        if self.stale:
            text += f" and {len(self.stale)} temporary file(s) of interrupted writers"
        return f"{text}, {units.size(self.drop_bytes)}"


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    removed: bool = False  # False: a dry run, nothing to remove, or the user said no
    freed: int = 0


def collect(
    repo: Repo,
    workspace_only: bool,
    all_commits: bool = False,
    *,
    dry_run: bool = False,
    force: bool = False,
    confirm: Callable[[Plan], bool] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> Outcome:
    """``tether gc``: plan, then delete, under the repository lock (no writer
    adds an object between the two). ``on_plan`` sees the plan as soon as it is
    made. Deleting needs ``force`` or a ``confirm`` that says yes (it is shown
    the plan); with neither, ConfirmationError."""
    with repo.lock("tether gc"):
        p = plan(repo, workspace_only, all_commits)
        if on_plan is not None:
            on_plan(p)
        if dry_run or p.empty:
            return Outcome(p)
        if not force:
            if confirm is None:
                raise ConfirmationError(f"gc would remove {p.summary}")
            if not confirm(p):
                return Outcome(p)
        return Outcome(p, True, _delete(repo, p))


def plan(repo: Repo, workspace_only: bool, all_commits: bool = False) -> Plan:
    scope = (
        "the workspace"
        if workspace_only
        else "every commit, the reflogs and stash, experiments, and the workspace"
        if all_commits
        else f"the tips of all branches and tags, the last {HISTORY} commits of HEAD, "
        "the reflogs and stash, experiments, and the workspace"
    )
    result = Plan(scope)
    extra = [] if workspace_only else _recent(repo)
    if not workspace_only:  # experiments are references too, with their logs
        experiments = [sha for _, sha in exprefs.all_refs(repo.root).values()]
        extra += experiments
        result.keep.update(exprefs.log_objects(repo.root, experiments).values())
        # and a queued experiment's starting point (uncommitted data it will run on)
        extra += [sha for _, sha in gitscm.refs_under(repo.root, exprefs.QUEUE_PREFIX)]
    # read every reference first, even with nothing to delete: a reference gc
    # cannot read is reported the same way whatever the cache holds
    referenced = tracked.referenced(
        repo, STAGE_OUTPUTS, workspace_only, all_commits, extra, strict=True
    )
    if not _ours(repo):
        return result
    for p in referenced:
        result.keep.add(p.digest)
        if p.kind is Kind.DIR:
            if not repo.odb.exists(p.digest):
                raise MissingObjectError(
                    f"tree {p.digest} of {p.path} is not in the cache; "
                    "gc cannot tell what it needs",
                    "fetch it (`tether pull`) or use --workspace",
                )
            t = tree.parse(repo.odb.read(p.digest, p.source), p.source)
            result.keep.update(e.digest for e in t.entries)
    for key in runcache.local_keys(repo):  # runs stay restorable
        try:
            outs = runcache.get(repo, key) or []
        except MetadataError:
            continue  # a damaged entry restores nothing
        for a in outs:
            result.keep.add(a.digest)
            if a.kind is Kind.DIR and repo.odb.exists(a.digest):
                t = tree.parse(repo.odb.read(a.digest, f"run-cache {key}"), f"run-cache {key}")
                result.keep.update(e.digest for e in t.entries)
    for digest in repo.odb.all():
        if digest not in result.keep:
            try:
                result.drop[digest] = repo.odb.path(digest).stat().st_size
            except FileNotFoundError:
                continue
    for path in repo.odb.stale_temporaries(TMP_MAX_AGE):
        with contextlib.suppress(FileNotFoundError):
            result.stale[path] = os.stat(path).st_size
    return result


def _recent(repo: Repo) -> list[str]:
    return gitscm.recent_commits(repo.root, HISTORY) + gitscm.reflog_commits(repo.root)


def _ours(repo: Repo) -> bool:
    """False for a cache with nothing in it yet; refuse a folder without the layout
    marker: gc deletes only where it can prove the files are tether's."""
    odb = repo.odb
    if odb.marked():
        return True
    if not any(p.exists() for p in (odb.objects, odb.tmp)):
        return False
    if odb.root.is_relative_to(repo.dir):  # inside .tether/, which git may not hold: ours
        odb.mark()  # a cache written before markers existed
        return True
    raise PathError(
        f"{odb.root} has no tether layout marker ({odb.marker.name}); "
        "gc deletes only in a folder it can prove is a tether cache",
        "check cache.dir (`tether cache dir`); if the folder is tether's cache, "
        "any `tether add` or `tether pull` into it writes the marker",
    )


def _delete(repo: Repo, p: Plan) -> int:
    """Delete what the plan drops; returns bytes freed. Only under the
    repository lock the plan was made under (:func:`collect`)."""
    freed = sum(repo.odb.remove(d) for d in p.drop)
    for path, size in p.stale.items():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            freed += size
    return freed
