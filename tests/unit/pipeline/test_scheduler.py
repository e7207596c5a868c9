"""pipeline/scheduler.py: the machine's limits."""

from __future__ import annotations

import pytest

from tether.errors import PipelineError
from tether.pipeline import scheduler
from tether.pipeline.spec import Resources, Stage


def stage(name: str, gpus: int = 0) -> Stage:
    return Stage(name, ("true",), ".", (), (), (), resources=Resources(gpus=gpus))


@pytest.mark.parametrize(
    ("visible", "ids"),
    [("0,1", ("0", "1")), ("", ()), ("-1", ()), ("2, 3,-1,4", ("2", "3")), ("GPU-ab", ("GPU-ab",))],
)
def test_gpus_come_from_cuda_visible_devices(
    monkeypatch: pytest.MonkeyPatch, visible: str, ids: tuple[str, ...]
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert scheduler.gpu_ids() == ids


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    limits = scheduler.limits_for([stage("a", gpus=2), stage("b")], jobs=3, cpus=None)
    assert limits.jobs == 3 and limits.gpus == ("0", "1") and limits.cpus >= 1
    assert scheduler.limits_for([stage("a")], jobs=1, cpus=6).gpus == ()  # not asked: not looked up
    with pytest.raises(PipelineError, match="stage big needs 3 GPU"):
        scheduler.limits_for([stage("a", gpus=1), stage("big", gpus=3)], jobs=1, cpus=None)


def test_no_local_limits_for_stages_run_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    limits = scheduler.limits_for([stage("big", gpus=8)], jobs=4, cpus=None, here=False)
    assert limits.jobs == 4 and not limits.counted
