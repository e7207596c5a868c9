"""pipeline/outputs.py: the stage outputs the workspace handles as tracked data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.artifact import Artifact, Kind
from tether.errors import TrackingError
from tether.pipeline import lock
from tether.pipeline.outputs import STAGE_OUTPUTS, load
from tether.pointer import Pointer
from tether.repo import Repo
from tether.workspace.tracked import Declared

PIPELINE = """schema: 1
stages:
  train:
    cmd: train
    outs: [model, {log.txt: {cache: false}}]
    metrics: [model/m.json]
"""
DIGEST = "0" * 64


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    (tmp_path / ".tether").mkdir()
    (tmp_path / ".tether" / "config.yaml").write_text("schema: 1\n")
    return Repo(tmp_path)


def record(repo: Repo, *paths: str) -> str:
    outs = tuple(Artifact(p, Kind.FILE, DIGEST, 1) for p in paths)
    text = lock.dumps({"train": lock.Entry("train", (), {}, outs)})
    (repo.root / lock.FILE).write_text(text)
    return text


def test_declared_lists_every_output_with_its_stage(repo: Repo) -> None:
    (repo.root / "tether.yaml").write_text(PIPELINE)
    assert STAGE_OUTPUTS.declared(repo) == [
        Declared("train", "model", True),
        Declared("train", "log.txt", False),
        Declared("train", "model/m.json", True),
    ]


def test_declared_is_empty_without_a_readable_pipeline(repo: Repo) -> None:
    assert STAGE_OUTPUTS.declared(repo) == []
    (repo.root / "tether.yaml").write_text("schema: 1\nstages: [\n")
    assert STAGE_OUTPUTS.declared(repo) == []


def test_cached_keeps_the_outputs_tether_stores_itself(repo: Repo) -> None:
    (repo.root / "tether.yaml").write_text(PIPELINE)
    assert STAGE_OUTPUTS.cached(repo) == []  # nothing recorded yet
    record(repo, "model", "log.txt", "model/m.json")
    # git keeps log.txt; model/m.json comes with its folder
    assert STAGE_OUTPUTS.cached(repo) == [Pointer("model", Kind.FILE, DIGEST, 1, source=lock.FILE)]


def test_recorded_names_every_output_of_a_lock_text(repo: Repo) -> None:
    text = record(repo, "model", "log.txt")
    assert sorted(p.path for p in STAGE_OUTPUTS.recorded(text)) == ["log.txt", "model"]


def test_load_refuses_an_output_a_pointer_file_tracks(repo: Repo) -> None:
    (repo.root / "tether.yaml").write_text(PIPELINE)
    tracked = Pointer("model", Kind.FILE, DIGEST, 1, source="model.tether")
    with pytest.raises(TrackingError, match="model is an output of stage train"):
        load(repo, [tracked])
    assert list(load(repo, []).stages) == ["train"]
