"""One stage run away from the workspace: the job a remote executor sends, and
the code that runs it on a machine that shares no files with the user.

The job (:class:`Job`, plain JSON-able data) names everything the run needs:
the commands and ``wdir``, each input as path -> digest (tracked data, other
stages' outputs and the code files the stage depends on, all already pushed
to the data remote), the params files' text, the outputs to collect, and the
remote's URL with its non-secret options. Secret options (keys, tokens) never
travel in the job: an executor passes them apart (Ray: a second argument of
the task), or the worker reads them from its environment (:data:`SECRETS_ENV`,
a JSON object: the batch entry point), and the stage's commands never see them.

:func:`run_job` runs on the worker: in a fresh temporary folder it fetches the
inputs from the remote into a private cache, copies them out, runs the
commands there, stores and pushes the outputs, and returns their digests with
the commands' output. It needs tether installed on the worker, nothing else
of the user's machine; it imports no executor library, so the same job runs
under Ray, a batch scheduler (``python -m tether.pipeline.stagejob JOB.json``)
or a container.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tether.artifact import Artifact, Kind
from tether.errors import PathError, TetherError
from tether.pipeline.lock import artifact_dict, parse_artifact
from tether.remotes_service import raise_failures
from tether.storage import tree
from tether.storage.odb import ObjectDB
from tether.storage.remotes import RemoteSpec, open_remote
from tether.storage.transfer import fetch, push
from tether.storage.writer import Writer
from tether.workspace import scan

SECRETS_ENV = "TETHER_REMOTE_SECRETS"
MAX_LOG = 1 << 20  # the tail of the commands' output sent back


@dataclass
class Job:
    stage: str
    cmd: list[str]
    wdir: str
    inputs: list[dict[str, Any]]  # artifact dicts (lock.artifact_dict)
    params: dict[str, str]  # params file -> its text
    outs: list[str]
    remote: dict[str, Any]  # name, url, options (no secrets)
    schema: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Result:
    ok: bool
    log: str = ""
    outs: list[dict[str, Any]] = field(default_factory=list)
    returncode: int = 0
    failed: str = ""  # the command that failed, or what went wrong
    host: str = ""
    folder: str = ""  # where it ran (removed afterwards)
    seconds: float = 0.0


def _safe(rel: str) -> str:
    """A workspace-relative path from the job, refused if it could escape."""
    path = posixpath.normpath(rel)
    if path.startswith("/") or path == ".." or path.startswith("../"):
        raise PathError(f"job path {rel!r} leaves the stage's folder")
    return path


def _copy_out(odb: ObjectDB, digest: str, dest: Path, executable: bool = False) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(odb.file(digest), dest)  # a writable copy, never the cache's object
    os.chmod(dest, 0o755 if executable else 0o644)


def materialize(odb: ObjectDB, work: Path, inputs: list[Artifact]) -> None:
    """Copy each input out of the private cache into ``work``."""
    for a in inputs:
        dest = work / _safe(a.path)
        if a.kind is Kind.FILE:
            _copy_out(odb, a.digest, dest)
            continue
        dest.mkdir(parents=True, exist_ok=True)
        for e in tree.parse(odb.read(a.digest, a.path), a.path).entries:
            _copy_out(odb, e.digest, dest / e.path, e.executable)


def store(odb: ObjectDB, work: Path, rel: str, writer: Writer) -> Artifact:
    """Store the output at ``rel`` (a file or a folder) in the private cache."""
    full = work / rel
    roots = (work.resolve(), odb.objects.resolve())
    if full.is_dir() and not full.is_symlink():
        files = scan.scan(full, rel, roots)
        entries = [
            tree.Entry(f.rel, writer.put_file(f.path, f.st.st_size), f.st.st_size, f.executable)
            for f in files
        ]
        t = tree.build(entries, trusted=True)
        writer.commit()  # the files before the tree that names them
        digest = writer.put_bytes(t.to_bytes())
        writer.commit()
        return Artifact(rel, Kind.DIR, digest, t.size, len(entries))
    st = scan.stat_file(full, rel, roots)
    digest = writer.put_file(str(full), st.st_size)
    writer.commit()
    return Artifact(rel, Kind.FILE, digest, st.st_size)


def _run_commands(job: Job, work: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """(exit code, the failing command or "", the output of all commands)."""
    log: list[str] = []
    for cmd in job.cmd:
        proc = subprocess.run(  # noqa: S602 - a stage's command is a shell line
            cmd,
            shell=True,
            cwd=work / job.wdir,
            env=env,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.append(proc.stdout.decode("utf-8", "replace"))
        if proc.returncode != 0:
            return proc.returncode, cmd, "".join(log)
    return 0, "", "".join(log)


def _remote(job: Job, secrets: dict[str, str] | None) -> RemoteSpec:
    options = dict(job.remote["options"])
    if secrets is None:
        secrets = json.loads(os.environ.get(SECRETS_ENV) or "{}")
    options.update(secrets or {})
    return RemoteSpec(job.remote["name"], job.remote["url"], options)


def _in_folder(job: Job, top: Path, secrets: dict[str, str] | None) -> Result:
    remote = open_remote(_remote(job, secrets))
    odb = ObjectDB(top / "cache")
    work = top / "work"
    work.mkdir()
    inputs = [parse_artifact(a, f"job {job.stage}") for a in job.inputs]
    raise_failures(fetch(odb, remote, inputs, remote.spec.jobs))
    materialize(odb, work, inputs)
    for name, text in job.params.items():
        dest = work / _safe(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    for o in job.outs:
        (work / _safe(o)).parent.mkdir(parents=True, exist_ok=True)
    (work / _safe(job.wdir)).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop(SECRETS_ENV, None)  # the stage's commands never see the remote's secrets
    env.update(TETHER_STAGE=job.stage, DVC_ROOT=str(work))
    code, failed, log = _run_commands(job, work, env)
    result = Result(ok=code == 0, log=log[-MAX_LOG:], returncode=code, failed=failed)
    if code != 0:
        return result
    missing = [o for o in job.outs if not (work / o).exists()]
    if missing:
        result.ok, result.failed = False, f"did not produce {', '.join(missing)}"
        return result
    with odb.writer() as writer:
        outs = [store(odb, work, o, writer) for o in job.outs]
    raise_failures(push(odb, remote, outs, remote.spec.jobs))
    result.outs = [artifact_dict(a) for a in outs]
    return result


def run_job(doc: dict[str, Any], secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one job (as :meth:`Job.to_dict` made it) in a fresh temporary folder;
    ``secrets``: the remote's secret options (None: from :data:`SECRETS_ENV`).
    The result as a dict (:class:`Result`). A failure of tether itself (the
    remote refused, say) is a result with ``ok`` false, never an exception that
    an executor would retry as if the machine had died."""
    start = time.monotonic()
    job = Job(**doc)
    top = Path(tempfile.mkdtemp(prefix=f"tether-{job.stage.replace('/', '_')[:40]}-"))
    try:
        result = _in_folder(job, top, secrets)
    except TetherError as exc:
        result = Result(ok=False, failed=str(exc))
    finally:
        shutil.rmtree(top, ignore_errors=True)
    result.host, result.folder = socket.gethostname(), str(top)
    result.seconds = time.monotonic() - start
    return asdict(result)


def main(argv: list[str]) -> int:
    """``python -m tether.pipeline.stagejob JOB.json RESULT.json``: for batch
    schedulers and containers, which pass files rather than Python objects."""
    doc = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = run_job(doc)
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
