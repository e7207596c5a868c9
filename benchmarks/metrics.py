"""Side-by-side benchmark of `metrics diff` between two revisions, tether vs DVC,
in one git repository with 1,000 commits of metrics (both tools initialised,
the same metrics file declared in dvc.yaml and tether.yaml).

    python benchmarks/metrics.py [--dvc PATH] [--work DIR] [--commits N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

TETHER = [sys.executable, "-m", "tether"]
SRC = Path(__file__).resolve().parent.parent / "src"


def best(cmd: list[str], cwd: Path, n: int = 7) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def build(repo: Path, commits: int, dvc: str | None) -> None:
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*TETHER, "-q", "init"], cwd=repo, check=True)
    if dvc:
        subprocess.run([dvc, "init", "-q"], cwd=repo, check=True)
    stage = (
        "  train:\n    cmd: python train.py\n    metrics:\n    - metrics.json:\n"
        "        cache: false\n"
    )
    (repo / "dvc.yaml").write_text("stages:\n" + stage)
    (repo / "tether.yaml").write_text("schema: 1\nstages:\n" + stage)
    (repo / "params.yaml").write_text("lr: 0.1\n")
    # one fast-import stream: 1,000 commits in a second, not minutes
    lines = []
    for i in range(commits):
        body = json.dumps({"acc": round(0.5 + i / (4 * commits), 6), "loss": 1 / (i + 1)})
        lines += [
            "commit refs/heads/main",
            f"committer Bench <bench@example.invalid> {1700000000 + i} +0000",
            f"data {len(f'm{i}')}",
            f"m{i}",
        ]
        lines += ["M 100644 inline metrics.json", f"data {len(body)}", body]
        if i == 0:
            for name in ("dvc.yaml", "tether.yaml", "params.yaml", ".tether/config.yaml"):
                data = (repo / name).read_text()
                lines += [f"M 100644 inline {name}", f"data {len(data.encode())}", data]
        lines.append("")
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input="\n".join(lines).encode(), check=True
    )
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True)
    subprocess.run(["git", "tag", "first", "main~" + str(commits - 1)], cwd=repo, check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default=shutil.which("dvc") or "/tmp/dvcenv/bin/dvc")
    ap.add_argument("--work", default="/tmp/tether-bench-metrics")
    ap.add_argument("--commits", type=int, default=1000)
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SRC)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    dvc = args.dvc if args.dvc and Path(args.dvc).is_file() else None
    repo = Path(args.work) / "repo"
    build(repo, args.commits, dvc)
    rows = {
        "metrics diff first main": (
            best([*TETHER, "metrics", "diff", "first", "main"], repo),
            best([dvc, "metrics", "diff", "first", "main"], repo) if dvc else None,
        ),
        "metrics diff HEAD~1 (vs workspace)": (
            best([*TETHER, "metrics", "diff", "HEAD~1"], repo),
            best([dvc, "metrics", "diff", "HEAD~1"], repo) if dvc else None,
        ),
    }
    rows["start-up floor: tether --version"] = (best([*TETHER, "--version"], repo), None)
    print(f"{args.commits} commits")
    print("| step | tether (s) | dvc (s) | dvc / tether |")
    print("| --- | --- | --- | --- |")
    for step, (t, d) in rows.items():
        print(
            f"| {step} | {t:.3f} | {f'{d:.3f}' if d else '-'} | {f'{d / t:.1f}x' if d else '-'} |"
        )


if __name__ == "__main__":
    main()
