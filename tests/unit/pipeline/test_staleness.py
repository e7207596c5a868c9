"""pipeline/staleness.py: whether a stage is stale, and every reason why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tether.errors import PipelineError
from tether.pipeline import graph, lock, spec
from tether.pipeline.staleness import dep_artifacts, param_values, stage_staleness
from tether.repo import Repo
from tether.workspace.hashpath import hash_path

PIPELINE = """schema: 1
stages:
  prepare:
    cmd: prep
    deps: [raw.txt]
    outs: [prepared.txt]
  train:
    cmd: train
    deps: [prepared.txt, code.py]
    params: [train.lr, {all.yaml: }]
    outs: [model.bin]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    (tmp_path / ".tether").mkdir()
    (tmp_path / ".tether" / "config.yaml").write_text("schema: 1\n")
    for name, text in {
        "raw.txt": "raw",
        "prepared.txt": "prepared",
        "code.py": "code",
        "model.bin": "model",
        "params.yaml": "train:\n  lr: 0.1\n",
        "all.yaml": "a: 1\nb: {c: 2}\n",
    }.items():
        (tmp_path / name).write_text(text)
    return Repo(tmp_path)


def recorded(repo: Repo, stage: spec.Stage) -> lock.Entry:
    """The lock entry of the stage as it is now: what `repro` would record."""
    deps, missing = dep_artifacts(repo, stage)
    assert not missing
    outs = []
    for o in stage.outs:
        h = hash_path(repo, o.path)
        assert h is not None
        outs.append(h)
    return lock.Entry(stage.cmd_text, tuple(deps), param_values(repo, stage), tuple(outs))


def reasons(
    repo: Repo, entry: lock.Entry | None, running: frozenset[str] = frozenset()
) -> list[str]:
    g = graph.build(spec.parse(repo.root, PIPELINE))
    return stage_staleness(repo, g, g.stages["train"], entry, set(running)).reasons


@pytest.fixture
def entry(repo: Repo) -> lock.Entry:
    g = graph.build(spec.parse(repo.root, PIPELINE))
    return recorded(repo, g.stages["train"])


def test_fresh_and_never_run(repo: Repo, entry: lock.Entry) -> None:
    assert reasons(repo, entry) == []
    assert reasons(repo, None) == ["never run"]


def test_params_whole_file_keys_are_flattened(repo: Repo, entry: lock.Entry) -> None:
    assert entry.params == {"params.yaml": {"train.lr": 0.1}, "all.yaml": {"a": 1, "b": {"c": 2}}}
    (repo.root / "params.yaml").write_text("train:\n  lr: 0.2\nunused: 1\n")
    (repo.root / "all.yaml").write_text("b: {c: 3}\nd: x\n")
    assert reasons(repo, entry) == [
        "params changed (a deleted, b.c 2 -> 3, d new, train.lr 0.1 -> 0.2)"
    ]


def test_dependencies_outputs_and_command(repo: Repo, entry: lock.Entry) -> None:
    (repo.root / "code.py").write_text("changed")
    (repo.root / "model.bin").unlink()
    stale = lock.Entry("old command", entry.deps, entry.params, entry.outs)
    assert reasons(repo, stale) == [
        "command changed",
        "dependency changed: code.py",
        "output missing: model.bin",
    ]
    (repo.root / "model.bin").write_text("edited")
    assert reasons(repo, entry) == ["dependency changed: code.py", "output changed: model.bin"]


def test_upstream_that_will_run(repo: Repo, entry: lock.Entry) -> None:
    (repo.root / "prepared.txt").write_text("new")
    assert reasons(repo, entry) == ["dependency changed: prepared.txt"]
    # when prepare runs first, its output changing is expected: the reason is prepare
    assert reasons(repo, entry, frozenset({"prepare"})) == ["depends on prepare"]
    (repo.root / "prepared.txt").unlink()
    assert reasons(repo, entry) == ["dependency missing: prepared.txt (output of prepare)"]
    (repo.root / "code.py").unlink()
    assert "dependency missing: code.py" in reasons(repo, entry)


def test_a_missing_params_key_is_an_error(repo: Repo) -> None:
    (repo.root / "params.yaml").write_text("train: {}\n")
    with pytest.raises(
        PipelineError, match=re.escape("params key 'train.lr' is not in params.yaml")
    ):
        reasons(repo, None)
