"""``repro -j N``: independent stages side by side, within their resources and
mutexes, with real pipelines of small Python scripts that record when they ran."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli, write

PY = sys.executable

# A stage: records its start, sleeps, writes OUT, records its end (marks/NAME.json).
# MARK_SLOW=NAME makes that stage sleep 10x longer; MARK_FAIL=NAME makes it fail
# (marking NAME-failed). PEER (- for none): first waits (30 s at most) until PEER
# started, so two stages that run side by side surely overlap however busy the
# machine is.
MARK = """
import json, os, pathlib, sys, time
name, out, secs, peer, *deps = sys.argv[1:]
marks = pathlib.Path(os.environ["MARKS"])
start = time.time()
(marks / f"{name}.start").write_text(json.dumps({"start": start, "pid": os.getpid(),
    "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}))
print(f"hello from {name}", flush=True)
if peer != "-":
    deadline = time.time() + 30
    while not (marks / f"{peer}.start").exists() and time.time() < deadline:
        time.sleep(0.01)
secs = float(os.environ.get("MARK_SLEEP", secs))
time.sleep(secs * (10 if os.environ.get("MARK_SLOW") == name else 1))
if os.environ.get("MARK_FAIL") == name:
    print(f"{name} is failing", flush=True)
    (marks / f"{name}-failed.start").write_text("{}")
    sys.exit(3)
pathlib.Path(out).write_text(name + "".join(pathlib.Path(d).read_text() for d in deps))
(marks / f"{name}.json").write_text(json.dumps({"start": start, "end": time.time()}))
"""


def pipeline(root: Path, stages: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """``stages``: name -> the stage's YAML body after ``cmd`` (deps, resources…);
    each runs ``mark.py NAME NAME.out 0.3``."""
    write(root / "mark.py", MARK)
    marks = root.parent / "marks"
    marks.mkdir(exist_ok=True)
    monkeypatch.setenv("MARKS", str(marks))
    body = "".join(
        f"  {name}:\n    cmd: {PY} mark.py {name} {name}.out 0.3{extra}\n"
        for name, extra in stages.items()
    )
    write(root / "tether.yaml", f"schema: 1\nstages:\n{body}")
    return marks


def out(name: str, deps: str = "", more: str = "") -> str:
    """The YAML after ``cmd`` for a stage writing NAME.out from ``deps`` outputs."""
    dep_list = [f"{d}.out" for d in deps.split()]
    args = "".join(f" {a}" for a in [more or "-", *dep_list])
    return (
        f"{args}\n    deps: [mark.py{''.join(', ' + d for d in dep_list)}]\n    outs: [{name}.out]"
    )


def interval(marks: Path, name: str) -> tuple[float, float]:
    data = json.loads((marks / f"{name}.json").read_text())
    return data["start"], data["end"]


def started(marks: Path, name: str) -> dict[str, object]:
    """What stage ``name`` recorded when it started, once it did (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return dict(json.loads((marks / f"{name}.start").read_text()))
        except (FileNotFoundError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_independent_stages_overlap_and_dependents_wait(repo, tether, monkeypatch):
    marks = pipeline(
        repo,
        {"a": out("a", more="b"), "b": out("b", more="a"), "c": out("c", deps="a b")},
        monkeypatch,
    )
    r = tether("repro", "-j", "2")
    assert r.code == 0, r.err
    a, b, c = (interval(marks, n) for n in "abc")
    assert overlap(a, b)
    assert c[0] >= max(a[1], b[1])  # a dependent starts once both finished
    assert (repo / "c.out").read_text() == "cab"
    assert "[a] hello from a" in r.out and "[b] hello from b" in r.out
    assert (repo / ".tether/logs/a.log").read_text() == "hello from a\n"
    assert tether("repro", "-j", "2").out.strip().endswith("nothing to run")
    for name in "abc":  # restored from the lock, stage by stage, none run again
        (repo / f"{name}.out").unlink()
        (marks / f"{name}.json").unlink()
    r = tether("repro", "-j", "2")
    assert r.code == 0, r.err
    assert all(f"restored {n} from the run-cache" in r.out for n in "abc")
    assert not any((marks / f"{n}.json").exists() for n in "abc")
    assert (repo / "c.out").read_text() == "cab"


def test_foreach_items_run_side_by_side(repo, tether, monkeypatch):
    marks = pipeline(repo, {}, monkeypatch)
    write(
        repo / "tether.yaml",
        f"""schema: 1
stages:
  item:
    foreach: {{a: b, b: a}}
    do:
      cmd: {PY} mark.py ${{key}} ${{key}}.out 0.3 ${{item}}
      outs: ["${{key}}.out"]
""",
    )
    r = tether("repro", "-j", "2")
    assert r.code == 0, r.err
    assert overlap(interval(marks, "a"), interval(marks, "b"))
    assert "[item@a] hello from a" in r.out


def test_j1_runs_one_at_a_time_in_order(repo, tether, monkeypatch):
    marks = pipeline(repo, {"a": out("a"), "b": out("b"), "c": out("c", deps="a")}, monkeypatch)
    r = tether("repro")
    assert r.code == 0, r.err
    a, b, c = (interval(marks, n) for n in "abc")
    assert a[1] <= b[0] <= b[1] <= c[0]  # `tether dag` order, one after the other
    assert "[a]" not in r.out and not (repo / ".tether/logs").exists()


def test_a_mutex_keeps_stages_apart(repo, tether, monkeypatch):
    names = ["m1", "m2", "m3"]
    marks = pipeline(
        repo,
        {n: out(n) + "\n    mutex: [gpu0]" for n in names} | {"free": out("free")},
        monkeypatch,
    )
    r = tether("repro", "-j", "4")
    assert r.code == 0, r.err
    spans = [interval(marks, n) for n in names]
    assert not any(overlap(x, y) for i, x in enumerate(spans) for y in spans[i + 1 :])


def test_cpus_limit_how_many_run_at_once(repo, tether, monkeypatch):
    big = "\n    resources: {cpus: 2, memory: 1GB}"
    marks = pipeline(repo, {"x": out("x") + big, "y": out("y") + big}, monkeypatch)
    r = tether("repro", "-j", "4", "--cpus", "2")
    assert r.code == 0, r.err
    assert not overlap(interval(marks, "x"), interval(marks, "y"))


def test_each_stage_gets_its_own_gpus(repo, tether, monkeypatch):
    gpu = "\n    resources: {gpus: 1}"
    marks = pipeline(
        repo, {"g": out("g", more="h") + gpu, "h": out("h", more="g") + gpu}, monkeypatch
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    r = tether("repro", "-j", "4")
    assert r.code == 0, r.err
    seen = {started(marks, n)["gpus"] for n in "gh"}
    assert seen == {"3", "5"}
    assert overlap(interval(marks, "g"), interval(marks, "h"))


def test_more_gpus_than_there_are_is_one_error_before_anything_runs(repo, tether, monkeypatch):
    marks = pipeline(
        repo, {"a": out("a"), "g": out("g") + "\n    resources: {gpus: 2}"}, monkeypatch
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    r = tether("repro", "-j", "2")
    assert r.code != 0
    assert "stage g needs 2 GPU(s), this machine has 1" in r.err
    assert list(marks.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("resources: {cpus: 2, disk: 1}", "tether.yaml:7: stages.a.resources: unknown key(s) disk"),
        ("resources: {gpus: two}", "stages.a.resources.gpus: must be a whole number"),
        ("resources: {memory: lots}", "stages.a.resources.memory: must be a size like 8GB"),
        ("mutex: [1]", "stages.a.mutex: must be a list of names"),
    ],
)
def test_bad_resources_are_refused_with_the_line(repo, tether, monkeypatch, body, message):
    pipeline(repo, {"a": out("a") + "\n    " + body}, monkeypatch)
    r = tether("repro")
    assert r.code != 0 and message in r.err, r.err


def failing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bad fails fast; slow runs beside it; after_bad needs bad; other waits for a slot."""
    marks = pipeline(
        repo,
        {
            "bad": out("bad"),
            "after_bad": out("after_bad", deps="bad"),
            "slow": out("slow", more="bad-failed"),  # still running when bad failed
            "zother": out("zother"),
        },
        monkeypatch,
    )
    monkeypatch.setenv("MARK_FAIL", "bad")
    monkeypatch.setenv("MARK_SLOW", "slow")
    return marks


def test_a_failure_starts_nothing_new_and_lets_running_stages_finish(repo, tether, monkeypatch):
    marks = failing(repo, monkeypatch)
    r = tether("repro", "-j", "2")
    assert r.code == 3, r.err
    assert "stage bad failed (exit code 3)" in r.err
    assert "full output of failed stage bad: .tether/logs/bad.log" in r.err
    assert "bad is failing" in (repo / ".tether/logs/bad.log").read_text()
    assert (marks / "slow.json").exists()  # it was running: it finished, and is recorded
    assert not (marks / "zother.start").exists() and not (marks / "after_bad.start").exists()
    assert _lock_stages(repo) == ["slow"]
    said = r.out + r.err
    assert "ran slow in" in said  # reported though the run failed
    assert "did not run after_bad: bad failed" in said


def test_keep_going_runs_the_branches_a_failure_does_not_reach(repo, tether, monkeypatch):
    marks = failing(repo, monkeypatch)
    r = tether("repro", "-j", "2", "-k", "--json")
    assert r.code == 1, r.err
    assert "1 stage(s) failed, first: bad" in r.err
    assert "warning: stage bad failed (exit code 3)" in r.err
    assert "full output of failed stage bad: .tether/logs/bad.log" in r.err
    assert (marks / "zother.json").exists() and (marks / "slow.json").exists()
    assert not (marks / "after_bad.start").exists()
    assert sorted(_lock_stages(repo)) == ["slow", "zother"]
    actions = {o["name"]: o["action"] for o in json.loads(r.out)["tether.repro/v1"]}
    assert actions == {"bad": "failed", "after_bad": "blocked", "slow": "ran", "zother": "ran"}


def _lock_stages(repo: Path) -> list[str]:
    import yaml

    return list(yaml.safe_load((repo / "tether.lock").read_text())["stages"])


def test_the_lock_is_the_same_whatever_order_stages_finish(repo, tether, monkeypatch):
    pipeline(
        repo,
        {"a": out("a"), "b": out("b"), "c": out("c"), "d": out("d", deps="a b c")},
        monkeypatch,
    )
    monkeypatch.setenv("MARK_SLEEP", "0.05")
    assert tether("repro").code == 0
    sequential = (repo / "tether.lock").read_text()
    for slow in "abc":
        monkeypatch.setenv("MARK_SLOW", slow)
        monkeypatch.setenv("MARK_SLEEP", "0.05" if slow != "a" else "0.1")
        assert tether("repro", "-f", "-j", "3").code == 0
        assert (repo / "tether.lock").read_text() == sequential


@pytest.mark.parametrize(
    ("group", "sig"),
    [(False, signal.SIGINT), (True, signal.SIGINT), (False, signal.SIGTERM)],
    ids=["parent-signalled", "terminal-ctrl-c", "sigterm"],
)
def test_ctrl_c_stops_the_running_stages(repo, monkeypatch, group, sig):
    marks = pipeline(
        repo,
        {"a": out("a"), "b": out("b"), "fast": out("fast"), "c": out("c", deps="fast")},
        monkeypatch,
    )
    monkeypatch.setenv("MARK_SLEEP", "0.05")
    monkeypatch.setenv("MARK_SLOW", "none")
    proc = subprocess.Popen(
        [PY, "-m", "tether", "repro", "-j", "3"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MARK_SLEEP": "30"},
        start_new_session=group,
    )
    try:
        pids = [started(marks, n)["pid"] for n in "ab"]
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.05)
    assert not any(Path(f"/proc/{p}").exists() for p in pids)  # no stray stage left
    if (repo / "tether.lock").exists():
        assert set(_lock_stages(repo)) <= {"fast", "c"}  # parses; a and b not recorded
    r = run_cli(repo, "repro", "-j", "3")
    assert r.returncode == 0, r.stderr
    assert sorted(_lock_stages(repo)) == ["a", "b", "c", "fast"]


def test_a_second_repro_is_refused_while_one_runs(repo, monkeypatch):
    marks = pipeline(repo, {"a": out("a", more="release"), "b": out("b")}, monkeypatch)
    monkeypatch.setenv("MARK_SLEEP", "0.05")
    proc = subprocess.Popen(
        [PY, "-m", "tether", "repro", "-j", "2"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started(marks, "a")
        r = run_cli(repo, "repro", "-j", "2")  # stage a holds on until `release` starts
        assert r.returncode != 0
        assert f"the repository is locked by pid {proc.pid}" in r.stderr
        assert "`repro`" in r.stderr
    finally:
        (marks / "release.start").write_text("{}")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(_lock_stages(repo)) == ["a", "b"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_another_executor_runs_the_stages(repo, monkeypatch, jobs):
    """``repro(runner=...)``: a plain function in place of the local executor;
    repro still stores and records what it left in the workspace. The stages'
    resources are the executor's to count: GPUs this machine lacks are no error."""
    from tether.pipeline import run
    from tether.repo import Repo

    gpus = "\n    resources: {gpus: 4, cpus: 64}"
    pipeline(repo, {"a": out("a") + gpus, "b": out("b", deps="a")}, monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ran: list[str] = []

    def runner(root: Path, stage, to_stderr: bool) -> None:
        ran.append(stage.name)
        (root / f"{stage.name}.out").write_text(f"made by runner: {stage.name}")

    outcomes = run.repro(Repo.find(), runner=runner, jobs=jobs)
    assert ran == ["a", "b"]
    assert [(o.name, o.action) for o in outcomes] == [("a", run.Action.RAN), ("b", run.Action.RAN)]
    assert _lock_stages(repo) == ["a", "b"]
