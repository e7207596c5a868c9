"""``tether repro --executor ray``: each stage that must run goes to a Ray
cluster as one task, which shares no files with this machine.

For a stage, :meth:`RayExecutor.execute` (the same call as
:func:`tether.pipeline.execute.execute`, so ``repro`` needs no other change):

1. stores every input in the cache (tracked data, upstream outputs, the code
   files the stage depends on, an existing ``persist`` output) and pushes the
   objects to the default data remote;
2. sends a :class:`~tether.pipeline.stagejob.Job` as a Ray task with the
   stage's resources; the remote's secret options travel as a separate
   argument of the task, never in the job nor in Ray's logs (a runtime
   environment's variables are written to them);
3. shows the commands' output, then fetches the outputs the task pushed into
   the cache and checks them out, so ``repro`` stores and records them as
   after a local run. A failed command, a task that died, or outputs that did
   not arrive raise :class:`~tether.errors.StageFailedError`: the stage is
   never recorded as done.

Ray is an optional extra (``pip install 'tether[ray]'``), imported only here;
the workers need tether installed too (they import
:mod:`tether.pipeline.stagejob`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether import config
from tether.artifact import Artifact
from tether.errors import (
    ConfigError,
    ExecutorError,
    PipelineError,
    StageFailedError,
    UsageError,
)
from tether.pipeline import lock
from tether.pipeline.spec import Stage
from tether.pipeline.stagejob import Job, Result, run_job
from tether.pointer import Pointer
from tether.remotes_service import fetch_from_default, raise_failures, roots, spec_for
from tether.repo import Repo
from tether.storage.remotes import RemoteSpec, open_remote
from tether.storage.transfer import push
from tether.workspace.add import store_path
from tether.workspace.checkout import checkout_pointer

if TYPE_CHECKING:
    from types import ModuleType

# An S3 remote's credentials from this machine's environment (the standard
# chain), passed on as options where the remote sets none.
_AWS_ENV = {
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "region": "AWS_REGION",
}
MAX_RETRIES = 1  # a task whose worker died runs once more (a lost node), then fails
CONNECT_TIMEOUT = 5.0


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray, which is not installed here",
            "install the extra: pip install 'tether[ray]'",
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast, in seconds, when nothing listens at ``host:port``."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "ray://...": Ray's own lookup decides
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ExecutorError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
            "start it (`ray start --head`) or give its address with --ray-address or RAY_ADDRESS",
        ) from None


def connect(address: str | None) -> tuple[ModuleType, bool]:
    """Ray, connected to the cluster at ``address`` (else RAY_ADDRESS, else a new
    local one); and whether this call connected it (so must disconnect)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    chosen = address or os.environ.get("RAY_ADDRESS") or None
    if chosen:
        _check_reachable(chosen)
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if not chosen:
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=chosen, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {chosen}" if chosen else "(a local one)"
        raise ExecutorError(
            f"cannot connect to the Ray cluster {where}: {str(exc).splitlines()[0]}",
            "check `ray status` there, or give another address with --ray-address",
        ) from None
    return ray, True


def _remote_parts(spec: RemoteSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """The remote as the job names it (no secrets), and its secret options."""
    url = spec.url
    if spec.protocol == "file":
        from tether.storage.remotes.local import folder

        url = str(folder(spec).resolve())  # the workers resolve nothing against our cwd
    options = {k: v for k, v in spec.options.items() if k != "url" and not config.is_secret(k)}
    secrets = {k: str(v) for k, v in spec.options.items() if config.is_secret(k)}
    if spec.protocol in ("s3", "s3a") and not spec.options.get("profile"):
        for option, var in _AWS_ENV.items():
            if option not in spec.options and os.environ.get(var):
                secrets[option] = os.environ[var]
    return {"name": spec.name, "url": url, "options": options}, secrets


def resources(stage: Stage) -> dict[str, Any]:
    """Ray's resource options for ``stage``: its ``resources`` (cpus, gpus,
    memory in bytes) where tether.yaml gives them, else one CPU."""
    declared: Any = getattr(stage, "resources", None) or {}

    def get(key: str) -> Any:
        return declared.get(key) if isinstance(declared, dict) else getattr(declared, key, None)

    cpus, gpus, memory = get("cpus"), get("gpus"), get("memory")
    opts: dict[str, Any] = {"num_cpus": cpus or 1}  # undeclared (None or 0): one CPU
    if gpus:
        opts["num_gpus"] = gpus
    if memory:
        opts["memory"] = int(memory)
    return opts


_RAY_RESOURCE = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def unsatisfiable(options: dict[str, Any], nodes: list[dict[str, Any]]) -> str | None:
    """What a task with ``options`` (:func:`resources`) asks for that no live
    node of the cluster (``ray.nodes()``) has, said for the user; None when a node
    has all of it (busy or not: Ray then waits for it)."""
    wanted = {_RAY_RESOURCE[k]: float(v) for k, v in options.items() if k in _RAY_RESOURCE}
    alive = [n.get("Resources") or {} for n in nodes if n.get("Alive", True)]
    if any(all(have.get(k, 0) >= v for k, v in wanted.items()) for have in alive):
        return None
    total = {k: sum(float(have.get(k, 0)) for have in alive) for k in wanted}

    def says(amounts: dict[str, float]) -> str:
        return ", ".join(
            f"{v:g} {k}" if k != "memory" else f"{v:g} bytes of memory" for k, v in amounts.items()
        )

    return (
        f"{says(wanted)}, and no node of the Ray cluster has that "
        f"(its {len(alive)} node(s) have {says(total)} in all)"
    )


def check_remote(repo: Repo) -> None:
    if not repo.config.remote:
        raise ConfigError(
            "--executor ray moves data through the default remote, and there is none",
            "add one the workers can reach: `tether remote add NAME URL --default`",
        )


def address_for(repo: Repo, given: str | None) -> str | None:
    """``--ray-address``, else ``ray.address`` of this machine's config, else
    None (RAY_ADDRESS, else a local cluster). A committed address is refused:
    a cloned project must not choose where its stages and credentials go."""
    if given:
        return given
    cfg = repo.config
    if cfg.ray_address and config.RAY_ADDRESS in cfg.committed:
        raise ConfigError(
            f"{config.RAY_ADDRESS} comes from the committed .tether/config.yaml",
            f"set it for this machine only: `tether config --local {config.RAY_ADDRESS} "
            "ADDRESS`, or pass --ray-address",
        )
    return cfg.ray_address


class RayExecutor:
    """Runs stages of ``repo`` as Ray tasks; data moves through the default remote."""

    def __init__(self, repo: Repo, address: str | None = None) -> None:
        check_remote(repo)
        self.repo = repo
        self.address = address_for(repo, address)
        self.spec = spec_for(repo, None)
        self.remote_doc, self.secrets = _remote_parts(self.spec)
        self._ray: ModuleType | None = None
        self._connected = False
        self._task: Any = None
        self._mutex = threading.Lock()
        self._running: set[Any] = set()  # the refs of tasks being waited for

    @property
    def ray(self) -> ModuleType:
        """Ray, connected on first use: a repro that runs nothing never connects."""
        if self._ray is None:
            self._ray, self._connected = connect(self.address)
            self._task = self._ray.remote(run_job)
        return self._ray

    def open(self) -> None:
        """Connect before the first stage starts: a cluster that cannot be
        reached fails the run before any stage changes the workspace."""
        _ = self.ray

    def close(self) -> None:
        if self._ray is not None and self._connected:
            self._ray.shutdown()
        self._ray = None

    def _inputs(self, stage: Stage) -> list[Artifact]:
        paths = list(stage.deps) + [
            o.path for o in stage.outs if o.persist and (self.repo.root / o.path).exists()
        ]
        arts: list[Artifact] = []
        for path in dict.fromkeys(paths):
            with self.repo.odb.writer() as writer:
                p = store_path(self.repo, path, writer)
            arts.append(Artifact(p.path, p.kind, p.digest, p.size, p.files))
        return arts

    def prepare(self, stage: Stage) -> Job:
        """Store and push the stage's inputs; the job that runs it."""
        inputs = self._inputs(stage)
        if inputs:
            remote = open_remote(self.spec)
            raise_failures(push(self.repo.odb, remote, roots(inputs), self.spec.jobs))
        params = {
            f: (self.repo.root / f).read_text(encoding="utf-8")
            for f in dict.fromkeys(ref.file for ref in stage.params)
        }
        return Job(
            stage=stage.name,
            cmd=list(stage.cmd),
            wdir=stage.wdir,
            inputs=[lock.artifact_dict(a) for a in inputs],
            params=params,
            outs=[o.path for o in stage.outs],
            remote=self.remote_doc,
        )

    def submit(self, stage: Stage, job: Job) -> Any:
        """Start ``job`` on the cluster; a reference to its result."""
        options = resources(stage)
        missing = unsatisfiable(options, self.ray.nodes())
        if missing:  # Ray would wait for such a node forever
            raise PipelineError(
                f"stage {stage.name} needs {missing}",
                "lower the stage's resources in tether.yaml, or add a node that has them",
            )
        return self._task.options(
            **options,
            max_retries=MAX_RETRIES,
            name=f"tether:{stage.name}",
        ).remote(job.to_dict(), self.secrets)  # apart from the job: never in a log

    def wait(self, stage: Stage, ref: Any) -> Result:
        with self._mutex:
            self._running.add(ref)
        try:
            doc = self.ray.get(ref)
        except KeyboardInterrupt:
            self.ray.cancel(ref, force=True)
            raise
        except self.ray.exceptions.RayError as exc:  # the worker or its node died
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            lost = f"stage {stage.name}: its Ray task was lost: {first}"
            raise StageFailedError(lost, 1) from None
        finally:
            with self._mutex:
                self._running.discard(ref)
        return Result(**doc)

    def finish(self, stage: Stage, result: Result, stdout_to_stderr: bool = False) -> None:
        """Show the output; on success bring the outputs into the workspace."""
        stream = sys.stderr if stdout_to_stderr else sys.stdout
        stream.write(result.log)
        stream.flush()
        where = f" on {result.host}" if result.host else ""
        if not result.ok:
            if result.returncode:
                raise StageFailedError(
                    f"stage {stage.name} failed{where} (exit code {result.returncode}): "
                    f"{result.failed}",
                    result.returncode,
                )
            raise StageFailedError(f"stage {stage.name} failed{where}: {result.failed}", 1)
        outs = [lock.parse_artifact(a, f"result of {stage.name}") for a in result.outs]
        if sorted(a.path for a in outs) != sorted(o.path for o in stage.outs):
            raise StageFailedError(f"stage {stage.name}: the task sent back other outputs", 1)
        fetch_from_default(self.repo, outs)
        for a in outs:
            checkout_pointer(self.repo, Pointer.of(a, lock.FILE), force=True)

    def execute(self, root: Path, stage: Stage, stdout_to_stderr: bool = False) -> None:
        """Run ``stage`` on the cluster; its outputs end in the workspace and the
        cache, as :func:`tether.pipeline.execute.execute` leaves them."""
        del root  # the workspace is self.repo's
        self._execute(stage, stdout_to_stderr, lambda: None)

    def _execute(self, stage: Stage, to_stderr: bool, started: Callable[[], None]) -> None:
        job = self.prepare(stage)
        ref = self.submit(stage, job)
        started()  # the task is on the cluster: the old outputs go now
        self.finish(stage, self.wait(stage, ref), to_stderr)

    def run(self, job: Any) -> None:
        """The scheduler's executor call: ``job`` names the ``stage`` and whether
        its output goes ``to_stderr``. Safe from several threads at once."""
        started = getattr(job, "started", None) or (lambda: None)
        self._execute(job.stage, bool(getattr(job, "to_stderr", False)), started)

    def stop(self) -> None:
        """Cancel every task being waited for (Ctrl-C), from another thread:
        their :meth:`wait` calls then fail, and nothing is recorded."""
        with self._mutex:
            running = list(self._running)
        for ref in running:
            self.ray.cancel(ref, force=True)


@contextlib.contextmanager
def executor(repo: Repo, address: str | None = None) -> Iterator[RayExecutor]:
    """A :class:`RayExecutor` for ``repo`` (cluster: see :func:`address_for`),
    disconnected afterwards."""
    ex = RayExecutor(repo, address)
    try:
        yield ex
    finally:
        ex.close()
