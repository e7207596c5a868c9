"""Experiments never lose the user's work or an experiment's record or log: a
refused command changes nothing, names and ``-S`` values are checked before
anything runs, and leftovers are told from what is still in use."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import git, snapshot, write
from tests.func.conftest import PY
from tests.func.conftest import exp_run as _exp_run
from tests.func.conftest import exp_show as _show


def _user_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith((".git/", ".tether/"))}


def test_apply_refused_for_data_writes_nothing(proj: Path, tether) -> None:
    _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    write(proj / "model.bin", "edit\n")  # a stage output changed, in no cache
    before = _user_files(proj)
    r = tether("exp", "apply", "big")
    assert r.code == 1
    assert "model.bin has changes that are not in the cache" in r.err
    assert "nothing was changed" in r.err
    assert _user_files(proj) == before  # params.yaml, tether.lock, metrics.json untouched
    assert tether("exp", "apply", "big", "--force").code == 0
    assert (proj / "model.bin").read_text().startswith("0.9:head:")


def test_apply_accepts_a_change_identical_to_the_experiment(proj: Path, tether) -> None:
    [exp] = _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    write(proj / "params.yaml", git(proj, "show", f"{exp['commit']}:params.yaml"))
    r = tether("exp", "apply", "big")
    assert r.code == 0, r.err
    changed = set(git(proj, "diff", "--name-only", "HEAD", exp["commit"]).split())
    assert f"{len(changed) - 1} file(s) changed" in r.out + r.err  # params.yaml was already so
    assert (proj / "model.bin").read_text().startswith("0.9:head:")


def test_remove_all_with_names_is_a_usage_error(proj: Path, tether) -> None:
    _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    r = tether("exp", "remove", "--all", "nope")
    assert r.code == 2 and r.err.startswith("error: ") and "--all" in r.err
    assert [row["name"] for row in _show(tether)["rows"]] == ["HEAD", "big"]


PARAMS = """\
# training settings
prepare:
  n: 2  # copies of raw.txt
train:
  lr: 0.1    # learning rate
  mode: head
  fail: false
"""


def test_set_param_keeps_comments_and_layout(proj: Path, tether) -> None:
    write(proj / "params.yaml", PARAMS)
    git(proj, "commit", "-qam", "commented params")
    [exp] = _exp_run(tether, "-S", "train.lr=0.5", "-S", "train.mode='yes'", "--name", "c")
    text = git(proj, "show", f"{exp['commit']}:params.yaml")
    # a string PyYAML would read as a boolean is written quoted
    assert text == PARAMS.replace("0.1", "0.5").replace("mode: head", 'mode: "yes"')
    assert exp["changed"]["params.yaml:train.mode"] == "yes"
    assert tether("exp", "apply", "c").code == 0
    assert (proj / "params.yaml").read_text() == text


def test_set_param_values_parse_as_users_expect(proj: Path, tether) -> None:
    [exp] = _exp_run(tether, "-S", "train.lr=1e-1", "-S", 'train.mode="a,b"')
    assert exp["changed"] == {"params.yaml:train.lr": 0.1, "params.yaml:train.mode": "a,b"}
    assert exp["metrics"]["metrics.json"]["lr_type"] == "float"
    assert "mode: 'a,b'" in git(proj, "show", f"{exp['commit']}:params.yaml")
    [quoted] = _exp_run(tether, "-S", "train.mode='x,y',z")[:1]
    assert quoted["changed"]["params.yaml:train.mode"] == "x,y"


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["-S", "train.lr="], "empty value"),
        (["-S", "train.lr=1,"], "empty value"),
        (["-S", "train.lr=1", "-S", "params.yaml:train.lr=2"], "set twice"),
    ],
)
def test_empty_or_repeated_set_param_is_refused(proj: Path, tether, args, expect) -> None:
    r = tether("exp", "run", *args)
    assert r.code == 2 and r.err.startswith("error: ") and expect in r.err
    assert not git(proj, "for-each-ref", "refs/tether/")


def test_show_sorts_by_a_string_param(proj: Path, tether) -> None:
    for mode in ("zeta", "alpha", "mid"):
        _exp_run(tether, "-S", f"train.mode={mode}", "--name", mode)
    rows = _show(tether, "--sort-by", "train.mode")["rows"]
    assert [r["name"] for r in rows] == ["HEAD", "alpha", "mid", "zeta"]


@pytest.mark.parametrize("queue", [False, True])
@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("main", "a branch or tag has that name"),
        ("v1", "a branch or tag has that name"),
        ("HEAD", "git names a commit so"),
        ("FETCH_HEAD", "git names a commit so"),
        ("SHORT", "could be a commit id"),
        ("deadbeef", "could be a commit id"),
        ("x.lock", "not a valid experiment name"),
        ("a..b", "not a valid experiment name"),
        ("a.", "not a valid experiment name"),
    ],
)
def test_names_git_would_misread_are_refused(proj: Path, tether, name, expect, queue) -> None:
    git(proj, "branch", "-M", "main")
    git(proj, "tag", "v1")
    if name == "SHORT":
        name = git(proj, "rev-parse", "--short", "HEAD").strip()
    r = tether("exp", "run", "-S", "train.lr=0.2", "-n", name, *(["--queue"] if queue else []))
    assert r.code == 2, r.out
    assert r.err.startswith("error: ") and expect in r.err and len(r.err.splitlines()) == 1
    assert not git(proj, "for-each-ref", "refs/tether/")
    assert not (proj / ".tether/exps/logs").exists()  # nothing ran


def test_pull_refuses_an_invalid_name_before_reaching_the_remote(proj: Path, tether) -> None:
    r = tether("exp", "pull", "nowhere", "x.lock")
    assert r.code == 2 and "not a valid experiment name" in r.err


def test_a_hex_revision_means_the_commit_before_an_experiment(proj: Path, tether) -> None:
    [exp] = _exp_run(tether, "-S", "train.lr=0.9", "--name", "big")
    short = git(proj, "rev-parse", "--short", "HEAD").strip()
    head = git(proj, "rev-parse", "HEAD").strip()
    git(proj, "update-ref", f"refs/tether/exps/{head}/{short}", exp["commit"])  # made elsewhere
    r = tether("exp", "diff", short, "HEAD")
    assert r.code == 0 and "no params or metrics differ" in r.out + r.err


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["exp", "show", "-n", "-1"], "`tether exp show --help`"),
        (["exp", "diff", "HEAD", "--precision", "99"], "`tether exp diff --help`"),
        (["exp", "apply"], "Missing argument 'NAME' — see `tether exp apply --help`"),
        (["queue", "retry", "--bogus"], "`tether queue retry --help`"),
    ],
)
def test_usage_errors_are_one_error_line(proj: Path, tether, args, expect) -> None:
    r = tether(*args)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: ") and len(r.err.splitlines()) == 1 and expect in r.err


def test_queue_retry_all_and_show_state_help(proj: Path, tether) -> None:
    assert "queued, running" in " ".join(tether("exp", "show", "--help").out.split())
    r = tether("queue", "retry")
    assert r.code == 2 and "--all" in r.err
    r = tether("queue", "retry", "--all")
    assert r.code == 0 and "no failed item" in r.out + r.err


HOLDING_TRAIN = """
import os, pathlib, time
pathlib.Path({pid!r}).write_text(str(os.getpid()))
while os.path.exists({hold!r}):
    time.sleep(0.02)
pathlib.Path("model.bin").write_text("late")
"""


def _wait_for(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_killed_exp_run_takes_its_child_and_stage_with_it(proj: Path, tether, tmp_path) -> None:
    hold, pid = write(tmp_path / "hold", ""), tmp_path / "pid"
    write(proj / "train.py", HOLDING_TRAIN.format(pid=str(pid), hold=str(hold)))
    run = subprocess.Popen(
        [PY, "-m", "tether", "exp", "run", "-n", "k9", "-S", "train.lr=0.3"],
        cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(pid.exists, "the stage to start")
        stage = int(pid.read_text())
        run.kill()
        run.wait()
        _wait_for(lambda: not _alive(stage), "the stage to die with exp run", 10)
    finally:
        hold.unlink()  # a stage left running ends
    r = tether("exp", "clean")
    assert r.code == 0 and "work tree .tether/exps/work/k9" in r.out
    assert not (proj / ".tether/exps/work/k9").exists()


def test_clean_leaves_a_work_tree_a_process_still_works_in(proj: Path, tether) -> None:
    tree = proj / ".tether/exps/work/left"
    tree.mkdir(parents=True)
    (proj / ".tether/exps/work/left.lock").write_text("")  # its run is gone: unlocked
    sleeper = subprocess.Popen(["sleep", "30"], cwd=tree)
    try:
        r = tether("exp", "clean")
        assert r.code == 0 and "left" not in r.out and tree.is_dir()
    finally:
        sleeper.kill()
        sleeper.wait()
    r = tether("exp", "clean")
    assert "work tree .tether/exps/work/left" in r.out and not tree.exists()


def test_ctrl_c_of_exp_run_stops_its_stage_and_cleans_up(proj: Path, tether, tmp_path) -> None:
    hold, pid = write(tmp_path / "hold", ""), tmp_path / "pid"
    write(proj / "train.py", HOLDING_TRAIN.format(pid=str(pid), hold=str(hold)))
    run = subprocess.Popen(
        [PY, "-m", "tether", "exp", "run", "-n", "stopped", "-S", "train.lr=0.3"],
        cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(pid.exists, "the stage to start")
        stage = int(pid.read_text())
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=20)
    finally:
        hold.unlink()
    assert run.returncode == 130 and "interrupted" in err
    assert not _alive(stage)
    assert not (proj / ".tether/exps/work/stopped").exists()
