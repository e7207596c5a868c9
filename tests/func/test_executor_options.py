"""``repro --executor`` options that need no cluster: what is refused, and how."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write


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
