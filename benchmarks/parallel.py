"""`repro -j N`: stages side by side.

    python benchmarks/parallel.py [--work DIR] [--baseline SRC]

8 independent stages that each sleep 2 s (and write one small output), run
with `repro --force`: `-j 4` (target: at most 1.25 x 4 s), `-j 1`, and, with
``--baseline SRC`` (the ``src`` folder of another checkout), that version's
plain `repro` on the same pipeline (-j 1 must be no slower). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import TETHER

STAGES = 8
SLEEP = 2


def setup(work: Path) -> Path:
    repo = work / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*TETHER, "init"], cwd=repo, check=True, stdout=subprocess.DEVNULL)
    lines = ["schema: 1", "stages:"]
    for i in range(STAGES):
        lines += [
            f"  s{i}:",
            f"    cmd: sleep {SLEEP} && echo {i} > o{i}.txt",
            f"    outs: [o{i}.txt]",
        ]
    (repo / "tether.yaml").write_text("\n".join(lines) + "\n")
    return repo


def timed(args: list[str], repo: Path, src: str | None = None) -> float:
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    t = time.perf_counter()
    subprocess.run([*TETHER, *args], cwd=repo, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/tether-bench-parallel")
    ap.add_argument("--baseline", help="src folder of the version to compare -j 1 with")
    args = ap.parse_args()
    repo = setup(Path(args.work))
    timed(["repro"], repo)  # the first run: every later one is the same forced rerun
    rows = {
        "repro -f -j 4": min(timed(["repro", "-f", "-j", "4"], repo) for _ in range(2)),
        "repro -f -j 1": timed(["repro", "-f", "-j", "1"], repo),
    }
    if args.baseline:
        rows["repro -f (baseline)"] = timed(
            ["repro", "-f"], repo, str(Path(args.baseline).resolve())
        )
    print(f"{STAGES} independent stages of `sleep {SLEEP}`; ideal -j 4: {STAGES // 4 * SLEEP} s")
    print("| step | seconds |")
    print("| --- | --- |")
    for step, secs in rows.items():
        print(f"| {step} | {secs:.2f} |")
    shutil.rmtree(repo)


if __name__ == "__main__":
    sys.exit(main())
