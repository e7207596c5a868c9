"""Every ``--json`` output, run as a user types it on a real repository, equals
its stored example in tests/data/json/ (docs/json.md describes the keys).

Values that differ between runs (temporary paths, seconds) are normalised
before the comparison. Set TETHER_UPDATE_JSON=1 to rewrite the examples after
a deliberate format change (and bump the format's version).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write

EXAMPLES = Path(__file__).parent.parent / "data" / "json"

PIPELINE = """schema: 1
stages:
  train:
    cmd: cp raw.txt model.bin && cp score.json metrics.json
    deps: [raw.txt, score.json]
    params: [train.lr]
    outs: [model.bin]
    metrics: [metrics.json]
"""


def _normalise(value: Any, tmp: str) -> Any:
    if isinstance(value, dict):
        return {k: 0.0 if k == "seconds" else _normalise(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, tmp) for v in value]
    if isinstance(value, str):
        return value.replace(tmp, "<tmp>")
    return value


def check(out: str, name: str, tmp: Path) -> None:
    """``out`` holds exactly one document tagged ``tether.<name>/v1``, equal to the example."""
    doc = json.loads(out)
    assert list(doc) == [f"tether.{name}/v1"]
    got = _normalise(doc, str(tmp))
    example = EXAMPLES / f"{name}.json"
    if os.environ.get("TETHER_UPDATE_JSON"):
        example.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(example.read_text())


@pytest.fixture
def project(repo: Path, tether: Any) -> Path:
    """Two commits: tracked data, a one-stage pipeline, params and metrics."""
    write(repo / "data.txt", "one\n")
    write(repo / "images" / "a.txt", "a\n")
    write(repo / "images" / "b.txt", "b\n")
    write(repo / "raw.txt", "raw\n")
    write(repo / "params.yaml", "train:\n  lr: 0.1\n  epochs: 2\n")
    write(repo / "score.json", '{"acc": 0.5, "loss": 0.9}')
    write(repo / "tether.yaml", PIPELINE)
    assert tether("add", "data.txt", "images").code == 0
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    write(repo / "data.txt", "one, changed\n")
    write(repo / "images" / "c.txt", "c\n")
    write(repo / "params.yaml", "train:\n  lr: 0.2\n  epochs: 2\n")
    write(repo / "metrics.json", '{"acc": 0.75, "loss": 0.5}')
    return repo


def test_status(project: Path, tether: Any, tmp_path: Path) -> None:
    r = tether("status", "--json")
    check(r.out, "status", tmp_path)


def test_remote_status(project: Path, tether: Any, tmp_path: Path) -> None:
    assert tether("remote", "add", "store", str(tmp_path / "store"), "--default").code == 0
    assert tether("push", "data.txt").code == 0
    r = tether("status", "--remote", "--json")
    check(r.out, "remote-status", tmp_path)


def test_remote_verify(project: Path, tether: Any, tmp_path: Path) -> None:
    """One hole the cache fills, one it cannot (its object is gone from both)."""
    assert tether("remote", "add", "store", str(tmp_path / "store"), "--default").code == 0
    assert tether("add", "data.txt", "images").code == 0
    assert tether("push").code == 0
    cache = project / ".tether" / "cache"
    for top in (tmp_path / "store", cache):
        for p in (top / "objects").rglob("*"):
            content = p.read_bytes() if p.is_file() else b""
            if content == b"one, changed\n" or (content == b"a\n" and top != cache):
                p.unlink()
    r = tether("remote", "verify", "--repair", "--json")
    assert r.code == 1, r.err
    check(r.out, "remote-verify", tmp_path)


def test_remotes(project: Path, tether: Any, tmp_path: Path) -> None:
    assert tether("remote", "add", "store", str(tmp_path / "store"), "--default").code == 0
    assert tether("remote", "add", "s3", "s3://bucket/prefix").code == 0
    assert tether("remote", "modify", "s3", "secret_access_key", "hidden", "--local").code == 0
    assert tether("remote", "modify", "s3", "jobs", "4").code == 0
    r = tether("remote", "list", "--json")
    check(r.out, "remotes", tmp_path)


def test_repro(project: Path, tether: Any, tmp_path: Path) -> None:
    r = tether("repro", "--json")
    assert r.code == 0, r.err
    check(r.out, "repro", tmp_path)


def test_diff(project: Path, tether: Any, tmp_path: Path) -> None:
    assert tether("add", "data.txt", "images").code == 0
    r = tether("diff", "--json")
    check(r.out, "diff", tmp_path)


def test_metrics_show(project: Path, tether: Any, tmp_path: Path) -> None:
    check(tether("metrics", "show", "--json").out, "metrics-show", tmp_path)


def test_params_show(project: Path, tether: Any, tmp_path: Path) -> None:
    check(tether("params", "show", "--json").out, "params-show", tmp_path)


def test_metrics_diff(project: Path, tether: Any, tmp_path: Path) -> None:
    check(tether("metrics", "diff", "--json").out, "metrics-diff", tmp_path)


def test_params_diff(project: Path, tether: Any, tmp_path: Path) -> None:
    check(tether("params", "diff", "--json").out, "params-diff", tmp_path)


def test_metrics_check(project: Path, tether: Any, tmp_path: Path) -> None:
    r = tether(
        "metrics", "check", "HEAD", "--json", "-r", "acc >= 0", "-r", "loss >= 0", "-r", "f1 > 0"
    )
    assert r.code == 1
    check(r.out, "metrics-check", tmp_path)


def test_gc_remote(project: Path, tether: Any, tmp_path: Path) -> None:
    assert tether("remote", "add", "store", str(tmp_path / "store"), "--default").code == 0
    for text in ("a version never committed\n", "the next one\n"):
        write(project / "data.txt", text)
        assert tether("add", "data.txt").code == 0
        assert tether("push", "data.txt").code == 0  # the version before is in no commit
    r = tether("gc", "--remote", "store", "--grace", "0", "--dry-run", "--json")
    check(r.out, "gc-remote", tmp_path)


def test_every_format_is_documented_with_its_example() -> None:
    doc = (Path(__file__).parent.parent.parent / "docs" / "json.md").read_text()
    for example in sorted(EXAMPLES.glob("*.json")):
        tag = f"tether.{example.stem}/v1"
        assert tag in doc, f"{tag} is not described in docs/json.md"


def _stable_exp(out: str) -> str:
    """Commits and times differ between runs: replaced by what they are."""

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: f"<{k}>" if k in ("commit", "baseline", "started", "finished", "created") and v
                else fix(v)
                for k, v in value.items()
            }  # fmt: skip
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return json.dumps(fix(json.loads(out)))


def test_exp_run_and_show(project: Path, tether: Any, tmp_path: Path) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-qm", "v2")
    r = tether("exp", "run", "-S", "train.lr=0.3", "--name", "bright-lark", "--json")
    assert r.code == 0, r.err
    check(_stable_exp(r.out), "exp-run", tmp_path)
    r = tether("exp", "show", "--json")
    assert r.code == 0, r.err
    check(_stable_exp(r.out), "exp-show", tmp_path)
    short = git(project, "rev-parse", "--short=7", "HEAD").strip()
    r = tether("exp", "diff", "bright-lark", "--json")
    assert r.code == 0, r.err
    check(_stable_exp(r.out.replace(f'"{short}"', '"<baseline>"')), "exp-diff", tmp_path)
