"""``repro --executor ray`` on a real two-node Ray cluster on this machine: the
head schedules nothing (0 CPUs), so every stage runs on the worker node, whose
temporary folder is its own; data moves through a real remote (a local folder
or SeaweedFS). One cluster for the module: starting one takes ~15 s here."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tether
from tests.conftest import git, run_cli, snapshot, write

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'tether[ray]')")

# the first test also waits for the cluster to start: ~15 s here, more on a busy machine
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(240)]

PY = sys.executable


@dataclass
class Cluster:
    address: str
    worker_tmp: Path
    logs: Path  # the nodes' session folders


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ray_cli() -> str:
    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        pytest.skip("the `ray` command is not installed beside this Python")
    return found


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``ray start --block`` in a process group of its own: stopping it stops
    exactly the node's processes, no other Ray on this machine."""
    return subprocess.Popen(
        [_ray_cli(), "start", "--block", "--disable-usage-stats", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for_cpus(address: str, cpus: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            with socket.create_connection(("127.0.0.1", int(address.split(":")[1])), 1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("the Ray head did not start") from None
            time.sleep(0.2)
    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        while ray.cluster_resources().get("CPU", 0) < cpus:
            if time.monotonic() > deadline:
                raise TimeoutError("the Ray worker node did not join")
            time.sleep(0.2)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")  # for the driver: tether in this process
        yield from _cluster()


def _cluster() -> Iterator[Cluster]:
    started = time.monotonic()
    top = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must be short
    worker_tmp = top / "w"
    worker_tmp.mkdir()
    src = str(Path(tether.__file__).resolve().parents[1])  # the tether under test
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
        "RAY_USAGE_STATS_ENABLED": "0",
        # a loopback test cluster: with plain `ray` (no dashboard), 2.60 turns
        # token authentication on and the worker node then cannot join
        "RAY_AUTH_MODE": "disabled",
    }
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes = [
        _start(
            [
                "--head",
                f"--port={port}",
                "--num-cpus=0",
                f"--temp-dir={top / 'h'}",
                "--include-dashboard=false",
            ],
            env,
        )
    ]
    try:
        nodes.append(
            _start(
                [f"--address={address}", "--num-cpus=2", f"--temp-dir={top / 'h'}"],
                {**env, "TMPDIR": str(worker_tmp)},
            )
        )
        _wait_for_cpus(address, 2, 90)
        print(f"ray cluster started in {time.monotonic() - started:.1f} s")
        yield Cluster(address, worker_tmp, top / "h")
    finally:
        stopping = time.monotonic()
        for node in reversed(nodes):
            with_group(node, signal.SIGTERM)
        for node in reversed(nodes):
            try:
                node.wait(3)
            except subprocess.TimeoutExpired:
                with_group(node, signal.SIGKILL)
                node.wait()
        print(f"ray cluster stopped in {time.monotonic() - stopping:.1f} s")
        shutil.rmtree(top, ignore_errors=True)


def with_group(node: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, sig)


STEP = """
import pathlib, sys, yaml
out, *inputs = sys.argv[1:]
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
text = "".join(pathlib.Path(i).read_text() for i in inputs) + f"lr={lr}\\n"
target = pathlib.Path(out)
if out.endswith("/"):
    target.mkdir(parents=True, exist_ok=True)
    (target / "part.txt").write_text(text)
else:
    target.write_text(text)
"""


def _pipeline(repo: Path) -> None:
    write(repo / "step.py", STEP)
    write(repo / "raw.txt", "raw\n")
    write(repo / "params.yaml", "train: {lr: 0.1}\n")
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  prep:
    cmd: {PY} step.py data/prep.txt raw.txt
    deps: [step.py, raw.txt]
    params: [train.lr]
    outs: [data/prep.txt]
  train:
    cmd: {PY} step.py model/ data/prep.txt
    deps: [step.py, data/prep.txt]
    params: [train.lr]
    outs: [model/]
""",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")


def _folder_remote(repo: Path, tether: Any, tmp_path: Path) -> None:
    folder = tmp_path / "remote"
    folder.mkdir()
    assert tether("remote", "add", "origin", str(folder), "--default").code == 0


def _s3(repo: Path, tether: Any, s3_remote: Any) -> None:
    url, endpoint, key, secret = s3_remote
    assert tether("remote", "add", "origin", url, "--default").code == 0
    for option, value in {
        "endpoint_url": endpoint,
        "access_key_id": key,
        "secret_access_key": secret,
    }.items():
        assert tether("remote", "modify", "--local", "origin", option, value).code == 0


def _outputs(repo: Path) -> dict[str, bytes]:
    return {
        **{f"data/{k}": v for k, v in snapshot(repo / "data").items()},
        **{f"model/{k}": v for k, v in snapshot(repo / "model").items()},
    }


@pytest.mark.parametrize("kind", ["folder", pytest.param("s3", marks=pytest.mark.s3)])
def test_two_stages_on_ray_match_a_local_run(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster, kind: str, request: Any
) -> None:
    secret = None
    if kind == "s3":
        s3_remote = request.getfixturevalue("s3_remote")
        secret = s3_remote[3]
        _s3(repo, tether, s3_remote)
    else:
        _folder_remote(repo, tether, tmp_path)
    _pipeline(repo)

    r = tether("repro", "--executor", "ray", "--ray-address", cluster.address)
    assert r.code == 0, r.err
    assert "ran prep" in r.out and "ran train" in r.out
    on_ray, outputs = (repo / "tether.lock").read_text(), _outputs(repo)
    assert outputs["model/part.txt"] == b"raw\nlr=0.1\nlr=0.1\n"
    if secret is not None:  # the credentials reached the worker, and no log of Ray's
        logs = [p for p in cluster.logs.rglob("*") if p.is_file() and not p.is_symlink()]
        assert logs
        assert not [p for p in logs if secret.encode() in p.read_bytes()]

    for path in ("tether.lock", "data", "model"):
        shutil.rmtree(repo / path) if (repo / path).is_dir() else (repo / path).unlink()
    r = tether("repro", "--no-run-cache")
    assert r.code == 0, r.err
    assert (repo / "tether.lock").read_text() == on_ray
    assert _outputs(repo) == outputs
    assert tether("status").code == 0


def test_the_stage_sees_only_its_inputs_on_the_worker(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster
) -> None:
    _folder_remote(repo, tether, tmp_path)
    write(repo / "raw.txt", "raw\n")
    write(repo / "other.txt", "not an input\n")
    write(
        repo / "tether.yaml",
        """schema: 1
stages:
  probe:
    cmd: pwd > where.txt && find . -type f | sort > ../seen && mv ../seen seen.txt
    deps: [raw.txt]
    outs: [where.txt, seen.txt]
""",
    )
    r = tether("repro", "--executor", "ray", "--ray-address", cluster.address)
    assert r.code == 0, r.err
    where = Path((repo / "where.txt").read_text().strip())
    assert where.is_relative_to(cluster.worker_tmp.resolve())  # the worker node's own folder
    assert not where.exists()  # removed after the run
    assert (repo / "seen.txt").read_text().split() == ["./raw.txt", "./where.txt"]


def test_a_run_cached_stage_is_restored_not_sent(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster
) -> None:
    _folder_remote(repo, tether, tmp_path)
    _pipeline(repo)
    assert tether("repro", "--executor", "ray", "--ray-address", cluster.address).code == 0
    first = (repo / "tether.lock").read_text()
    write(repo / "raw.txt", "changed\n")
    assert tether("repro", "--executor", "ray", "--ray-address", cluster.address).code == 0
    write(repo / "raw.txt", "raw\n")

    # nothing listens there: a stage sent to the cluster would fail
    r = tether("repro", "--executor", "ray", "--ray-address", f"127.0.0.1:{_free_port()}")
    assert r.code == 0, r.err
    assert "restored prep from the run-cache" in r.out
    assert "restored train from the run-cache" in r.out
    assert (repo / "tether.lock").read_text() == first


def test_a_failing_stage_fails_repro_and_is_not_recorded(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster
) -> None:
    _folder_remote(repo, tether, tmp_path)
    write(
        repo / "tether.yaml",
        """schema: 1
stages:
  bad:
    cmd: echo half > out.txt && echo boom && exit 3
    outs: [out.txt]
""",
    )
    r = tether("repro", "--executor", "ray", "--ray-address", cluster.address)
    assert r.code == 3
    assert "boom" in r.out
    assert "stage bad failed on" in r.err and "exit code 3" in r.err
    assert not (repo / "tether.lock").exists()
    assert not (repo / "out.txt").exists()


def test_a_stage_no_node_can_run_is_refused_not_waited_for(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster
) -> None:
    _folder_remote(repo, tether, tmp_path)
    write(
        repo / "tether.yaml",
        """schema: 1
stages:
  train:
    cmd: echo x > out.txt
    outs: [out.txt]
    resources: {gpus: 1}
""",
    )
    r = tether("repro", "--executor", "ray", "--ray-address", cluster.address)
    assert r.code == 1
    assert "error: stage train needs 1 CPU, 1 GPU, and no node of the Ray cluster" in r.err
    assert "resources in tether.yaml" in r.err
    assert not (repo / "tether.lock").exists()


def test_stages_side_by_side_on_a_local_cluster_connect_once_from_the_main_thread(
    repo: Path, tether: Any, tmp_path: Path
) -> None:
    _folder_remote(repo, tether, tmp_path)
    write(
        repo / "tether.yaml",
        "schema: 1\nstages:\n"
        "  a: {cmd: echo a > a.txt, outs: [a.txt]}\n"
        "  b: {cmd: echo b > b.txt, outs: [b.txt]}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    r = subprocess.run(
        [PY, "-m", "tether", "repro", "-j", "2", "--executor", "ray"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**env, "RAY_USAGE_STATS_ENABLED": "0"},
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "not the main thread" not in r.stdout + r.stderr
    assert (repo / "a.txt").read_text() == "a\n" and (repo / "b.txt").read_text() == "b\n"


def test_a_killed_worker_fails_the_stage(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster
) -> None:
    _folder_remote(repo, tether, tmp_path)
    pids = tmp_path / "pids"
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  slow:
    cmd: echo $PPID >> {pids} && sleep 6 && echo done > out.txt
    outs: [out.txt]
""",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow stage")
    stop = threading.Event()
    killed: list[int] = []

    def killer() -> None:  # each attempt's worker process, as soon as it starts the stage
        while not stop.is_set():
            for line in pids.read_text().split() if pids.exists() else []:
                if int(line) not in killed:
                    killed.append(int(line))
                    os.kill(int(line), signal.SIGKILL)
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        r = run_cli(repo, "repro", "--executor", "ray", "--ray-address", cluster.address)
    finally:
        stop.set()
        thread.join()
    assert killed
    assert r.returncode == 1, r.stderr
    assert "stage slow: its Ray task was lost" in r.stderr
    assert not (repo / "tether.lock").exists()
    assert not (repo / "out.txt").exists()


def test_an_unreachable_cluster_is_one_error_line(repo: Path, tether: Any, tmp_path: Path) -> None:
    _folder_remote(repo, tether, tmp_path)
    write(repo / "tether.yaml", "schema: 1\nstages:\n  s:\n    cmd: echo x > o\n    outs: [o]\n")
    r = tether("repro", "--executor", "ray", "--ray-address", f"127.0.0.1:{_free_port()}")
    assert r.code == 1
    assert r.err.startswith("error: cannot reach the Ray cluster at 127.0.0.1:")
    assert len(r.err.strip().splitlines()) == 1
    assert not (repo / "tether.lock").exists()


def test_queued_experiments_run_their_stages_on_ray(
    repo: Path, tether: Any, tmp_path: Path, cluster: Cluster
) -> None:
    _folder_remote(repo, tether, tmp_path)
    _pipeline(repo)  # committed, with the remote's config
    r = tether("exp", "run", "--queue", "-S", "train.lr=0.2,0.3")
    assert r.code == 0, r.err
    r = tether("queue", "start", "-j", "2", "--executor", "ray", "--ray-address", cluster.address)
    assert r.code == 0, r.out + r.err
    r = tether("exp", "show", "--json")
    rows = [row for row in json.loads(r.out)["tether.exp-show/v1"]["rows"] if row["name"] != "HEAD"]
    assert sorted(row["state"] for row in rows) == ["done", "done"]
    for row in rows:
        log = tether("exp", "logs", row["name"]).out
        assert "ran prep" in log and "ran train" in log, log
    # nothing was pushed from here: what the remote holds came from the workers,
    # which uploaded each stage's outputs (a local run uploads nothing)
    assert [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    assert tether("queue", "start", "--executor", "nope").code == 2
