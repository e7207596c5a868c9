"""`tether exp show` with many experiments on one baseline (`python benchmarks/experiments.py [N]`).

Builds a repository with a one-stage pipeline, then N experiment records as
`tether exp run` writes them (a commit on refs/tether/exps/<baseline>/<name>
whose message holds the JSON note), made in one `git fast-import` so the setup
takes seconds, and times `tether exp show --json` (best of 3, a fresh process
each, start-up included).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import TETHER


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True)
    return out.stdout.decode()


def build(root: Path, count: int) -> None:
    _git(root, "init", "-q", "-b", "main")
    subprocess.run([*TETHER, "init"], cwd=root, check=True, capture_output=True)
    (root / "params.yaml").write_text("train: {lr: 0.1, epochs: 2}\n")
    (root / "metrics.json").write_text('{"acc": 0.5, "loss": 0.9}\n')
    (root / "tether.yaml").write_text(
        "schema: 1\nstages:\n  train:\n    cmd: echo\n    params: [train.lr]\n"
        "    metrics:\n      - metrics.json: {cache: false}\n"
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "baseline")
    head = _git(root, "rev-parse", "HEAD").strip()
    tree = _git(root, "rev-parse", "HEAD^{tree}").strip()
    stream = []
    for i in range(count):
        name = f"exp-{i:05d}"
        lr = round(0.001 * (i + 1), 6)
        note = {
            "schema": 1, "name": name, "baseline": head, "branch": "main",
            "changed": {"params.yaml:train.lr": lr},
            "params": {"params.yaml": {"train.lr": lr, "train.epochs": 2}},
            "metrics": {"metrics.json": {"acc": 0.5 + lr / 10, "loss": 0.9 - lr / 10}},
            "state": "done", "exit_code": 0,
            "started": f"2026-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
            "finished": "2026-05-01T11:00:00+00:00", "log": f".tether/exps/logs/{name}.log",
        }  # fmt: skip
        message = f"tether experiment {name}\n\n{json.dumps(note, sort_keys=True)}\n".encode()
        stream.append(
            f"commit refs/tether/exps/{head}/{name}\n"
            f"committer bench <bench@example.com> {1_700_000_000 + i} +0000\n"
            f"data {len(message)}\n".encode()
            + message
            + f"from {head}\nM 040000 {tree} \n\n".encode()
        )
    _git(root, "fast-import", "--quiet", stdin=b"".join(stream))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, count)
        for fmt in ("--json", "--csv", "--md"):
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                out = subprocess.run(
                    [*TETHER, "exp", "show", fmt], cwd=root, check=True, capture_output=True
                ).stdout
                best = min(best, time.perf_counter() - start)
            if fmt == "--json":
                rows = len(json.loads(out)["tether.exp-show/v1"]["rows"])
                assert rows == count + 1, rows
            print(f"tether exp show {fmt}, {count} experiments: {best:.3f} s")


if __name__ == "__main__":
    main()
