"""How ``repro`` runs a stage's commands: the executor interface and the
local executor, the default.

The scheduler (scheduler.py) decides *when* a stage runs; an executor only
runs it. Everything else stays with ``repro``, in its own thread: deciding
whether a stage is stale, restoring it from the run-cache, storing its outputs
and recording it in ``tether.lock``. An executor must leave the stage's
outputs in the workspace at ``job.root`` when :meth:`Executor.run` returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from tether import ownfiles
from tether.errors import PipelineError, StageFailedError
from tether.pipeline.execute import check_exit, execute, stage_env
from tether.pipeline.spec import Stage

STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL when stopping stages


@dataclass(frozen=True)
class Job:
    """One stage to run.

    ``gpus``: the GPU ids the scheduler gave the stage (its commands see them in
    ``CUDA_VISIBLE_DEVICES``); ``()`` leaves the environment as it is.
    ``log``: None runs the commands attached to tether's own output, as
    ``repro -j 1`` always did; a path (stages run side by side) keeps their full
    output there and shows each line on the terminal prefixed with the stage's name.
    ``to_stderr``: the commands' output goes to stderr (stdout holds JSON).
    ``begin``: prepares the workspace for the commands (removes the stage's
    old outputs); an executor calls it once, right before the commands really
    start, so a stage that never starts leaves the workspace as it was.
    """

    root: Path
    stage: Stage
    gpus: tuple[str, ...] = ()
    log: Path | None = None
    to_stderr: bool = False
    begin: Callable[[], None] | None = field(default=None, compare=False)

    def started(self) -> None:
        """The commands start now: prepare the workspace (see ``begin``)."""
        if self.begin is not None:
            self.begin()


class Executor(Protocol):
    """Runs stages; the scheduler calls :meth:`run` from several threads at once
    when ``repro -j N`` runs stages side by side, and from its own thread with -j 1."""

    def open(self) -> None:
        """Called once before the first stage starts: connect, check what can
        fail before anything runs; raise to start no stage."""

    def run(self, job: Job) -> None:
        """Call ``job.started()``, then run the stage's commands to the end;
        raise :class:`StageFailedError` when one fails (any other :class:`TetherError` for a
        stage that cannot start)."""

    def stop(self) -> None:
        """Stop every running stage now (Ctrl-C), from another thread; their
        :meth:`run` calls then end (with an error)."""


class LocalExecutor:
    """Runs commands on this machine, in the stage's ``wdir``. Side by side, each
    command runs in its own process group, so :meth:`stop` ends it with
    everything it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._out = threading.Lock()  # one line at a time on the terminal
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._stopped = False

    def open(self) -> None:
        pass

    def run(self, job: Job) -> None:
        job.started()
        if job.log is None:
            execute(job.root, job.stage, job.to_stderr, job.gpus)
            return
        ownfiles.real_dir(job.log.parent, job.log.parent.parent)
        fd = ownfiles.open_file(job.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as log:
            for cmd in job.stage.cmd:
                check_exit(job.stage, cmd, self._run_one(job, cmd, log))

    def _run_one(self, job: Job, cmd: str, log: IO[bytes]) -> int:
        with self._lock:
            if self._stopped:
                raise StageFailedError(f"stage {job.stage.name}: stopped", 130)
            try:
                proc = subprocess.Popen(  # noqa: S602 - a stage's command is a shell line
                    cmd,
                    shell=True,
                    cwd=job.root / job.stage.wdir,
                    env=stage_env(job.root, job.stage.name, job.gpus),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    process_group=0,
                )
            except OSError as exc:
                raise PipelineError(
                    f"stage {job.stage.name}: cannot start {cmd!r}: {exc}"
                ) from None
            self._procs.add(proc)
        stream = sys.stderr if job.to_stderr else sys.stdout
        prefix = f"[{job.stage.name}] "
        try:
            assert proc.stdout is not None
            with proc.stdout:
                for raw in iter(proc.stdout.readline, b""):
                    log.write(raw)
                    log.flush()
                    text = raw.decode(errors="replace").rstrip("\r\n")
                    with self._out:
                        stream.write(f"{prefix}{text}\n")
                        stream.flush()
            return proc.wait()
        finally:
            with self._lock:
                self._procs.discard(proc)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            procs = list(self._procs)
        _signal(procs, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        _signal(procs, signal.SIGKILL)  # whatever is left of each group


class RunnerExecutor:
    """An executor from a function ``run(root, stage, to_stderr)`` that leaves the
    outputs in the workspace (``repro(runner=...)``); it cannot be stopped."""

    def __init__(self, runner: Callable[[Path, Stage, bool], None]) -> None:
        self.runner = runner

    def open(self) -> None:
        pass

    def run(self, job: Job) -> None:
        job.started()
        self.runner(job.root, job.stage, job.to_stderr)

    def stop(self) -> None:
        pass


def _signal(procs: list[subprocess.Popen[bytes]], sig: int) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)
