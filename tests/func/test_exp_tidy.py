"""Comparing and tidying experiments: ``exp diff``, ``exp remove --older-than /
--state``, ``exp clean`` and the filters of ``exp show``, on a real git
repository with a pipeline of Python scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import git, write
from tests.func.conftest import TRAIN, exp_run, exp_show


def _ref(repo: Path, name: str) -> str:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/tether/exps/").split()
    [ref] = [r for r in refs if r.rsplit("/", 1)[1] == name]
    return ref


def _started_ago(repo: Path, name: str, days: float) -> None:
    """Rewrite the experiment's record as if it had started ``days`` ago."""
    ref = _ref(repo, name)
    title, _, body = git(repo, "log", "-1", "--format=%B", ref).partition("\n\n")
    doc = json.loads(body)
    doc["started"] = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    tree = git(repo, "rev-parse", f"{ref}^{{tree}}").strip()
    parent = git(repo, "rev-parse", f"{ref}^").strip()
    msg = json.dumps(doc, sort_keys=True)
    commit = git(repo, "commit-tree", tree, "-p", parent, "-m", title, "-m", msg).strip()
    git(repo, "update-ref", ref, commit)


def _one_error_line(r, code: int, text: str) -> None:
    lines = r.err.strip().splitlines()
    assert r.code == code, r.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], r.err


def test_exp_diff_of_two_experiments_as_json_and_markdown(proj: Path, tether) -> None:
    exp_run(tether, "-S", "train.lr=0.3", "--name", "small")
    exp_run(tether, "-S", "train.lr=0.9", "--name", "big")

    r = tether("exp", "diff", "small", "big", "--json")

    assert r.code == 0, r.err
    doc = json.loads(r.out)["tether.exp-diff/v1"]
    assert doc["old"] == {
        "name": "small",
        "commit": git(proj, "rev-parse", _ref(proj, "small"))[:-1],
    }
    assert doc["new"]["name"] == "big"
    assert doc["params"] == {"params.yaml": {"train.lr": {"old": 0.3, "new": 0.9, "change": 0.6}}}
    assert doc["metrics"] == {"metrics.json": {"acc": {"old": 3.0, "new": 9.0, "change": 6.0}}}
    every = json.loads(tether("exp", "diff", "small", "big", "--json", "--all").out)
    assert every["tether.exp-diff/v1"]["metrics"]["metrics.json"]["lr_type"]["change"] is None

    # one name: the experiment against the commit it started from
    head = git(proj, "rev-parse", "--short=7", "HEAD").strip()
    md = tether("exp", "diff", "big", "--md")
    assert md.code == 0, md.err
    assert md.out.splitlines() == [
        f"| Path | Param | {head} | big | Change |",
        "|---|---|---|---|---|",
        "| params.yaml | train.lr | 0.1 | 0.9 | +0.8 |",
        "",
        f"| Path | Metric | {head} | big | Change |",
        "|---|---|---|---|---|",
        "| metrics.json | acc | 1 | 9 | +8 |",
        "| metrics.json | links | 1 | 2 | +1 |",  # the experiment's input is a hardlink
    ]
    # any revision is a side too; the same experiment on both: nothing differs
    assert "+0.2" in tether("exp", "diff", "HEAD", "small").out
    same = tether("exp", "diff", "big", "big")
    assert same.code == 0 and same.out == "no params or metrics differ between big and big\n"


def test_exp_diff_of_an_unknown_name_is_one_line(proj: Path, tether) -> None:
    exp_run(tether, "-S", "train.lr=0.3", "--name", "small")
    _one_error_line(tether("exp", "diff", "nope"), 2, "no experiment or revision named 'nope'")
    _one_error_line(tether("exp", "diff", "small", "HEAD~9"), 2, "'HEAD~9'")
    first = git(proj, "rev-list", "--max-parents=0", "HEAD").strip()
    _one_error_line(tether("exp", "diff", first), 2, "has no parent commit")


def test_remove_older_than_and_by_state(proj: Path, tether) -> None:
    exp_run(tether, "-S", "train.lr=0.2,0.3", "--name", "g")
    exp_run(tether, "-S", "train.fail=true", "--name", "boom")
    _started_ago(proj, "g-1", days=40)
    _started_ago(proj, "g-2", days=10)

    dry = tether("exp", "remove", "--older-than", "30d", "-n")
    assert dry.code == 0 and dry.out.splitlines() == ["would remove g-1"]
    assert [r["name"] for r in exp_show(tether)["rows"]] == ["HEAD", "g-1", "g-2", "boom"]

    gone = tether("exp", "remove", "--older-than", "30d")
    assert gone.code == 0 and gone.out.splitlines() == ["removed g-1", "removed 1 experiment(s)"]
    assert not (proj / ".tether/exps/logs/g-1.log").exists()
    # names and a filter: only those named that match
    assert tether("exp", "remove", "g-2", "boom", "--older-than", "1w").out.startswith(
        "removed g-2\nremoved 1 "
    )
    assert [r["name"] for r in exp_show(tether)["rows"]] == ["HEAD", "boom"]
    assert tether("exp", "remove", "--state", "failed").out.startswith("removed boom\n")
    assert not git(proj, "for-each-ref", "refs/tether/")

    _one_error_line(tether("exp", "remove", "--older-than", "3x"), 2, "'3x' is no duration")
    _one_error_line(tether("exp", "remove", "--state", "happy"), 2, "--state 'happy'")
    _one_error_line(tether("exp", "remove"), 2, "name the experiments to remove")


def _killed_run(proj: Path, name: str) -> subprocess.Popen[bytes]:
    """``exp run`` in its own session, its training stage waiting until the
    marker file is deleted: the caller kills it, as a crash or `kill -9` would."""
    marker = proj.parent / "training"
    wait = f"import pathlib, time\nm = pathlib.Path({str(marker)!r})\nm.write_text('')\n"
    wait += "for _ in range(600):\n    time.sleep(0.1)\n    if not m.exists(): break\n"
    write(proj / "train.py", wait + TRAIN)  # uncommitted: the experiment runs it
    run = subprocess.Popen(
        [sys.executable, "-m", "tether", "exp", "run", "--name", name],
        cwd=proj,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(300):
        if marker.exists():
            return run
        time.sleep(0.05)
    run.kill()
    raise AssertionError("the experiment did not start")


def test_clean_removes_a_killed_runs_leftovers_and_nothing_else(
    proj: Path, tether, tmp_path: Path
) -> None:
    exp_run(tether, "-S", "train.lr=0.3", "--name", "kept")
    mine = tmp_path / "my-worktree"
    git(proj, "worktree", "add", "-q", "--detach", str(mine))
    write(proj / ".tether/exps/work/notes.txt", "mine\n")
    (proj / ".tether/exps/work/linked").symlink_to(mine)
    write(proj / ".tether/exps/logs/README", "mine\n")
    write(proj / ".tether/exps/logs/gone.log", "an experiment removed by hand\n")
    write(proj / ".tether/tmp/exp-index-2026-01-01T000000+0000", "index\n")
    ghost = "refs/tether/exps/" + "1" * 40 + "/ghost"
    write(proj / ".git" / ghost, "2" * 40 + "\n")  # names a commit that is not there
    # a work tree with no run lock (a runner that takes none): running while it changes
    fresh = proj / ".tether/exps/work/fresh"
    fresh.mkdir()
    work = proj / ".tether/exps/work/killed"
    run = _killed_run(proj, "killed")
    try:
        # the other leftovers go; the running experiment's work tree, lock and log stay
        r = tether("exp", "clean")
        assert r.code == 0, r.err
        assert sorted(r.out.splitlines()) == [
            "removed log .tether/exps/logs/gone.log (no experiment gone)",
            f"removed ref {ghost} (its commit 2222222 is missing)",
            "removed temporary index .tether/tmp/exp-index-2026-01-01T000000+0000 "
            "(left by an `exp run` that did not finish)",
        ]
        assert work.is_dir() and (proj / ".tether/exps/logs/killed.log").exists()
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        (proj.parent / "training").unlink(missing_ok=True)
    assert str(work) in git(proj, "worktree", "list")

    assert fresh.is_dir()
    hours_ago = time.time() - 2 * 3600
    os.utime(fresh, (hours_ago, hours_ago))

    dry = tether("exp", "clean", "-n")
    assert dry.code == 0 and work.is_dir()
    assert dry.out.splitlines() == [
        "would remove work tree .tether/exps/work/fresh (its run is not running)",
        "would remove work tree .tether/exps/work/killed (its run is not running)",
        "would remove log .tether/exps/logs/killed.log (no experiment killed)",
    ]

    r = tether("exp", "clean")

    assert r.code == 0, r.err
    assert r.out == dry.out.replace("would remove", "removed")
    assert not work.exists() and not (proj / ".tether/exps/work/killed.lock").exists()
    assert not fresh.exists()
    assert str(work) not in git(proj, "worktree", "list")
    assert str(mine) in git(proj, "worktree", "list") and mine.is_dir()
    assert (proj / ".tether/exps/work/notes.txt").read_text() == "mine\n"
    assert (proj / ".tether/exps/work/linked").is_symlink() and (mine / "train.py").exists()
    assert (proj / ".tether/exps/logs/README").exists()
    assert (proj / ".tether/exps/logs/kept.log").exists()
    assert [r["name"] for r in exp_show(tether)["rows"]] == ["HEAD", "kept"]
    assert not git(proj, "for-each-ref", "--format=%(objectname)", ghost)
    again = tether("exp", "clean")
    assert again.code == 0 and again.out == "nothing to clean\n"


def test_show_filters_columns_and_rows(proj: Path, tether) -> None:
    exp_run(tether, "-S", "train.lr=0.3,0.2", "--name", "g")
    exp_run(tether, "-S", "train.fail=true", "--name", "boom")
    _started_ago(proj, "g-1", days=3)
    _started_ago(proj, "g-2", days=2)
    _started_ago(proj, "boom", days=1)

    kept = exp_show(tether, "--keep", "acc")
    assert kept["params"] == [] and kept["metrics"] == ["metrics.json:acc"]
    kept = exp_show(tether, "--keep", "train.*", "--keep", "params.yaml:prepare.n")
    assert kept["params"] == [f"params.yaml:{k}" for k in ("prepare.n", "train.fail", "train.lr",
                                                           "train.mode")]  # fmt: skip
    assert kept["metrics"] == []
    dropped = exp_show(tether, "--drop", "metrics.json:l*")
    assert dropped["metrics"] == ["metrics.json:acc"]
    assert dropped["params"] == ["params.yaml:train.fail", "params.yaml:train.lr"]
    both = exp_show(tether, "--drop", "*", "--keep", "acc")
    assert both["params"] == [] and both["metrics"] == ["metrics.json:acc"]

    failed = exp_show(tether, "--state", "failed")
    assert [r["name"] for r in failed["rows"]] == ["HEAD", "boom"]
    assert [r["name"] for r in exp_show(tether, "-n", "2")["rows"]] == ["HEAD", "g-2", "boom"]
    newest_done = exp_show(tether, "--state", "done", "--limit", "1")
    assert [r["name"] for r in newest_done["rows"]] == ["HEAD", "g-2"]

    by_param = exp_show(tether, "--sort-by", "train.lr", "--state", "done")
    assert [r["name"] for r in by_param["rows"]] == ["HEAD", "g-2", "g-1"]
    _one_error_line(tether("exp", "show", "--state", "happy"), 2, "--state 'happy'")
    _one_error_line(tether("exp", "show", "--sort-by", "nope"), 2, "no such param or metric")
