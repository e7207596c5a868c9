"""docs/ci/github-actions.yml works: its steps, run in order as GitHub
Actions would run them on a fresh checkout (with a local folder as the
remote), pass on a consistent commit and fail on a stale tether.lock; it
installs tether from a pinned git URL and shows the remote's secrets only to
the steps that talk to the remote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import git, write

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "ci" / "github-actions.yml"
# what GitHub would put in ${{ ... }} for a push to main
CONTEXT = {"github.ref": "refs/heads/main", "github.event.pull_request.base.sha": ""}
REMOTE_COMMANDS = re.compile(r"\btether (pull|push|fetch|repro)\b")

TRAIN = """\
import json, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
open("model.bin", "w").write(f"weights for lr {lr}\\n")
json.dump({"accuracy": round(0.5 + lr, 3)}, open("metrics.json", "w"))
"""


def _load() -> dict[str, Any]:
    doc = yaml.safe_load(TEMPLATE.read_text())
    assert isinstance(doc, dict)
    return doc


def _value(expr: str) -> str:
    """The few expressions the template uses: a context value, a secret,
    ``a || 'default'`` and ``a == 'b'``."""
    expr = expr.strip()
    if "||" in expr:
        return next((v for v in (_value(e) for e in expr.split("||")) if v), "")
    if "==" in expr:
        left, right = (_value(e) for e in expr.split("=="))
        return "true" if left == right else ""
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1]
    if expr.startswith("secrets."):
        return "not-a-real-secret"
    return CONTEXT[expr]


def _expand(text: str) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _value(m.group(1)), text)


def _tether_on_path(tmp_path: Path) -> str:
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    shim = bin_ / "tether"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tether "$@"\n')
    shim.chmod(0o755)
    return f"{bin_}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def _run_template(checkout: Path, tmp_path: Path) -> list[tuple[str, int, str]]:
    """Each step's name, exit code and output, in order, up to the first failure."""
    doc = _load()
    job = doc["jobs"]["repro"]
    summary = tmp_path / "summary.md"
    base_env = {
        **os.environ,
        **{k: _expand(str(v)) for k, v in doc.get("env", {}).items()},
        **{k: _expand(str(v)) for k, v in job.get("env", {}).items()},
        "PATH": _tether_on_path(tmp_path),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    ran = []
    for step in job["steps"]:
        if "uses" in step or "pip install" in step.get("run", ""):
            continue  # checkout, setup-python and the install: this test's own setup
        if "if" in step and not _value(step["if"]):
            continue
        env = {**base_env, **{k: _expand(str(v)) for k, v in step.get("env", {}).items()}}
        r = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _expand(step["run"])],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        ran.append((step["name"], r.returncode, r.stdout + r.stderr))
        if r.returncode != 0:
            break
    return ran


@pytest.fixture
def project(repo: Path, tether, tmp_path: Path) -> Path:
    """A project with one stage and two commits pushed (outputs and runs) to
    a local folder remote, as a team would have it before CI runs."""
    write(repo / "train.py", TRAIN)
    write(repo / "params.yaml", "train:\n  lr: 0.1\n")
    assert tether("remote", "add", "store", str(tmp_path / "remote"), "--default").code == 0
    r = tether(
        "stage", "add", "train", "-d", "train.py", "-p", "train.lr", "-o", "model.bin",
        "-M", "metrics.json", f"{sys.executable} train.py",
    )  # fmt: skip
    assert r.code == 0, r.err
    for lr in ("0.1", "0.2"):
        write(repo / "params.yaml", f"train:\n  lr: {lr}\n")
        assert tether("repro").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"lr {lr}")
        assert tether("push", "--run-cache").code == 0
    return repo


def _clone(src: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(src), str(dest)], check=True)
    return dest


def test_template_steps_pass_on_a_fresh_checkout(project: Path, tmp_path: Path):
    ran = _run_template(_clone(project, tmp_path / "ci"), tmp_path)
    assert [code for _, code, _ in ran] == [0] * len(ran), ran
    names = [name for name, _, _ in ran]
    assert len(names) == 6 and "push new outputs and runs" in names
    summary = (tmp_path / "summary.md").read_text()
    assert "## Metrics vs HEAD~1" in summary and "accuracy" in summary
    assert "train.lr" in summary


def test_template_fails_when_the_committed_lock_is_stale(project: Path, tmp_path: Path):
    write(project / "params.yaml", "train:\n  lr: 0.3\n")  # committed without repro
    git(project, "commit", "-qam", "lr 0.3, lock not updated")
    ran = _run_template(_clone(project, tmp_path / "ci"), tmp_path)
    name, code, output = ran[-1]
    assert code == 1 and "tether.lock" in name, ran
    assert "tether.lock" in output


def test_template_installs_a_pinned_tether_and_scopes_the_secrets():
    doc = _load()
    job = doc["jobs"]["repro"]
    installs = [line for s in job["steps"] for line in s.get("run", "").splitlines()]
    tether_installs = [ln for ln in installs if "pip install" in ln and "tether" in ln]
    assert tether_installs and all("git+" in ln for ln in tether_installs)  # not on PyPI
    env = {**doc.get("env", {}), **job.get("env", {})}
    assert env.get("TETHER_REF") and env["TETHER_REF"] not in ("main", "master", "HEAD")
    assert not any("secrets." in str(v) for v in env.values())  # no job-wide secrets
    for step in job["steps"]:
        if any("secrets." in str(v) for v in step.get("env", {}).values()):
            assert REMOTE_COMMANDS.search(step["run"]), step["name"]
