"""``tether repro``: run the stale stages in dependency order.

For each stage, in order: decide (status.py); if stale, try to restore its
outputs from the lock or the run-cache; else remove its outputs (unless
``persist``), run its command in ``wdir`` with output streaming live, check
it produced every output, store the outputs in the cache, and record the
stage in ``tether.lock`` (atomically, after every stage, so a failure later
leaves completed stages recorded) and in the run-cache.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tether import gitscm, progress, tempfiles
from tether.artifact import Artifact
from tether.errors import (
    FETCH_FAILURES,
    MetadataError,
    MissingObjectError,
    PipelineError,
    StageFailedError,
)
from tether.pipeline import graph as graphmod
from tether.pipeline import lock, runcache, sources, spec
from tether.pipeline.execute import execute
from tether.pipeline.outputs import load
from tether.pipeline.staleness import dep_artifacts, param_values, stage_staleness
from tether.pointer import Pointer
from tether.remotes_service import fetch_from_default
from tether.repo import Repo
from tether.workspace import tracked
from tether.workspace.add import relink, store_path
from tether.workspace.checkout import checkout_pointer
from tether.workspace.hashpath import Memo

# Runs a stage's commands so that its outputs are in the workspace, raising
# StageFailedError when a command fails: :func:`execute` here, or an executor
# that runs them elsewhere and brings the outputs back (``ray_exec``).
StageRunner = Callable[[Path, spec.Stage, bool], None]


class Action(StrEnum):
    """What ``repro`` did with a stage; the values are those of ``tether.repro/v1``."""

    SKIPPED = "skipped"  # up to date
    RAN = "ran"
    RESTORED = "restored"  # from the lock or the run-cache
    WOULD_RUN = "would run"  # --dry
    FAILED = "failed"
    BLOCKED = "blocked"  # a stage it depends on failed


@dataclass
class Outcome:
    name: str
    action: Action
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0


def select(
    graph: graphmod.Graph, targets: list[str] | None, single: bool, downstream: bool
) -> list[str]:
    if not targets:
        return graph.order()
    chosen: set[str] = set()
    for t in targets:
        matches = [n for n in graph.stages if n == t or n.startswith(t + "@")]
        if not matches:
            raise PipelineError(f"no stage named {t!r}", "see `tether dag` for the stages")
        for n in matches:
            chosen.add(n)
            if downstream:
                chosen |= graph.downstream_of(n)
            elif not single:
                chosen |= graph.upstream_of(n)
    return graph.order(chosen)


def _restore(repo: Repo, name: str, outs: list[Artifact], warn: Callable[[str], None]) -> bool:
    """Check out a recorded run's outputs; False when they cannot be had. Objects
    that neither the cache nor the default remote hold are a plain miss; any other
    failure (the remote refused, a corrupt object) is a warning: the stage then
    runs, and the user learns why."""
    try:  # a run-cache hit made elsewhere: its objects come from the default remote
        fetch_from_default(repo, outs)
        for a in outs:
            checkout_pointer(repo, Pointer.of(a, lock.FILE), force=True)
    except MissingObjectError:
        return False
    except FETCH_FAILURES as exc:
        warn(f"could not restore {name} from the run-cache, running it: {exc}")
        return False
    return True


def _cached(repo: Repo, name: str, k: str, warn: Callable[[str], None]) -> list[Artifact] | None:
    """The run-cache entry for ``k``; a damaged one is a miss the user hears about."""
    try:
        return runcache.get(repo, k)
    except MetadataError as exc:
        warn(f"ignoring a damaged run-cache entry for {name}, running it: {exc.message}")
        return None


def _remove(path: str, root: os.PathLike[str] | str) -> None:
    full = os.path.join(root, path)
    if os.path.isdir(full) and not os.path.islink(full):
        shutil.rmtree(full)
    elif os.path.lexists(full):
        os.unlink(full)


def _unprotect(path: str) -> None:
    """Give a persisted output back its own writable copy: with hardlink or
    symlink links it is the cache's read-only object, which the stage must
    not write into."""
    targets = (
        [os.path.join(d, f) for d, _, files in os.walk(path) for f in files]
        if os.path.isdir(path) and not os.path.islink(path)
        else [path]
    )
    for f in targets:
        if not os.path.lexists(f):
            continue
        st = os.lstat(f)
        if os.path.islink(f) or st.st_nlink > 1 or not st.st_mode & 0o200:
            tmp = tempfiles.beside(f)
            shutil.copyfile(f, tmp)  # follows a symlink to the cached content
            os.chmod(tmp, 0o644 | (st.st_mode & 0o111))
            os.replace(tmp, f)


def _kept_in_git(repo: Repo, graph: graphmod.Graph, outcomes: list[Outcome]) -> list[str]:
    """Outputs of the stages that ran that belong in git (``cache: false``, e.g.
    ``-M metrics.json``): staged with tether.lock, unless a .gitignore excludes them."""
    paths = [
        o.path
        for oc in outcomes
        if oc.action in (Action.RAN, Action.RESTORED)
        for o in graph.stages[oc.name].outs
        if not o.cache and (repo.root / o.path).exists()
    ]
    return sorted(set(paths) - gitscm.ignored(repo.root, paths))


def _store_outs(repo: Repo, stage: spec.Stage) -> list[Artifact]:
    arts: list[Artifact] = []
    missing = [o.path for o in stage.outs if not (repo.root / o.path).exists()]
    if missing:
        raise PipelineError(
            f"stage {stage.name} did not produce {', '.join(missing)}",
            "make the command write every declared output, or fix outs in tether.yaml",
        )
    to_stage = []
    for o in stage.outs:
        with repo.odb.writer() as writer:
            p = store_path(repo, o.path, writer)
        relink(repo, p)  # like `tether add`: hardlink/symlink configs point at the cache
        arts.append(p)
        if o.cache and o.inside is None:  # a file inside an ignored folder needs no line
            to_stage.append(tracked.ignore(repo, o.path))
    if to_stage and repo.config.autostage:
        gitscm.stage(repo.root, to_stage)
    return arts


def repro(  # noqa: PLR0915 - one loop, each step commented
    repo: Repo,
    targets: list[str] | None = None,
    *,
    force: bool = False,
    dry: bool = False,
    single_item: bool = False,
    downstream: bool = False,
    keep_going: bool = False,
    use_run_cache: bool = True,
    on_start: Callable[[str, list[str]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_warn: Callable[[str], None] | None = None,
    stage_output_to_stderr: bool = False,
    runner: StageRunner = execute,
) -> list[Outcome]:
    """``on_start``: a stage is about to run (name, why); ``on_note``: a line for
    the user (a data source stored, a stage skipped); ``on_warn``: something the
    user must see (why a restore failed); ``stage_output_to_stderr``: the
    commands print to stderr, leaving stdout to the caller (``--json``);
    ``runner``: where a stage's commands run (here, or on a cluster)."""
    note = on_note or (lambda _: None)
    warn = on_warn or (lambda _: None)
    pointers = tracked.all_pointers(repo)
    graph = load(repo, pointers)
    names = select(graph, targets, single_item, downstream)
    entries = lock.load(repo.root)
    outcomes: list[Outcome] = []
    running: set[str] = set()
    failed: set[str] = set()
    memo = Memo()
    lock_name = "repro" if not dry else "repro --dry"
    with repo.lock(lock_name):
        changed = sources.changed(repo, pointers, [graph.stages[n] for n in names], memo)
        if dry:
            for p in changed:
                note(f"{p.path} changed: would store it and update {p.source}")
        else:
            for p in sources.store(repo, changed):
                note(f"{p.path} changed: stored and pointer updated ({p.source})")
        for name in names:
            stage = graph.stages[name]
            blocked = graph.upstream[name] & failed
            if blocked:
                outcomes.append(
                    Outcome(name, Action.BLOCKED, [f"{', '.join(sorted(blocked))} failed"])
                )
                failed.add(name)
                continue
            st = stage_staleness(repo, graph, stage, entries.get(name), running, memo)
            if not st.stale and not force:
                note(f"stage {name} unchanged, skipped")
                outcomes.append(Outcome(name, Action.SKIPPED))
                continue
            sources.check_upstream(repo, graph, stage, entries, running, memo)
            reasons = st.reasons or ["forced"]
            running.add(name)
            if dry:
                outcomes.append(Outcome(name, Action.WOULD_RUN, reasons))
                continue
            deps, missing = dep_artifacts(repo, stage, memo)
            if missing:
                producer = graph.producer(missing[0])
                hint = (
                    f"it is an output of stage {producer}"
                    if producer
                    else "create it, `tether pull` it, or declare the stage that makes it"
                )
                raise PipelineError(f"stage {name} needs {missing[0]}, which does not exist", hint)
            params = param_values(repo, stage)
            k = runcache.key(stage, deps, params)
            start = time.monotonic()
            memo.clear()  # this stage writes to the workspace now
            if use_run_cache and not force:
                prev = entries.get(name)
                hit = None
                if (
                    prev is not None
                    and prev.cmd == stage.cmd_text  # the key is of the current command
                    and runcache.key(stage, list(prev.deps), prev.params) == k
                ):
                    hit = list(prev.outs)
                hit = hit if hit and len(hit) == len(stage.outs) else _cached(repo, name, k, warn)
                if (
                    hit
                    and {a.path for a in hit} == {o.path for o in stage.outs}
                    and _restore(repo, name, hit, warn)
                ):
                    entries[name] = lock.Entry(stage.cmd_text, tuple(deps), params, tuple(hit))
                    lock.save(repo.root, entries)
                    outcomes.append(
                        Outcome(name, Action.RESTORED, reasons, time.monotonic() - start)
                    )
                    continue
            if on_start is not None:
                on_start(name, reasons)
            for o in stage.outs:
                if o.persist:
                    _unprotect(str(repo.root / o.path))
                else:
                    _remove(o.path, repo.root)
                (repo.root / o.path).parent.mkdir(parents=True, exist_ok=True)
            try:
                runner(repo.root, stage, stage_output_to_stderr)
            except StageFailedError:
                if not keep_going:
                    raise
                failed.add(name)
                outcomes.append(Outcome(name, Action.FAILED, reasons, time.monotonic() - start))
                continue
            with progress.task(f"caching outputs of {name}"):
                outs = _store_outs(repo, stage)
            deps_after, _ = dep_artifacts(repo, stage)  # what it actually ran against
            entries[name] = lock.Entry(stage.cmd_text, tuple(deps_after), params, tuple(outs))
            lock.save(repo.root, entries)
            runcache.save(repo, runcache.key(stage, deps_after, params), outs)
            outcomes.append(Outcome(name, Action.RAN, reasons, time.monotonic() - start))
        wrote = any(o.action in (Action.RAN, Action.RESTORED) for o in outcomes)
        if not dry and wrote and repo.config.autostage:
            gitscm.stage(repo.root, [lock.FILE, *_kept_in_git(repo, graph, outcomes)])
    if failed:
        first = next(o for o in outcomes if o.action is Action.FAILED)
        raise StageFailedError(
            f"{len([o for o in outcomes if o.action is Action.FAILED])} stage(s) failed, "
            f"first: {first.name}",
            1,
        )
    return outcomes
