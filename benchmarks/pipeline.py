"""Side-by-side benchmark of `repro`, tether vs DVC, on the same pipeline.

    python benchmarks/pipeline.py [--dvc PATH] [--work DIR] [--files N] [--stages S]

A 10-stage chain whose outputs total 20,000 files (each stage writes
N / S small files into its own folder and reads the previous stage's folder).
Times: the first `repro` (runs everything), a no-op `repro` (best of 5), and
the overhead per stage: a `repro --force` of one stage whose command does
nothing, minus the command's own time. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from common import DEFAULT_DVC, TETHER, best, print_ratios, sh

TRIVIAL = 10

STAGE = """import os, sys
out, n, prev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
seed = len(os.listdir(prev)) if os.path.isdir(prev) else 0
for i in range(n):
    with open(os.path.join(out, f"{i:05d}.txt"), "w") as f:
        f.write(f"{out} {i} {seed}\\n" * 8)
"""


def pipeline_yaml(stages: int, per_stage: int, dvc: bool) -> str:
    lines = ["stages:"] if dvc else ["schema: 1", "stages:"]
    for i in range(stages):
        prev = f"out/s{i - 1}" if i else "seed.txt"
        lines += [
            f"  s{i}:",
            f"    cmd: {sys.executable} stage.py out/s{i} {per_stage} {prev}",
            f"    deps: [stage.py, {prev}]",
            f"    outs: [out/s{i}]",
        ]
    for i in range(TRIVIAL):  # stages whose command does next to nothing
        lines += [
            f"  t{i}:",
            f"    cmd: {sys.executable} -c \"open('t{i}.txt','w')\"",
            "    deps: [seed.txt]",
            f"    outs: [t{i}.txt]",
        ]
    return "\n".join(lines) + "\n"


def setup(name: str, tool: list[str], work: Path, stages: int, per_stage: int) -> Path:
    repo = work / name
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc = tool != TETHER
    subprocess.run([*tool, "init", *(["-q"] if dvc else [])], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    if dvc:
        subprocess.run([*tool, "config", "cache.type", "copy"], cwd=repo, check=True)
    (repo / "stage.py").write_text(STAGE)
    (repo / "seed.txt").write_text("seed\n")
    name_yaml = "dvc.yaml" if dvc else "tether.yaml"
    (repo / name_yaml).write_text(pipeline_yaml(stages, per_stage, dvc))
    return repo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default=DEFAULT_DVC)
    ap.add_argument("--work", default="/tmp/tether-bench-pipeline")
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--stages", type=int, default=10)
    args = ap.parse_args()
    work = Path(args.work)
    per_stage = args.files // args.stages
    tools = {"tether": TETHER}
    if args.dvc and Path(args.dvc).is_file():
        tools["dvc"] = [args.dvc]
    results: dict[str, dict[str, float]] = {}
    work.mkdir(parents=True, exist_ok=True)
    cmd_alone = best([sys.executable, "-c", "open('/dev/null','w')"], work)
    trivial = [f"t{i}" for i in range(TRIVIAL)]
    for name, tool in tools.items():
        repo = setup(name, tool, work, args.stages, per_stage)
        res = {"first repro (runs all)": sh([*tool, "repro"], repo)}
        res["no-op repro"] = best([*tool, "repro"], repo)
        idle = best([*tool, "repro", "--single-item", *trivial], repo)
        forced = best([*tool, "repro", "--force", "--single-item", *trivial], repo)
        res["overhead per stage (beyond its command)"] = (forced - idle) / TRIVIAL - cmd_alone
        results[name] = res
        shutil.rmtree(repo)
    print(f"{args.stages} stages, {per_stage * args.stages} output files; a bare command: "
          f"{cmd_alone:.3f} s")  # fmt: skip
    print_ratios(results)


if __name__ == "__main__":
    main()
