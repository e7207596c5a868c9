"""The persistent experiment queue: `exp run --queue`, `queue start -j N` and
the rest, on a real git repository with a pipeline of small Python scripts;
workers killed with SIGKILL or stopped with Ctrl-C, two `queue start` at once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, run_cli, write

PY = sys.executable

PREPARE = """
import pathlib, yaml
p = yaml.safe_load(open("params.yaml"))
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/prep.txt").write_text(open("raw.txt").read() * p["prepare"]["n"])
"""
# hold: while that file exists the stage waits (a test's way to catch it running);
# trace: a file outside the repository where every run appends its lr
TRAIN = """
import json, os, pathlib, sys, time, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
print(f"train starts, pid {os.getpid()}", flush=True)
if p["trace"]:
    with open(p["trace"], "a") as f:
        f.write(f"{p['lr']}\\n")
while p["hold"] and os.path.exists(p["hold"]):
    time.sleep(0.02)
if p["fail"]:
    print("training blew up", file=sys.stderr)
    sys.exit(3)
text = open("data/prep.txt").read()
pathlib.Path("model.bin").write_text(f"{p['lr']}:{p['mode']}:{text}")
json.dump({"acc": round(len(text) * float(p["lr"]), 4)}, open("metrics.json", "w"))
"""


@pytest.fixture
def proj(repo: Path, tether) -> Path:
    write(repo / "prepare.py", PREPARE)
    write(repo / "train.py", TRAIN)
    write(repo / "raw.txt", "abcd\n")
    write(
        repo / "params.yaml",
        "prepare: {n: 2}\ntrain: {lr: 0.1, mode: head, fail: false, hold: '', trace: ''}\n",
    )
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
    params: [train]
    outs: [model.bin]
    metrics:
      - metrics.json: {{cache: false}}
""",
    )
    assert tether("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    return repo


def _queue(tether, *args: str) -> list[str]:
    r = tether("exp", "run", "--queue", *args)
    assert r.code == 0, r.err
    return [line.split()[1] for line in r.out.splitlines() if line.startswith("queued ")]


def _status(tether) -> dict[str, dict[str, Any]]:
    r = tether("queue", "status", "--json")
    assert r.code == 0, r.err
    return {i["name"]: i for i in json.loads(r.out)["tether.queue-status/v1"]}


def _show(tether) -> dict[str, dict[str, Any]]:
    r = tether("exp", "show", "--json")
    assert r.code == 0, r.err
    return {row["name"]: row for row in json.loads(r.out)["tether.exp-show/v1"]["rows"]}


def _start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-m", "tether", "queue", "start", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _train_pid(root: Path, name: str) -> int:
    """The pid of an item's running stage, once its log says it started."""
    log = root / ".tether/exps/logs" / f"{name}.log"
    _wait_for(lambda: log.exists() and "train starts, pid" in log.read_text(), f"{name} to run")
    return int(log.read_text().split("train starts, pid ")[1].split()[0])


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has ended


def _no_work_trees(root: Path) -> bool:
    work = root / ".tether/exps/work"
    listed = git(root, "worktree", "list", "--porcelain").count("worktree ")
    return listed == 1 and (not work.exists() or not any(work.iterdir()))


def test_queued_grid_runs_with_two_workers(proj: Path, tether) -> None:
    write(proj / "raw.txt", "wxyz!\n")  # uncommitted: part of the starting point
    names = _queue(tether, "-S", "train.lr=0.001,0.002", "-S", "train.mode=head,last")
    assert len(names) == 4
    git(proj, "checkout", "raw.txt")  # changed after queueing: not seen by the items
    assert not (proj / ".tether/exps/logs").exists()  # nothing ran
    assert not git(proj, "for-each-ref", "refs/tether/exps/")
    refs = git(proj, "for-each-ref", "--format=%(refname)", "refs/tether/queue/").split()
    assert sorted(refs) == sorted(f"refs/tether/queue/{n}" for n in names)
    # the queue is on disk: another process reads it
    r = run_cli(proj, "queue", "status", "--json")
    items = json.loads(r.stdout)["tether.queue-status/v1"]
    assert [(i["name"], i["state"]) for i in items] == [(n, "queued") for n in names]
    assert items[1]["changed"] == {"params.yaml:train.lr": 0.001, "params.yaml:train.mode": "last"}
    rows = _show(tether)
    assert [rows[n]["state"] for n in names] == ["queued"] * 4
    assert rows[names[2]]["params"]["params.yaml:train.lr"] == 0.002

    r = tether("queue", "start", "-j", "2")

    assert r.code == 0, r.err
    assert sorted(line.split(":")[0] for line in r.out.splitlines()) == sorted(names)
    assert all(": done  acc=" in line for line in r.out.splitlines())
    rows = _show(tether)
    assert [rows[n]["state"] for n in names] == ["done"] * 4
    # 12 chars of the uncommitted raw.txt, twice, times lr
    assert rows[names[0]]["metrics"]["metrics.json:acc"] == 0.012
    assert {i["state"] for i in _status(tether).values()} == {"done"}
    assert not git(proj, "for-each-ref", "refs/tether/queue/")
    assert _no_work_trees(proj)
    assert tether("queue", "start").code == 0  # nothing queued: ends at once


def test_failed_item_logs_retry_and_remove(proj: Path, tether) -> None:
    [boom] = _queue(tether, "-S", "train.fail=true", "--name", "boom")
    [keep, drop] = _queue(tether, "-S", "train.lr=0.3,0.4")
    r = tether("queue", "logs", keep)
    assert r.code == 0 and "no log yet" in r.out
    assert tether("queue", "remove", drop).code == 0
    assert tether("queue", "remove", drop).code == 2
    bad = tether("queue", "retry", keep)
    assert bad.code == 2 and "not failed" in bad.err

    r = tether("queue", "start")

    assert r.code == 1
    assert f"{boom}: failed (exit code 3; log: .tether/exps/logs/boom.log)" in r.out
    assert set(_status(tether)) == {boom, keep}
    assert _status(tether)[boom]["state"] == "failed"
    assert "training blew up" in tether("queue", "logs", boom).out
    assert _show(tether)[boom]["state"] == "failed"  # recorded like any experiment
    # a retry runs the same starting point and params again (so fails again here)
    assert tether("queue", "retry", boom).code == 0
    assert _status(tether)[boom]["state"] == "queued"
    assert _show(tether)[boom]["state"] == "queued"  # the failed record is replaced
    assert tether("queue", "start").code == 1
    assert tether("queue", "remove", "--all").code == 0
    assert _status(tether) == {}
    assert not git(proj, "for-each-ref", "refs/tether/queue/")
    assert set(_show(tether)) == {"HEAD", boom, keep}  # recorded experiments stay


def test_a_worker_killed_by_sigkill_fails_only_its_item(proj: Path, tether, tmp_path) -> None:
    hold = write(tmp_path / "hold", "")
    [stuck] = _queue(tether, "-S", f"train.hold={hold}", "-S", "train.lr=0.7", "--name", "stuck")
    others = _queue(tether, "-S", "train.lr=0.01,0.02,0.03")
    worker = _start(proj, "-j", "2")
    stage = _train_pid(proj, stuck)
    assert _status(tether)[stuck]["state"] == "running"
    assert "train starts" in tether("queue", "logs", stuck).out  # while it runs
    refused = tether("queue", "remove", stuck)
    assert refused.code == 2 and "stuck is running" in refused.err
    done = ("done",) * len(others)
    _wait_for(lambda: tuple(_status(tether)[n]["state"] for n in others) == done, "the others")

    worker.kill()
    worker.communicate()

    assert _show(tether)[stuck]["state"] == "failed"  # exp show notices the dead worker
    on_disk = json.loads((proj / ".tether/exps/queue/stuck.json").read_text())
    assert on_disk["state"] == "failed" and "died" in on_disk["reason"]
    assert "died" in (proj / ".tether/exps/logs/stuck.log").read_text()
    _wait_for(lambda: not _alive(stage), "the stage to be killed", 5)
    assert _no_work_trees(proj)
    items = _status(tether)
    assert items[stuck]["state"] == "failed"
    assert [items[n]["state"] for n in others] == ["done"] * 3  # unaffected
    fsck = tether("fsck")
    assert fsck.code == 0, fsck.out + fsck.err
    hold.unlink()
    assert tether("queue", "retry", stuck).code == 0
    r = tether("queue", "start", "-j", "2")
    assert r.code == 0, r.out + r.err
    assert {i["state"] for i in _status(tether).values()} == {"done"}
    assert _show(tether)[stuck]["metrics"]["metrics.json:acc"] == 7.0


def test_two_queue_starts_never_run_one_item_twice(proj: Path, tether, tmp_path) -> None:
    trace = tmp_path / "trace"
    names = _queue(tether, "-S", "train.lr=1,2,3,4,5,6", "-S", f"train.trace={trace}")
    first, second = _start(proj, "-j", "2"), _start(proj, "-j", "2")
    outs = [p.communicate(timeout=60) for p in (first, second)]
    assert first.returncode == second.returncode == 0, outs
    ended = [line.split(":")[0] for out, _ in outs for line in out.splitlines()]
    assert sorted(ended) == sorted(names)
    assert sorted(trace.read_text().split()) == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_running_items_cleanly(proj: Path, tether, tmp_path, sig) -> None:
    hold = write(tmp_path / "hold", "")
    names = _queue(tether, "-S", "train.lr=0.5,0.6,0.7", "-S", f"train.hold={hold}")
    worker = _start(proj, "-j", "2")
    stages = [_train_pid(proj, n) for n in names[:2]]

    worker.send_signal(sig)
    out, err = worker.communicate(timeout=30)

    assert worker.returncode == 130, out + err
    assert err.count("error: interrupted") == 1
    items = _status(tether)
    assert [items[n]["state"] for n in names] == ["failed", "failed", "queued"]
    assert all("interrupted" in items[n]["reason"] for n in names[:2])
    assert all(not _alive(pid) for pid in stages)
    assert _no_work_trees(proj)
    assert tether("fsck").code == 0


def test_queue_stop_lets_the_running_item_finish(proj: Path, tether, tmp_path) -> None:
    hold = write(tmp_path / "hold", "")
    names = _queue(tether, "-S", "train.lr=0.5,0.6", "-S", f"train.hold={hold}")
    worker = _start(proj)
    _train_pid(proj, names[0])
    r = tether("queue", "stop")
    assert r.code == 0 and "1 running" in r.out
    hold.unlink()
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == [names[0]]
    assert [i["state"] for i in _status(tether).values()] == ["done", "queued"]


@pytest.mark.slow
def test_a_hundred_queued_experiments_all_finish(proj: Path, tether) -> None:
    names = _queue(tether, "-S", "train.lr=" + ",".join(str(i) for i in range(1, 101)))
    t = time.perf_counter()
    r = run_cli(proj, "queue", "start", "-j", "2", timeout=110)
    took = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    assert len([line for line in r.stdout.splitlines() if ": done" in line]) == 100
    rows = _show(tether)
    assert all(rows[n]["state"] == "done" for n in names)
    assert _no_work_trees(proj)
    print(f"100 experiments at -j 2: {took:.1f} s")
    assert took < 60


def test_gc_keeps_the_uncommitted_data_a_queued_item_will_run_on(proj: Path, tether) -> None:
    write(proj / "extra.bin", "first\n")
    assert tether("add", "extra.bin").code == 0
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "extra")
    write(proj / "extra.bin", "second, not committed\n")
    assert tether("add", "extra.bin").code == 0  # the pointer changes; the item takes it
    [name] = _queue(tether, "-S", "train.lr=0.2")
    git(proj, "checkout", "-q", "HEAD", "--", "extra.bin.tether")  # back to the committed data
    assert tether("checkout", "--force").code == 0
    assert (proj / "extra.bin").read_text() == "first\n"
    r = tether("gc", "-f")
    assert r.code == 0, r.err
    r = tether("queue", "start")
    assert r.code == 0, r.out + r.err
    assert _show(tether)[name]["state"] == "done"
    assert tether("exp", "apply", name).code == 0
    assert (proj / "extra.bin").read_text() == "second, not committed\n"


def test_retry_keeps_the_failed_record_until_the_new_run_records(proj: Path, tether) -> None:
    [boom] = _queue(tether, "-S", "train.fail=true", "--name", "boom")
    assert tether("queue", "start").code == 1
    first = git(proj, "for-each-ref", "--format=%(objectname)", "refs/tether/exps/").strip()
    assert tether("queue", "retry", boom).code == 0
    assert git(proj, "for-each-ref", "--format=%(objectname)", "refs/tether/exps/").strip() == first
    assert tether("queue", "remove", boom).code == 0
    assert _show(tether)[boom]["state"] == "failed"  # the record stays
    assert "boom.log" not in tether("exp", "clean").out
    assert "training blew up" in tether("exp", "logs", boom).out
    # a retried item that runs replaces the record
    _queue(tether, "-S", "train.fail=true", "--name", "again")
    assert tether("queue", "start").code == 1
    assert tether("queue", "retry", "--all").code == 0
    assert tether("queue", "start").code == 1
    refs = git(proj, "for-each-ref", "--format=%(refname)", "refs/tether/exps/").split()
    assert sorted(r.rsplit("/", 1)[1] for r in refs) == ["again", "boom"]


def test_a_killed_queue_start_leaves_its_items_logs_and_rows(proj: Path, tether, tmp_path) -> None:
    hold = write(tmp_path / "hold", "")
    [stuck] = _queue(tether, "-S", f"train.hold={hold}", "--name", "int-1")
    [waiting] = _queue(tether, "-S", "train.lr=0.2", "--name", "int-2")
    worker = _start(proj)
    _train_pid(proj, stuck)
    worker.kill()
    worker.communicate()
    cleaned = tether("exp", "clean")
    assert cleaned.code == 0 and "int-1.log" not in cleaned.out
    assert "died" in tether("queue", "logs", stuck).out
    logs = tether("exp", "logs", stuck)
    assert logs.code == 0 and "train starts" in logs.out
    rows = _show(tether)
    assert rows[stuck]["state"] == "failed" and set(rows[stuck]["metrics"].values()) == {None}
    assert rows[waiting]["state"] == "queued"
    failed = json.loads(tether("exp", "show", "--json", "--state", "failed").out)
    assert [r["name"] for r in failed["tether.exp-show/v1"]["rows"]] == ["HEAD", stuck]
