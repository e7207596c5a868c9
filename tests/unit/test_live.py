"""tether.live: the steps table, the summary, the params file and their checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from tests.conftest import write
from tether import live
from tether.valuefiles import parse_data

SRC = Path(live.__file__).resolve().parents[1]


def rows(path: Path, sep: str = "\t") -> list[list[str]]:
    return [line.split(sep) for line in path.read_text().splitlines()]


def test_steps_and_summary(tmp_path):
    with live.Run(dir=tmp_path / "m") as run:
        run.log({"loss": 0.5, "acc": 0.7})
        run.log({"loss": 0.25})
        run.log({"acc": 0.8, "lr": 1e-05}, step=4)  # a new column: earlier rows get empty cells
        run.log({"loss": 0.125, "lr": None}, step=4)  # the same step: the same row
        run.summary({"best": {"acc": 0.8}, "epochs": 3})
    assert rows(tmp_path / "m" / "steps.tsv") == [
        ["step", "loss", "acc", "lr"],
        ["0", "0.5", "0.7", ""],
        ["1", "0.25", "", ""],
        ["4", "0.125", "0.8", "1e-05"],
    ]
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary == {"loss": 0.125, "acc": 0.8, "lr": 1e-05, "best": {"acc": 0.8}, "epochs": 3}
    assert not (tmp_path / "m" / "params.json").exists()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["steps.tsv", "summary.json"]
    # tether reads both as it reads any metrics file: the summary nested, the table's last row
    assert parse_data("summary.json", (tmp_path / "m" / "summary.json").read_bytes()) == summary
    last = parse_data("steps.tsv", (tmp_path / "m" / "steps.tsv").read_bytes())
    assert last == {"step": 4, "loss": 0.125, "acc": 0.8, "lr": 1e-05}


def test_csv_name_step_column_and_no_summary(tmp_path):
    run = live.Run(dir=tmp_path, steps="epochs.csv", step_column="epoch", summary=None)
    run.log({"train_loss": 0.5}, step=1)
    run.log({"train_loss": 0.4}, step=2)
    run.close()
    assert (tmp_path / "epochs.csv").read_text() == "epoch,train_loss\n1,0.5\n2,0.4\n"
    assert not (tmp_path / "summary.json").exists()


def test_same_values_same_bytes(tmp_path):
    for name in ("a", "b"):
        with live.Run(dir=tmp_path / name) as run:
            run.log({"loss": 0.1})
            run.summary({"acc": 0.9})
    for f in ("steps.tsv", "summary.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_a_new_run_replaces_the_old_curves(tmp_path):
    with live.Run(dir=tmp_path) as run:
        run.log({"loss": 0.5})
        run.params({"lr": 0.1})
    run = live.Run(dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.tsv"]  # nothing stale
    run.close()
    assert (tmp_path / "steps.tsv").read_text() == "step\n"
    assert json.loads((tmp_path / "summary.json").read_text()) == {}


def test_none_nan_and_infinities(tmp_path):
    with live.Run(dir=tmp_path) as run:
        run.log({"loss": float("nan"), "acc": None, "x": float("inf")})
        run.log({"loss": float("-inf"), "acc": 0.5, "x": None})
        run.summary({"gone": None, "best": float("nan")})
    assert rows(tmp_path / "steps.tsv") == [
        ["step", "loss", "acc", "x"],
        ["0", "nan", "", "inf"],
        ["1", "-inf", "0.5", ""],
    ]
    # JSON holds no NaN or infinity: null; None: no value, no key
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "loss": None,
        "acc": 0.5,
        "x": None,
        "best": None,
    }


def test_summary_none_drops_the_logged_value(tmp_path):
    with live.Run(dir=tmp_path) as run:
        run.log({"loss": 0.5, "acc": 0.1})
        run.summary({"loss": None})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"acc": 0.1}


class OneElement:
    """Like a one-element tensor or array: a number through item()."""

    def __init__(self, value: object) -> None:
        self.value = value

    def item(self) -> object:
        if isinstance(self.value, list):
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.value


def test_ints_stay_ints_and_numeric_types_are_accepted(tmp_path):
    with live.Run(dir=tmp_path) as run:
        run.log({"n": 3, "f": Fraction(1, 4), "t": OneElement(0.5)})
        with pytest.raises(live.LiveError, match="is not a number"):
            run.log({"t": OneElement([1, 2])})
        with pytest.raises(live.LiveError, match="is not a number"):
            run.log({"t": OneElement(True)})
    assert rows(tmp_path / "steps.tsv")[1] == ["0", "3", "0.25", "0.5"]
    assert json.loads((tmp_path / "summary.json").read_text()) == {"n": 3, "f": 0.25, "t": 0.5}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.log({"a\tb": 1}), "metric name 'a\\tb': '\\t' not allowed"),
        (lambda r: r.log({"a\nb": 1}), "metric name 'a\\nb': '\\n' not allowed"),
        (lambda r: r.log({'a"': 1}), "'\"' not allowed"),
        (lambda r: r.log({"": 1}), "metric name '': must be a non-empty string"),
        (lambda r: r.log({" a": 1}), "without edge spaces"),
        (lambda r: r.log({1: 1}), "metric name 1: must be a non-empty string"),
        (lambda r: r.log({"step": 1}), "metric name 'step' is the step column: pass it as step="),
        (lambda r: r.log({"ok": True}), "metric 'ok': True is not a number"),
        (lambda r: r.log({"ok": "0.5"}), "metric 'ok': '0.5' is not a number"),
        (lambda r: r.log({"ok": [1]}), "metric 'ok': [1] is not a number"),
        (lambda r: r.log({"ok": [[0.0] * 9] * 9}), "metric 'ok': a list is not a number"),
        (lambda r: r.log([("ok", 1)]), "log() takes a mapping"),
        (lambda r: r.log({"ok": 1}, step=-1), "step -1: must be an integer >= 0"),
        (lambda r: r.log({"ok": 1}, step=1.5), "step 1.5: must be an integer >= 0"),
        (lambda r: r.log({"ok": 1}, step=True), "step True: must be an integer >= 0"),
        (
            lambda r: r.log({"ok": 1}, step=2),
            "step 2: steps never go back (the last row is step 3)",
        ),
        (lambda r: r.summary({"best": {"x": "high"}}), "metric 'best.x': 'high' is not a number"),
        (lambda r: r.params({"model": object}), "params.model: <class 'object'> is not"),
        (lambda r: r.params({"a\tb": 1}), "param name 'a\\tb'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, call, message):
    run = live.Run(dir=tmp_path)
    run.log({"ok": 1}, step=3)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(live.LiveError) as info:
        call(run)
    assert message in str(info.value)
    assert str(info.value).count("\n") == 0  # one line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    run.log({"ok": 2})  # the run goes on
    assert rows(tmp_path / "steps.tsv")[-1] == ["4", "2"]


def test_a_comma_is_refused_in_a_csv_file_only(tmp_path):
    live.Run(dir=tmp_path).log({"a,b": 1})
    with pytest.raises(live.LiveError, match="not allowed"):
        live.Run(dir=tmp_path, steps="s.csv").log({"a,b": 1})
    with pytest.raises(live.LiveError, match="step column name 'a\\\\tb'"):
        live.Run(dir=tmp_path, step_column="a\tb")


def test_params(tmp_path):
    with live.Run(dir=tmp_path) as run:
        run.params({"lr": 0.001, "layers": [1, 2], "opt": {"name": "adamw", "amsgrad": False}})
        run.params({"seed": None})
    assert json.loads((tmp_path / "params.json").read_text()) == {
        "lr": 0.001,
        "layers": [1, 2],
        "opt": {"name": "adamw", "amsgrad": False},
        "seed": None,
    }
    assert json.loads((tmp_path / "summary.json").read_text()) == {}  # params are not metrics


def test_closed_run_refuses_more(tmp_path):
    run = live.Run(dir=tmp_path)
    run.close()
    run.close()
    with pytest.raises(live.LiveError, match="the run is closed"):
        run.log({"a": 1})


def test_summary_written_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError), live.Run(dir=tmp_path) as run:
        run.log({"loss": 0.5})
        raise RuntimeError("diverged")
    assert json.loads((tmp_path / "summary.json").read_text()) == {"loss": 0.5}


def test_summary_is_replaced_atomically(tmp_path, monkeypatch):
    """A failed write leaves the previous summary whole and no temporary behind."""
    run = live.Run(dir=tmp_path)
    run.summary({"acc": 0.5})

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        run.summary({"acc": 0.75})
    monkeypatch.undo()
    assert json.loads((tmp_path / "summary.json").read_text()) == {"acc": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.tsv", "summary.json"]


def test_steps_survive_sigkill(tmp_path):
    """A run killed mid-way keeps every step it logged, each row whole."""
    script = write(
        tmp_path / "train.py",
        """
import sys, time
from tether import live
run = live.Run(dir="m")
step = 0
while True:
    run.log({"loss": 1.0 / (step + 1), "acc": step / 1000})
    if step == 50:
        run.log({"val": 0.5}, step=step)  # a new column: a rewrite
    if step >= 100:
        print(step, flush=True)
    step += 1
""",
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # at step 100 at least
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    table = rows(tmp_path / "m" / "steps.tsv")
    assert table[0] == ["step", "loss", "acc", "val"]
    assert len(table) > 101
    assert all(len(r) == 4 for r in table)
    assert [int(r[0]) for r in table[1:]] == list(range(len(table) - 1))
    assert table[51][3] == "0.5"
    assert not (tmp_path / "m" / "summary.json").exists()  # killed before close
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.endswith(".tmp")]


def test_importing_live_loads_no_tether_module_and_nothing_heavy():
    code = (
        "import sys; from tether import live; "
        "print(sorted(m for m in sys.modules if m.startswith('tether')));"
        "print([m for m in ('typer', 'rich', 'yaml', 'git') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["['tether', 'tether.live']", "[]"]


PIPELINE_TRAIN = """
import sys
from tether import live
lr = float(sys.argv[1])
with live.Run(dir="train") as run:
    run.params({"lr": lr})
    for epoch in range(3):
        run.log({"loss": round(1.0 / (epoch + 1), 4)})
    run.summary({"accuracy": 0.91})
"""


def test_metrics_show_reads_the_summary_in_a_repo(repo, tether, monkeypatch):
    write(repo / "train.py", PIPELINE_TRAIN)
    write(repo / "params.yaml", "lr: 0.1\n")
    write(
        repo / "tether.yaml",
        f"""stages:
  train:
    cmd: {sys.executable} train.py ${{lr}}
    deps: [train.py]
    params: [lr]
    metrics: [train/summary.json]
    plots: [train/steps.tsv]
    outs: [train/params.json]
""",
    )
    monkeypatch.setenv("PYTHONPATH", str(SRC))
    r = tether("repro")
    assert r.code == 0, r.err
    r = tether("metrics", "show", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    text = json.dumps(doc)
    assert "train/summary.json" in text
    assert '"accuracy": 0.91' in text
    assert '"loss": 0.3333' in text
    r = tether("metrics", "show")
    assert "accuracy" in r.out
    assert "0.91" in r.out
    params = json.loads((repo / "train" / "params.json").read_text())
    assert params == {"lr": 0.1}
