"""Experiments, tether vs DVC (`python benchmarks/experiments.py [N] [--dvc PATH]`).

`exp show` (the default): one repository with both tools initialised and the
same one-stage pipeline (params.yaml -> metrics.json) for each, its baseline
committed after a real `repro` of each, then N experiments on that baseline
written as each tool writes them, in one `git fast-import`:

* tether: a commit on ``refs/tether/exps/<baseline>/<name>`` whose message
  holds the JSON note;
* DVC: a commit on ``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``
  ("dvc: commit experiment ...") whose tree holds the experiment's
  params.yaml, metrics.json and dvc.lock.

Experiment i sets ``train.lr`` to 0.001 * (i + 1) with the metrics that
follow from it, the same in both, and both commits of an experiment have the
same tree. It times `tether exp show --json` and `dvc exp show --json` in a
fresh process each, start-up included: DVC's first run (it then keeps every
experiment it read in .dvc/tmp/exps/cache) and the best of 3, and checks that
each lists N experiments with their metrics.

`--start`: the time from `exp run` to its first stage's command starting, on a
repository whose 20,000-file dataset (benchmarks/mkdata.py) was added with
`add` and committed, with each tool's default links. The stage's command
writes ``time.time()`` to a file outside the repository; the benchmark takes
the difference from the moment it started `exp run` (each run after a
:func:`common.grace` wait, so no run pays for the files the last one deleted).
DVC is timed both with `--temp` (its own copy of the workspace, like tether's
work tree) and in the workspace (its default, no isolation). Best of 3 runs,
each with a new ``train.lr``. The interpreter may write bytecode (tether's is
then compiled once, as an installed tether's and DVC's are).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_DVC, TETHER, grace

TRAIN = """import json, re
lr = float(re.search(r"lr: ([0-9.e-]+)", open("params.yaml").read()).group(1))
doc = {"acc": round(0.5 + lr / 10, 6), "loss": round(0.9 - lr / 10, 6)}
json.dump(doc, open("metrics.json", "w"))
"""

DVC_LOCK = """schema: '2.0'
stages:
  train:
    cmd: {cmd}
    deps:
    - path: train.py
      hash: md5
      md5: {train_md5}
      size: {train_size}
    params:
      params.yaml:
        train.lr: {lr}
    outs:
    - path: metrics.json
      hash: md5
      md5: {metrics_md5}
      size: {metrics_size}
"""


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True)
    return out.stdout.decode()


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def _blob(path: str, data: bytes) -> bytes:
    return f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"


def _params(lr: float) -> bytes:
    return f"train: {{lr: {lr}, epochs: 2}}\n".encode()


def _metrics(lr: float) -> bytes:
    doc = {"acc": round(0.5 + lr / 10, 6), "loss": round(0.9 - lr / 10, 6)}
    return json.dumps(doc).encode()


def build(root: Path, count: int, dvc: str | None) -> None:
    """The repository: both tools' pipelines, and ``count`` experiments of each."""
    _git(root, "init", "-q", "-b", "main")
    _run([*TETHER, "init"], root)
    cmd = f"{sys.executable} train.py"
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_bytes(_params(0.1))
    stage = f"    cmd: {cmd}\n    deps: [train.py]\n    params: [train.lr]\n"
    stage += "    metrics:\n      - metrics.json: {cache: false}\n"
    (root / "tether.yaml").write_text(f"schema: 1\nstages:\n  train:\n{stage}")
    _run([*TETHER, "repro"], root)
    if dvc:
        _run([dvc, "init", "-q"], root)
        (root / "dvc.yaml").write_text(f"stages:\n  train:\n{stage}")
        _run([dvc, "repro", "-q"], root)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "baseline")
    head = _git(root, "rev-parse", "HEAD").strip()
    train = TRAIN.encode()
    stream = []
    for i in range(count):
        name = f"exp-{i:05d}"
        lr = round(0.001 * (i + 1), 6)
        metrics = _metrics(lr)
        files = _blob("params.yaml", _params(lr)) + _blob("metrics.json", metrics)
        if dvc:
            lock = DVC_LOCK.format(
                cmd=cmd, lr=lr, train_md5=hashlib.md5(train).hexdigest(), train_size=len(train),
                metrics_md5=hashlib.md5(metrics).hexdigest(), metrics_size=len(metrics),
            )  # fmt: skip
            files += _blob("dvc.lock", lock.encode())
        note = {
            "schema": 1, "name": name, "baseline": head, "branch": "main",
            "changed": {"params.yaml:train.lr": lr},
            "params": {"params.yaml": {"train.lr": lr, "train.epochs": 2}},
            "metrics": {"metrics.json": json.loads(metrics)},
            "state": "done", "exit_code": 0,
            "started": f"2026-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
            "finished": "2026-05-01T11:00:00+00:00", "log": f".tether/exps/logs/{name}.log",
        }  # fmt: skip
        commits = [
            (f"refs/tether/exps/{head}/{name}", f"tether experiment {name}\n\n"
             f"{json.dumps(note, sort_keys=True)}\n"),
        ]  # fmt: skip
        if dvc:
            digest = hashlib.sha256(name.encode()).hexdigest()
            commits.append(
                (f"refs/exps/{head[:2]}/{head[2:]}/{name}", f"dvc: commit experiment {digest}")
            )
        for ref, text in commits:
            message = text.encode()
            stream.append(
                f"commit {ref}\ncommitter bench <bench@example.com> {1_700_000_000 + i} +0000\n"
                f"data {len(message)}\n".encode()
                + message
                + f"\nfrom {head}\n".encode()
                + files
                + b"\n"
            )
    _git(root, "fast-import", "--quiet", stdin=b"".join(stream))


def _timed(cmd: list[str], cwd: Path) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True).stdout
    return time.perf_counter() - start, out


def _tether_rows(out: bytes) -> int:
    rows = json.loads(out)["tether.exp-show/v1"]["rows"]
    return sum(1 for r in rows if r["name"] != "HEAD" and r["metrics"])


def _dvc_rows(out: bytes) -> int:
    found = 0
    for baseline in json.loads(out):
        for exp in baseline.get("experiments") or []:
            data = exp["revs"][0].get("data") or {}
            found += bool(data.get("metrics", {}).get("metrics.json", {}).get("data"))
    return found


def show(count: int, dvc: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, count, dvc)
        tools = {"tether": ([*TETHER, "exp", "show", "--json"], _tether_rows)}
        if dvc:
            tools["dvc"] = ([dvc, "exp", "show", "--json"], _dvc_rows)
        best: dict[str, float] = {}
        for tool, (cmd, rows) in tools.items():
            times = []
            for _ in range(3):
                secs, out = _timed(cmd, root)
                times.append(secs)
                found = rows(out)
                assert found == count, f"{tool} exp show listed {found} of {count} experiments"
            best[tool] = min(times)
            every = ", ".join(f"{t:.2f}" for t in times)
            print(f"{tool} exp show --json, {count} experiments: {best[tool]:.3f} s best of 3 "
                  f"(first {times[0]:.3f} s; all {every})")  # fmt: skip
        for fmt in ("--csv", "--md"):
            secs = min(_timed([*TETHER, "exp", "show", fmt], root)[0] for _ in range(3))
            print(f"tether exp show {fmt}, {count} experiments: {secs:.3f} s")
        if "dvc" in best:
            print(f"dvc / tether: {best['dvc'] / best['tether']:.1f}x")


def start_repo(root: Path, tool: list[str], files: int, stamp: Path) -> None:
    """A repository with a ``files``-file dataset added and committed, and one stage
    (reading the dataset and train.lr) whose command writes the time it started."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    dvc = tool != TETHER
    _run([*tool, "init", *(["-q"] if dvc else [])], root)
    _run([sys.executable, str(Path(__file__).with_name("mkdata.py")), "small", "data",
          str(files)], root)  # fmt: skip
    _run([*tool, "add", "data"], root)
    (root / "params.yaml").write_bytes(_params(0.1))
    cmd = f"{sys.executable} -c 'import time; print(time.time())' > {stamp}"
    stage = f"  train:\n    cmd: {cmd}\n    deps: [data]\n    params: [train.lr]\n"
    (root / ("dvc.yaml" if dvc else "tether.yaml")).write_text(
        f"stages:\n{stage}" if dvc else f"schema: 1\nstages:\n{stage}"
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "dataset and stage")


def start(files: int, dvc: str | None, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs = {"tether": ([*TETHER, "exp", "run"], TETHER)}
    if dvc:
        runs["dvc --temp"] = ([dvc, "exp", "run", "--temp"], [dvc])
        runs["dvc (in the workspace)"] = ([dvc, "exp", "run"], [dvc])
    best: dict[str, float] = {}
    for label, (cmd, tool) in runs.items():
        root = work / label.split()[0]
        stamp = work / f"{label.split()[0]}.started"
        if not root.exists():
            start_repo(root, tool, files, stamp)
        times = []
        for i in range(3):
            stamp.unlink(missing_ok=True)
            grace()  # the last run's deleted copies would slow down creating files
            t0 = time.time()
            _run([*cmd, "-S", f"train.lr={0.2 + i / 10}"], root)
            times.append(float(stamp.read_text()) - t0)
        best[label] = min(times)
        print(f"{label} exp run, {files} files: first stage starts after {best[label]:.2f} s "
              f"best of 3 ({', '.join(f'{t:.2f}' for t in times)})")  # fmt: skip
    for label, secs in best.items():
        if label != "tether":
            print(f"{label} / tether: {secs / best['tether']:.1f}x")
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("count", nargs="?", type=int, default=1000, help="experiments for exp show")
    ap.add_argument("--dvc", default=DEFAULT_DVC)
    ap.add_argument("--start", action="store_true", help="time exp run's start instead")
    ap.add_argument("--files", type=int, default=20000, help="the dataset's files (--start)")
    ap.add_argument("--work", default="/tmp/tether-bench-experiments", help="--start's repos")
    args = ap.parse_args()
    # tether's bytecode written once and reused, as an installed tether's (and DVC's) is
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    dvc = args.dvc if args.dvc and Path(args.dvc).is_file() else None
    if dvc is None:
        print(f"DVC not found at {args.dvc!r} (--dvc PATH): timing tether alone")
    if args.start:
        start(args.files, dvc, Path(args.work))
    else:
        show(args.count, dvc)


if __name__ == "__main__":
    main()
