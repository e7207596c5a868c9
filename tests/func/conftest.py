"""Shared by the experiment tests: a project whose pipeline is two Python
scripts, and running ``exp run`` / ``exp show`` with ``--json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write

PY = sys.executable

# prepare: copies raw.txt with prepare.n; train: model.bin and metrics.json from
# train.lr / train.mode. Each appends its name to runs.log (kept out of git).
PREPARE = """
import pathlib, yaml
p = yaml.safe_load(open("params.yaml"))
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/prep.txt").write_text(open("raw.txt").read() * p["prepare"]["n"])
open("runs.log", "a").write("prepare\\n")
"""
TRAIN = """
import json, pathlib, sys, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
if p.get("fail"):
    print("training blew up", file=sys.stderr)
    sys.exit(3)
text = open("data/prep.txt").read()
pathlib.Path("model.bin").write_text(f"{p['lr']}:{p['mode']}:{text}")
acc = round(len(text) * float(p["lr"]), 4)
links = pathlib.Path("data/prep.txt").stat().st_nlink  # 2+: a hardlink to the cache
json.dump({"acc": acc, "lr_type": type(p["lr"]).__name__, "links": links}, open("metrics.json", "w"))
open("runs.log", "a").write("train\\n")
"""


@pytest.fixture
def proj(repo: Path, tether) -> Path:
    write(repo / "prepare.py", PREPARE)
    write(repo / "train.py", TRAIN)
    write(repo / "raw.txt", "abcd\n")
    write(repo / "params.yaml", "prepare: {n: 2}\ntrain: {lr: 0.1, mode: head, fail: false}\n")
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  prepare:
    cmd: {PY} prepare.py
    deps: [prepare.py, raw.txt]
    params: [prepare.n]
    outs: [data/prep.txt]
  train:
    cmd: {PY} train.py
    deps: [train.py, data/prep.txt]
    params: [train.lr, train.mode, train.fail]
    outs: [model.bin]
    metrics:
      - metrics.json: {{cache: false}}
""",
    )
    write(repo / ".gitignore", "runs.log\n")
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    return repo


def exp_run(tether, *args: str) -> list[dict[str, Any]]:
    r = tether("exp", "run", "--json", *args)
    assert r.code in (0, 1), r.err
    runs: list[dict[str, Any]] = json.loads(r.out)["tether.exp-run/v1"]
    return runs


def exp_show(tether, *args: str) -> dict[str, Any]:
    r = tether("exp", "show", "--json", *args)
    assert r.code == 0, r.err
    table: dict[str, Any] = json.loads(r.out)["tether.exp-show/v1"]
    return table
