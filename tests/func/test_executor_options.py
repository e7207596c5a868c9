"""``repro --executor`` without a cluster: what is refused and how, the resources
a stage asks for, and the job a remote executor sends, run by the batch entry
point (``python -m tether.pipeline.stagejob``) in a folder of its own."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.conftest import write
from tether.pipeline.outputs import load
from tether.pipeline.ray_exec import RayExecutor, resources, unsatisfiable
from tether.pipeline.spec import Stage
from tether.pipeline.stagejob import Result
from tether.repo import Repo
from tether.workspace import tracked


def _stage(repo: Path) -> None:
    write(repo / "tether.yaml", "schema: 1\nstages:\n  s:\n    cmd: echo x > o\n    outs: [o]\n")


def test_without_ray_installed_it_is_a_usage_error(
    repo: Path, tether: Any, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stage(repo)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    r = tether("repro", "--executor", "ray")
    assert r.code == 2
    assert r.err.strip() == (
        "error: --executor ray needs Ray, which is not installed here — "
        "install the extra: pip install 'tether[ray]'"
    )
    assert not (repo / "o").exists()


def test_without_a_default_remote_it_is_refused(repo: Path, tether: Any) -> None:
    _stage(repo)
    r = tether("repro", "--executor", "ray")
    assert r.code == 1
    assert "--executor ray moves data through the default remote, and there is none" in r.err


def test_an_unknown_executor_is_a_usage_error(repo: Path, tether: Any) -> None:
    r = tether("repro", "--executor", "slurm")
    assert r.code == 2
    assert "unknown executor 'slurm'" in r.err


def test_a_committed_ray_address_is_refused(repo: Path, tether: Any, remote: Path) -> None:
    r = tether("config", "ray.address", "cluster.invalid:6379")
    assert r.code == 1
    assert "pass --local" in r.err
    write(
        repo / ".tether" / "config.yaml",
        (repo / ".tether" / "config.yaml").read_text() + "ray:\n  address: cluster.invalid:6379\n",
    )
    _stage(repo)
    r = tether("repro", "--executor", "ray")
    assert r.code == 1
    assert "ray.address comes from the committed .tether/config.yaml" in r.err
    assert tether("config", "--local", "ray.address", "127.0.0.1:1").code == 0


def test_a_stage_asks_for_its_resources_else_one_cpu(repo: Path) -> None:
    _stage(repo)
    r = Repo.find()
    (stage,) = load(r, tracked.all_pointers(r)).stages.values()
    assert resources(stage) == {"num_cpus": 1}
    declared = SimpleNamespace(resources={"cpus": 2, "gpus": 1, "memory": 1 << 30})
    assert resources(cast(Stage, declared)) == {"num_cpus": 2, "num_gpus": 1, "memory": 1 << 30}


def test_a_job_runs_in_a_folder_of_its_own_and_brings_the_outputs_back(
    repo: Path, remote: Path, tmp_path: Path
) -> None:
    write(repo / "raw.txt", "raw\n")
    write(repo / "params.yaml", "k: 7\n")
    write(
        repo / "tether.yaml",
        """schema: 1
stages:
  s:
    cmd: mkdir -p out && cat raw.txt params.yaml > out/both.txt && ls -a > seen.txt
    deps: [raw.txt]
    params: [k]
    outs: [out, seen.txt]
""",
    )
    r = Repo.find()
    (stage,) = load(r, tracked.all_pointers(r)).stages.values()
    ex = RayExecutor(r)  # preparing and finishing need no cluster
    job = ex.prepare(stage)
    assert "secret" not in json.dumps(job.to_dict())
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    (elsewhere / "job.json").write_text(json.dumps(job.to_dict()))
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "tether.pipeline.stagejob", "job.json", "result.json"],
        cwd=elsewhere,
        env={**os.environ, "TMPDIR": str(elsewhere), "PYTHONPATH": src},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = Result(**json.loads((elsewhere / "result.json").read_text()))
    assert Path(result.folder).parent == elsewhere and not Path(result.folder).exists()
    ex.finish(stage, result)
    assert (repo / "out" / "both.txt").read_text() == "raw\nk: 7\n"
    assert (repo / "seen.txt").read_text().split() == [
        ".",
        "..",
        "out",
        "params.yaml",
        "raw.txt",
        "seen.txt",
    ]


def test_an_unreachable_cluster_fails_before_any_stage_touches_the_workspace(
    repo: Path, tether: Any, remote: Path
) -> None:
    write(repo / "seed.txt", "old\n")
    write(
        repo / "tether.yaml",
        "schema: 1\nstages:\n  a:\n    cmd: cp seed.txt a.txt\n    deps: [seed.txt]\n"
        "    outs: [a.txt]\n",
    )
    assert tether("repro").code == 0
    write(repo / "seed.txt", "new\n")
    r = tether("repro", "-j", "2", "--executor", "ray", "--ray-address", "127.0.0.1:1")
    if importlib.util.find_spec("ray") is not None:
        assert r.code == 1
        assert r.err.startswith("error: cannot reach the Ray cluster at 127.0.0.1:1")
    else:  # no Ray here: refused as early, just as harmlessly
        assert r.code == 2 and "needs Ray, which is not installed" in r.err
    assert "running a" not in r.out + r.err
    assert (repo / "a.txt").read_text() == "old\n"


def test_resources_no_node_has_are_named_and_a_busy_cluster_is_fine() -> None:
    nodes = [
        {"Alive": True, "Resources": {"CPU": 0.0}},  # a head that schedules nothing
        {"Alive": True, "Resources": {"CPU": 2.0, "memory": 8e9}},
        {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},  # gone
    ]
    assert unsatisfiable({"num_cpus": 2}, nodes) is None  # busy or not, Ray waits
    assert unsatisfiable({"num_cpus": 1, "num_gpus": 1}, nodes) == (
        "1 CPU, 1 GPU, and no node of the Ray cluster has that "
        "(its 2 node(s) have 2 CPU, 0 GPU in all)"
    )
    assert unsatisfiable({"num_cpus": 3}, nodes) is not None  # more than any one node


def test_a_commands_own_usage_error_points_to_its_help(repo: Path, tether: Any) -> None:
    r = tether("repro", "--ray-address", "127.0.0.1:1")
    assert r.code == 2
    assert r.err.strip() == (
        "error: --ray-address needs --executor ray — see `tether repro --help`"
    )
    assert tether("repro", "--jobs", "x").err.rstrip().endswith("see `tether repro --help`")
