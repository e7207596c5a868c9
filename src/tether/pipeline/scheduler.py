"""``repro -j N``: start each stage once every stage it depends on finished and
its resources are free, up to N at a time.

The scheduler owns the order; a :class:`Plan` (``repro``) decides, in the
scheduler's thread, what to do with each stage once its upstream finished, and
records each finished one; an :class:`~tether.pipeline.executor.Executor` runs
the commands, in worker threads when N > 1, in this thread with -j 1 (which
is then exactly the one-stage-at-a-time loop in dependency order).

Resources: ``-j`` slots, CPUs (``os.cpu_count()`` or ``--cpus``; a stage that
asks for more runs alone), GPUs (``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi``;
each running stage gets its own ids), and mutexes (stages sharing a name never
overlap). Memory is advisory: declared, never counted.

Failures: a failed stage's error goes to the plan, which records it and either
lets the rest go on (``--keep-going``) or raises it: then no new stage starts,
the running ones finish, and the first error is raised. Ctrl-C (or any bug)
stops the running stages and is raised once they ended; with N > 1 SIGTERM
does the same as Ctrl-C (the stages run in process groups of their own, which
a signal to tether alone would not reach).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from tether.errors import PipelineError, TetherError
from tether.pipeline.executor import Executor, Job
from tether.pipeline.spec import Stage


@dataclass(frozen=True)
class Limits:
    jobs: int = 1  # stages at once
    cpus: int = 1
    gpus: tuple[str, ...] = ()  # device ids
    counted: bool = True  # False: stages run elsewhere, only -j and mutexes apply here


def gpu_ids() -> tuple[str, ...]:
    """The GPUs of this machine: ``CUDA_VISIBLE_DEVICES`` when set, else those
    ``nvidia-smi -L`` lists, else none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        return tuple(ids[: next((i for i, v in enumerate(ids) if v == "-1"), len(ids))])
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        out = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU "))


def limits_for(stages: Iterable[Stage], jobs: int, cpus: int | None, here: bool = True) -> Limits:
    """The machine's limits; one error before anything runs for a stage that
    needs more GPUs than there are. ``here`` False: an executor that runs the
    stages elsewhere counts their resources itself."""
    if not here:
        return Limits(max(jobs, 1), counted=False)
    stages = list(stages)
    need = max((s.resources.gpus for s in stages), default=0)
    gpus = gpu_ids() if need else ()
    if need > len(gpus):
        greedy = next(s for s in stages if s.resources.gpus == need)
        raise PipelineError(
            f"stage {greedy.name} needs {need} GPU(s), this machine has {len(gpus)}",
            "run it where there are enough, set CUDA_VISIBLE_DEVICES, "
            "or lower resources.gpus in tether.yaml",
        )
    return Limits(max(jobs, 1), max(cpus if cpus else os.cpu_count() or 1, 1), gpus)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the stages run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class Plan(Protocol):
    def prepare(self, name: str) -> Job | None:
        """Every stage ``name`` depends on finished: the job to run, or None when
        there is nothing to run (up to date, restored, blocked)."""

    def start(self, job: Job) -> None:
        """The job starts now (its resources are free)."""

    def finish(self, job: Job, error: TetherError | None) -> None:
        """The job ended (``error``: how it failed); raise to start no other stage."""


class _Pool:
    """What is in use: slots, CPUs, GPU ids, mutexes."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.running = 0
        self.cpus = 0
        self.free_gpus = list(limits.gpus)
        self.mutexes: set[str] = set()

    def _cpus(self, stage: Stage) -> int:
        return min(stage.resources.cpus, self.limits.cpus)

    def fits(self, stage: Stage) -> bool:
        resources_free = not self.limits.counted or (
            self.cpus + self._cpus(stage) <= self.limits.cpus
            and stage.resources.gpus <= len(self.free_gpus)
        )
        return (
            self.running < self.limits.jobs
            and resources_free
            and not self.mutexes & set(stage.mutex)
        )

    def take(self, job: Job) -> Job:
        s = job.stage
        self.running += 1
        self.cpus += self._cpus(s)
        self.mutexes |= set(s.mutex)
        n = s.resources.gpus if self.limits.counted else 0
        gpus, self.free_gpus = self.free_gpus[:n], self.free_gpus[n:]
        return dataclasses.replace(job, gpus=tuple(gpus))

    def give_back(self, job: Job) -> None:
        self.running -= 1
        self.cpus -= self._cpus(job.stage)
        self.mutexes -= set(job.stage.mutex)
        self.free_gpus = sorted([*self.free_gpus, *job.gpus], key=self.limits.gpus.index)


class _Run:
    """One ``repro``'s stages on their way through the plan and the executor."""

    def __init__(
        self,
        names: list[str],
        upstream: dict[str, set[str]],
        plan: Plan,
        executor: Executor,
        limits: Limits,
    ) -> None:
        self.order = {n: i for i, n in enumerate(names)}
        self.upstream, self.plan, self.executor = upstream, plan, executor
        self.unfinished = set(names)
        self.waiting = list(names)  # not yet prepared
        self.ready: list[Job] = []  # prepared, waiting for resources
        self.running: dict[Future[None], Job] = {}
        self.pool = _Pool(limits)
        self.threads = ThreadPoolExecutor(limits.jobs) if limits.jobs > 1 else None
        self.first: TetherError | None = None  # raised once the running stages finished
        self.opened = False  # the executor's open() succeeded

    def _prepare(self) -> bool:
        """Prepare the stages whose upstream finished; True if any was."""
        progressed = False
        for name in [n for n in self.waiting if not self.upstream[n] & self.unfinished]:
            self.waiting.remove(name)
            try:
                job = self.plan.prepare(name)
            except TetherError as exc:
                self.first = exc
                return progressed
            progressed = True
            if job is None:
                self.unfinished.discard(name)
                continue
            self.ready.append(job)
            if self.threads is None:  # -j 1: decide the next stage after this one ran
                break
        return progressed

    def _start(self) -> bool:
        """Start the prepared stages whose resources are free; True if one ended."""
        ended = False
        for job in list(self.ready):
            if self.first is not None:
                break
            if not self.pool.fits(job.stage):
                continue
            if not self.opened:  # before the first stage starts: nothing ran yet
                try:
                    self.executor.open()
                except TetherError as exc:
                    self.first = exc
                    break
                self.opened = True
            self.ready.remove(job)
            job = self.pool.take(job)
            self.plan.start(job)
            if self.threads is None:  # -j 1: in this thread, as a plain loop
                error: TetherError | None = None
                try:
                    self.executor.run(job)
                except TetherError as exc:
                    error = exc
                self._ended(job, error)
                ended = True
            else:
                self.running[self.threads.submit(self.executor.run, job)] = job
        return ended

    def _ended(self, job: Job, error: BaseException | None) -> None:
        self.pool.give_back(job)
        if error is not None and not isinstance(error, TetherError):
            raise error  # a bug: stop everything
        self.unfinished.discard(job.stage.name)
        try:
            self.plan.finish(job, error)
        except TetherError as exc:
            self.first = self.first or exc

    def run(self) -> None:
        with _sigterm_as_ctrl_c() if self.threads is not None else contextlib.nullcontext():
            self._run()

    def _run(self) -> None:
        try:
            while True:
                while self.first is None and (self._prepare() | self._start()):
                    pass
                if not self.running:
                    if self.ready and self.first is None:  # pragma: no cover - a bug
                        raise RuntimeError(f"no resources for {self.ready[0].stage.name}")
                    break
                done, _ = wait(self.running, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: self.order[self.running[f].stage.name]):
                    self._ended(self.running.pop(fut), fut.exception())
        except BaseException:
            if self.running:
                self.executor.stop()
            raise
        finally:
            if self.threads is not None:
                self.threads.shutdown(wait=True, cancel_futures=True)
        if self.first is not None:
            raise self.first


def run(
    names: list[str],
    upstream: dict[str, set[str]],
    plan: Plan,
    executor: Executor,
    limits: Limits,
) -> None:
    """Take ``names`` (in dependency order) through ``plan`` and ``executor``."""
    _Run(names, upstream, plan, executor, limits).run()
