"""Sharing experiments between clones: ``exp push`` moves the data to a data
remote and then the refs to a git remote; ``exp pull`` in another clone brings
both back, with real git (a bare repository, two clones) and real remotes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write
from tests.func.test_json_output import check

PY = sys.executable
TRAIN = """
import json, pathlib, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
print("training with", p["lr"])
if p["fail"]:
    pathlib.Path("model.bin").write_text("half a model")
    raise SystemExit(3)
pathlib.Path("model.bin").write_text(f"model {p['lr']}\\n" * 100)
json.dump({"acc": round(float(p["lr"]) * 2, 4)}, open("metrics.json", "w"))
"""


def _setup(root: Path, tether: Any, data_remote: str) -> None:
    write(root / "train.py", TRAIN)
    write(root / "params.yaml", "train: {lr: 0.1, fail: false}\n")
    write(root / "raw.txt", "raw data\n")
    write(
        root / "tether.yaml",
        f"""schema: 1
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [train.lr, train.fail]
    outs: [model.bin]
    metrics:
      - metrics.json: {{cache: false}}
""",
    )
    assert tether("-C", str(root), "add", "raw.txt").code == 0
    assert tether("-C", str(root), "remote", "add", "store", data_remote, "--default").code == 0
    assert tether("-C", str(root), "repro").code == 0


@pytest.fixture
def clones(repo: Path, tether: Any, tmp_path: Path) -> tuple[Path, Path]:
    """Clone A (the ``repo``) and clone B of one bare git remote ``origin``,
    sharing the local folder data remote ``store``."""
    (tmp_path / "store").mkdir()
    _setup(repo, tether, str(tmp_path / "store"))
    return _clone(repo, tether, tmp_path)


def _clone(
    a: Path, tether: Any, tmp_path: Path, local: dict[str, str] | None = None
) -> tuple[Path, Path]:
    git(a, "add", "-A")
    git(a, "commit", "-qm", "pipeline")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(a, "remote", "add", "origin", str(bare))
    git(a, "push", "-q", "origin", "main")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    for option, value in (local or {}).items():  # this machine's secrets: not cloned
        assert tether("-C", str(b), "remote", "modify", "--local", "store", option, value).code == 0
    assert tether("-C", str(a), "push").code == 0
    assert tether("-C", str(b), "pull").code == 0
    return a, b


def _run(tether: Any, root: Path, *args: str) -> dict[str, Any]:
    r = tether("-C", str(root), "exp", "run", "--json", *args)
    assert r.code in (0, 1), r.err
    (run,) = json.loads(r.out)["tether.exp-run/v1"]
    return dict(run)


def _show(tether: Any, root: Path) -> list[dict[str, Any]]:
    r = tether("-C", str(root), "exp", "show", "--json")
    assert r.code == 0, r.err
    return list(json.loads(r.out)["tether.exp-show/v1"]["rows"])


def _share(tether: Any, root: Path, verb: str, *args: str) -> dict[str, Any]:
    r = tether("-C", str(root), "exp", verb, "origin", *args, "--json")
    assert r.code == 0, r.err
    return dict(json.loads(r.out)[f"tether.exp-{verb}/v1"])


def test_push_then_pull_in_another_clone(clones: tuple[Path, Path], tether: Any) -> None:
    a, b = clones
    fast = _run(tether, a, "-S", "train.lr=0.3", "-n", "fast")
    boom = _run(tether, a, "-S", "train.fail=true", "-n", "boom")
    assert (fast["state"], boom["state"]) == ("done", "failed")
    model = (a / "model.bin").read_bytes()

    pushed = _share(tether, a, "push")

    assert pushed["experiments"] == ["boom", "fast"] and pushed["objects"]["moved"] > 0
    on_git = git(a, "ls-remote", "origin", "refs/tether/exps/*")
    assert f"refs/tether/exps/{fast['baseline']}/fast" in on_git

    pulled = _share(tether, b, "pull")

    assert pulled["experiments"] == ["boom", "fast"]
    assert _show(tether, b) == _show(tether, a)
    assert tether("-C", str(b), "metrics", "diff", "fast").code == 0
    r = tether("-C", str(b), "exp", "logs", "boom")
    assert r.code == 0 and "training with 0.1" in r.out
    assert r.out == (a / ".tether/exps/logs/boom.log").read_text()
    # the outputs come back byte for byte, from B's cache (the data remote is gone)
    for p in (a.parent / "store").rglob("*"):
        if p.is_file():
            p.unlink()
    assert tether("-C", str(b), "exp", "apply", "fast").code == 0
    assert (b / "model.bin").read_bytes() == b"model 0.3\n" * 100
    assert (b / "model.bin").read_bytes() != model
    assert json.loads((b / "metrics.json").read_text()) == {"acc": 0.6}
    assert (b / "raw.txt").read_text() == "raw data\n"


def test_gc_keeps_pulled_experiments_and_their_logs(clones: tuple[Path, Path], tether: Any) -> None:
    """No run-cache entry names a pulled experiment's outputs: the experiment's
    commit itself must keep them (and its log) through a plain ``tether gc``."""
    a, b = clones
    _run(tether, a, "-S", "train.lr=0.7", "-n", "keep")
    _share(tether, a, "push")
    _share(tether, b, "pull")
    for p in (a.parent / "store").rglob("*"):  # only B's cache has them now
        if p.is_file():
            p.unlink()
    r = tether("-C", str(b), "gc", "-f")
    assert r.code == 0, r.err
    assert tether("-C", str(b), "exp", "apply", "keep").code == 0
    assert (b / "model.bin").read_bytes() == b"model 0.7\n" * 100
    (b / ".tether/exps/logs/keep.log").unlink(missing_ok=True)
    r = tether("-C", str(b), "exp", "logs", "keep")
    assert r.code == 0 and "training with 0.7" in r.out
    # once the experiment is removed, gc may take its outputs
    git(b, "checkout", "-q", "--", ".")
    assert tether("-C", str(b), "exp", "remove", "keep").code == 0
    r = tether("-C", str(b), "gc", "-f")
    assert r.code == 0 and "removed" in (r.out + r.err), r.out + r.err


def test_a_second_push_moves_only_what_is_missing(clones: tuple[Path, Path], tether: Any) -> None:
    a, _ = clones
    hook = write(a / ".git/hooks/pre-push", "#!/bin/sh\nexit 1\n")  # e.g. `tether push`
    hook.chmod(0o755)
    _run(tether, a, "-S", "train.lr=0.3", "-n", "one")
    first = _share(tether, a, "push")  # the data went up already: no hook runs
    _run(tether, a, "-S", "train.lr=0.4", "-n", "two")

    second = _share(tether, a, "push")

    assert first["experiments"] == ["one"]
    assert second["experiments"] == ["two"] and second["up_to_date"] == ["one"]
    # two's model, metrics and log; raw.txt and one's model, metrics and log are there
    assert first["objects"] == {"moved": 3, "present": 1}
    assert second["objects"] == {"moved": 3, "present": 4}
    third = _share(tether, a, "push", "two")
    assert third["experiments"] == [] and third["objects"]["moved"] == 0


def test_pull_refuses_a_name_taken_here_unless_forced(
    clones: tuple[Path, Path], tether: Any
) -> None:
    a, b = clones
    _run(tether, a, "-S", "train.lr=0.3", "-n", "same")
    _share(tether, a, "push")
    mine = _run(tether, b, "-S", "train.lr=0.5", "-n", "same")

    r = tether("-C", str(b), "exp", "pull", "origin")

    assert r.code == 2
    assert "experiment same exists here with another commit" in r.err and "--force" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert mine["commit"] in git(b, "for-each-ref", "refs/tether/exps")
    assert "training with 0.5" in tether("-C", str(b), "exp", "logs", "same").out

    assert tether("-C", str(b), "exp", "pull", "origin", "--force").code == 0
    assert mine["commit"] not in git(b, "for-each-ref", "refs/tether/exps")
    assert "training with 0.3" in tether("-C", str(b), "exp", "logs", "same").out


def test_push_refuses_a_name_the_git_remote_has_with_another_commit(
    clones: tuple[Path, Path], tether: Any
) -> None:
    a, b = clones
    _run(tether, a, "-S", "train.lr=0.3", "-n", "same")
    _share(tether, a, "push")
    _run(tether, b, "-S", "train.lr=0.5", "-n", "same")

    r = tether("-C", str(b), "exp", "push", "origin")

    assert r.code == 2 and "git remote 'origin' has another experiment named same" in r.err
    assert tether("-C", str(b), "exp", "push", "origin", "-f").code == 0
    assert tether("-C", str(a), "exp", "pull", "origin", "-f").code == 0
    assert "training with 0.5" in tether("-C", str(a), "exp", "logs", "same").out


def test_unknown_git_remote_or_name_is_one_clear_error(
    clones: tuple[Path, Path], tether: Any, tmp_path: Path
) -> None:
    a, b = clones
    _run(tether, a, "-S", "train.lr=0.3", "-n", "fast")
    objects = tmp_path / "store" / "objects"
    before = sorted(objects.rglob("*")) if objects.exists() else []

    r = tether("-C", str(a), "exp", "push", "nowhere")

    assert r.code == 1
    assert r.err.startswith("error: git remote 'nowhere':")
    assert len(r.err.strip().splitlines()) == 1
    assert (sorted(objects.rglob("*")) if objects.exists() else []) == before  # no data moved
    r = tether("-C", str(b), "exp", "pull", "origin", "fast")
    assert r.code == 2
    assert (
        r.err.strip()
        .splitlines()[0]
        .startswith("error: git remote 'origin' has no experiment named 'fast'")
    )
    assert len(r.err.strip().splitlines()) == 1
    r = tether("-C", str(b), "exp", "push", "origin", "nope")
    assert r.code == 2 and "no experiment named 'nope'" in r.err


def test_pull_ignores_refs_tether_would_not_make(clones: tuple[Path, Path], tether: Any) -> None:
    """Refs on a git remote are untrusted: odd baselines or names are not fetched,
    and a note's log digest that is no digest is never used."""
    a, b = clones
    run = _run(tether, a, "-S", "train.lr=0.3", "-n", "fast")
    _share(tether, a, "push")
    sha = run["commit"]
    for ref in ("refs/tether/exps/notasha/x", f"refs/tether/exps/{run['baseline']}/-x"):
        git(a, "push", "-q", "origin", f"{sha}:{ref}")
    head, _, message = git(a, "cat-file", "commit", sha).partition("\n\n")
    note = json.loads(message.split("\n", 2)[2])
    note.update(name="forged", log_digest="../../../etc/passwd", log="/etc/passwd")
    bad = f"{head}\n\ntether experiment forged\n\n{json.dumps(note)}\n"
    forged = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=a, input=bad, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    git(a, "push", "-q", "origin", f"{forged}:refs/tether/exps/{run['baseline']}/forged")

    pulled = _share(tether, b, "pull")

    assert pulled["experiments"] == ["fast", "forged"]
    refs = git(b, "for-each-ref", "--format=%(refname)", "refs/tether/exps").split()
    assert sorted(r.rsplit("/", 1)[1] for r in refs) == ["fast", "forged"]
    r = tether("-C", str(b), "exp", "logs", "forged")
    assert r.code == 1 and "has no log here" in r.err


def test_json_outputs_match_their_examples(
    clones: tuple[Path, Path], tether: Any, tmp_path: Path
) -> None:
    a, b = clones
    _run(tether, a, "-S", "train.lr=0.3", "-n", "bright-lark")
    for root, verb in ((a, "push"), (b, "pull")):
        r = tether("-C", str(root), "exp", verb, "origin", "--json")
        assert r.code == 0, r.err
        doc = json.loads(r.out)
        shared = doc[f"tether.exp-{verb}/v1"]
        assert shared["bytes"] > 0
        shared["bytes"] = "<bytes>"  # the log's size varies
        check(json.dumps(doc), f"exp-{verb}", tmp_path)


def test_gc_of_the_data_remote_keeps_what_an_experiment_pushed(
    clones: tuple[Path, Path], tether: Any, tmp_path: Path
) -> None:
    """An experiment's outputs and its log are references of its ref."""
    a, b = clones
    _run(tether, a, "-S", "train.lr=0.3", "-n", "fast")
    _share(tether, a, "push")
    stored = sorted((tmp_path / "store" / "objects").rglob("*"))

    r = tether("-C", str(a), "gc", "--remote", "store", "--grace", "0", "--force")

    assert r.code == 0, r.err
    assert sorted((tmp_path / "store" / "objects").rglob("*")) == stored
    assert _share(tether, b, "pull")["experiments"] == ["fast"]
    assert "training with 0.3" in tether("-C", str(b), "exp", "logs", "fast").out


@pytest.mark.s3
def test_push_and_pull_through_s3(repo: Path, tether: Any, tmp_path: Path, s3_remote: Any) -> None:
    url, endpoint, key, secret = s3_remote
    _setup(repo, tether, url)
    assert tether("remote", "modify", "store", "endpoint_url", endpoint).code == 0
    secrets = {"access_key_id": key, "secret_access_key": secret}
    for option, value in secrets.items():
        assert tether("remote", "modify", "--local", "store", option, value).code == 0
    a, b = _clone(repo, tether, tmp_path, secrets)
    _run(tether, a, "-S", "train.lr=0.7", "-n", "s3exp")

    assert _share(tether, a, "push")["experiments"] == ["s3exp"]
    assert _share(tether, b, "pull")["experiments"] == ["s3exp"]

    assert tether("-C", str(b), "exp", "apply", "s3exp").code == 0
    assert (b / "model.bin").read_bytes() == b"model 0.7\n" * 100
    assert "training with 0.7" in tether("-C", str(b), "exp", "logs", "s3exp").out
