"""``tether repro``: run the stale stages in dependency order (scheduler.py;
side by side with ``-j N``).

For each stage, once the stages it depends on finished: decide (staleness.py);
if stale, try to restore its outputs from the lock or the run-cache; else
remove its outputs (unless
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
from typing import Any

from tether import gitscm, progress, tempfiles
from tether.artifact import Artifact
from tether.errors import (
    FETCH_FAILURES,
    MetadataError,
    MissingObjectError,
    PipelineError,
    StageFailedError,
    TetherError,
)
from tether.pipeline import graph as graphmod
from tether.pipeline import lock, runcache, scheduler, sources, spec
from tether.pipeline.executor import Executor, Job, LocalExecutor, RunnerExecutor
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
# StageFailedError when a command fails (``repro(runner=...)``); an
# :class:`~tether.pipeline.executor.Executor` (``repro(executor=...)``) can
# also be stopped and is called from several threads with ``jobs`` > 1.
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
            tmp = tempfiles.claim(f)
            try:
                shutil.copyfile(f, tmp)  # follows a symlink to the cached content
                os.chmod(tmp, 0o644 | (st.st_mode & 0o111))
                os.replace(tmp, f)
            finally:
                tempfiles.release(tmp)


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


@dataclass
class _Options:
    force: bool
    dry: bool
    keep_going: bool
    use_run_cache: bool
    to_stderr: bool
    logs: bool  # stages run side by side: each one's output kept in .tether/logs/
    start: Callable[[str, list[str]], None]
    note: Callable[[str], None]
    warn: Callable[[str], None]


class _Repro:
    """What ``repro`` does with each stage, in the scheduler's thread: decide,
    restore, prepare the outputs; once it ran, store and record it."""

    def __init__(
        self, repo: Repo, graph: graphmod.Graph, entries: dict[str, lock.Entry], opts: _Options
    ) -> None:
        self.repo, self.graph, self.entries, self.opts = repo, graph, entries, opts
        self.memo = Memo()
        self.outcomes: list[Outcome] = []
        self.running: set[str] = set()  # ran, restored or about to run
        self.failed: set[str] = set()
        self.failed_logs: list[str] = []
        self._pending: dict[str, tuple[list[str], dict[str, Any], float]] = {}

    def prepare(self, name: str) -> Job | None:
        repo, graph, opts = self.repo, self.graph, self.opts
        stage = graph.stages[name]
        blocked = graph.upstream[name] & self.failed
        if blocked:
            self.outcomes.append(
                Outcome(name, Action.BLOCKED, [f"{', '.join(sorted(blocked))} failed"])
            )
            self.failed.add(name)
            return None
        st = stage_staleness(repo, graph, stage, self.entries.get(name), self.running, self.memo)
        if not st.stale and not opts.force:
            opts.note(f"stage {name} unchanged, skipped")
            self.outcomes.append(Outcome(name, Action.SKIPPED))
            return None
        sources.check_upstream(repo, graph, stage, self.entries, self.running, self.memo)
        reasons = st.reasons or ["forced"]
        self.running.add(name)
        if opts.dry:
            self.outcomes.append(Outcome(name, Action.WOULD_RUN, reasons))
            return None
        deps, missing = dep_artifacts(repo, stage, self.memo)
        if missing:
            producer = graph.producer(missing[0])
            hint = (
                f"it is an output of stage {producer}"
                if producer
                else "create it, `tether pull` it, or declare the stage that makes it"
            )
            raise PipelineError(f"stage {name} needs {missing[0]}, which does not exist", hint)
        params = param_values(repo, stage)
        start = time.monotonic()
        self.memo.clear()  # this stage writes to the workspace now
        if opts.use_run_cache and not opts.force and self._restored(stage, deps, params):
            self.outcomes.append(Outcome(name, Action.RESTORED, reasons, time.monotonic() - start))
            return None
        self._pending[name] = (reasons, params, start)
        log = repo.dir / "logs" / f"{name}.log" if opts.logs else None
        return Job(
            repo.root, stage, log=log, to_stderr=opts.to_stderr, begin=lambda: self._clear(stage)
        )

    def _restored(self, stage: spec.Stage, deps: list[Artifact], params: dict[str, Any]) -> bool:
        """Outputs of the same configuration restored from the lock or the run-cache."""
        name, warn = stage.name, self.opts.warn
        k = runcache.key(stage, deps, params)
        prev = self.entries.get(name)
        hit = None
        if (
            prev is not None
            and prev.cmd == stage.cmd_text  # the key is of the current command
            and runcache.key(stage, list(prev.deps), prev.params) == k
        ):
            hit = list(prev.outs)
        hit = hit if hit and len(hit) == len(stage.outs) else _cached(self.repo, name, k, warn)
        if (
            hit
            and {a.path for a in hit} == {o.path for o in stage.outs}
            and _restore(self.repo, name, hit, warn)
        ):
            self.entries[name] = lock.Entry(stage.cmd_text, tuple(deps), params, tuple(hit))
            lock.save(self.repo.root, self.entries)
            return True
        return False

    def start(self, job: Job) -> None:
        stage = job.stage
        reasons, params, _ = self._pending[stage.name]
        self._pending[stage.name] = (reasons, params, time.monotonic())
        self.opts.start(stage.name, reasons)
        self.memo.clear()

    def _clear(self, stage: spec.Stage) -> None:
        """Right before the stage's commands start (the executor calls it):
        remove its outputs, make ``persist`` ones writable."""
        root = self.repo.root
        for o in stage.outs:
            if o.persist:
                _unprotect(str(root / o.path))
            else:
                _remove(o.path, root)
            (root / o.path).parent.mkdir(parents=True, exist_ok=True)
        self.memo.clear()

    def finish(self, job: Job, error: TetherError | None) -> None:
        repo, stage, name = self.repo, job.stage, job.stage.name
        reasons, params, start = self._pending.pop(name)
        self.memo.clear()
        if error is not None:
            if isinstance(error, StageFailedError) and job.log is not None:
                self.opts.warn(error.message)  # side by side: said when it happens
                self.failed_logs.append(f"{name}: {repo.rel(job.log)}")
            self.failed.add(name)
            self.outcomes.append(Outcome(name, Action.FAILED, reasons, time.monotonic() - start))
            if not isinstance(error, StageFailedError) or not self.opts.keep_going:
                raise error
            return
        with progress.task(f"caching outputs of {name}"):
            outs = _store_outs(repo, stage)
        deps_after, _ = dep_artifacts(repo, stage)  # what it actually ran against
        self.entries[name] = lock.Entry(stage.cmd_text, tuple(deps_after), params, tuple(outs))
        lock.save(repo.root, self.entries)  # after every stage, one at a time, sorted
        runcache.save(repo, runcache.key(stage, deps_after, params), outs)
        self.outcomes.append(Outcome(name, Action.RAN, reasons, time.monotonic() - start))

    def result(self, names: list[str]) -> list[Outcome]:
        """Each stage's outcome in run order; a stage a failure kept from running
        (the run stopped before it) is ``blocked`` too."""
        done = {o.name for o in self.outcomes}
        failed, blocked = set(self.failed), []
        for name in names:
            upstream_failed = self.graph.upstream[name] & failed
            if name not in done and upstream_failed:
                failed.add(name)
                reason = f"{', '.join(sorted(upstream_failed))} failed"
                blocked.append(Outcome(name, Action.BLOCKED, [reason]))
        order = {n: i for i, n in enumerate(names)}
        return sorted([*self.outcomes, *blocked], key=lambda o: order[o.name])


def repro(
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
    jobs: int = 1,
    cpus: int | None = None,
    executor: Executor | None = None,
    runner: StageRunner | None = None,
    on_done: Callable[[list[Outcome]], None] | None = None,
) -> list[Outcome]:
    """``on_start``: a stage is about to run (name, why); ``on_note``: a line for
    the user (a data source stored, a stage skipped); ``on_warn``: something the
    user must see (why a restore failed); ``stage_output_to_stderr``: the
    commands print to stderr, leaving stdout to the caller (``--json``).
    ``jobs``: stages run side by side (scheduler.py), within ``cpus`` (default:
    the machine's) and the GPUs there are; ``executor`` runs them (default: here;
    ``runner``: a plain function in its place). ``on_done``: the outcomes (as
    returned) once the run ended, also when a stage failed (before the error
    is raised), so what ran, was restored or blocked is reported either way."""
    warn = on_warn or (lambda _: None)
    opts = _Options(
        force=force,
        dry=dry,
        keep_going=keep_going,
        use_run_cache=use_run_cache,
        to_stderr=stage_output_to_stderr,
        logs=jobs > 1,
        start=on_start or (lambda _n, _r: None),
        note=on_note or (lambda _: None),
        warn=warn,
    )
    pointers = tracked.all_pointers(repo)
    graph = load(repo, pointers)
    names = select(graph, targets, single_item, downstream)
    limits = (
        scheduler.Limits()
        if dry
        else scheduler.limits_for(
            (graph.stages[n] for n in names), jobs, cpus, here=executor is None and runner is None
        )
    )
    plan = _Repro(repo, graph, lock.load(repo.root), opts)
    lock_name = "repro" if not dry else "repro --dry"
    with repo.lock(lock_name):
        changed = sources.changed(repo, pointers, [graph.stages[n] for n in names], plan.memo)
        if dry:
            for p in changed:
                opts.note(f"{p.path} changed: would store it and update {p.source}")
        else:
            for p in sources.store(repo, changed):
                opts.note(f"{p.path} changed: stored and pointer updated ({p.source})")
        done = on_done or (lambda _: None)
        try:
            executor = executor or (RunnerExecutor(runner) if runner else LocalExecutor())
            scheduler.run(names, graph.upstream, plan, executor, limits)
        except TetherError:
            done(plan.result(names))
            raise
        finally:
            for line in plan.failed_logs:
                warn(f"full output of failed stage {line}")
        outcomes = plan.result(names)
        wrote = any(o.action in (Action.RAN, Action.RESTORED) for o in outcomes)
        if not dry and wrote and repo.config.autostage:
            gitscm.stage(repo.root, [lock.FILE, *_kept_in_git(repo, graph, outcomes)])
    done(outcomes)
    if plan.failed:
        first = next(o for o in outcomes if o.action is Action.FAILED)
        raise StageFailedError(
            f"{len([o for o in outcomes if o.action is Action.FAILED])} stage(s) failed, "
            f"first: {first.name}",
            1,
        )
    return outcomes
