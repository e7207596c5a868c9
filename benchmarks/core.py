"""Side-by-side benchmark of tether and DVC on the same generated data.

    python benchmarks/core.py [--dvc PATH_TO_DVC] [--work DIR] [--small N] [--big-mib M]

Generates the data with ../shared/bench/mkdata.py (20,000 small files and
4 x 256 MiB by default), then times, for each tool in a fresh git repo with
copy links: `add` of the small files, a no-op `status`, `add` of the 1 GiB,
and `tether --help`; plus `cp -r` floors. Prints a Markdown table with the
ratio DVC / tether. DVC is optional (install it into its own venv:
`python -m venv /tmp/dvcenv && /tmp/dvcenv/bin/pip install dvc`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from common import DEFAULT_DVC, TETHER, best, print_ratios, sh

HERE = Path(__file__).resolve().parent
MKDATA = HERE.parent.parent / "shared" / "bench" / "mkdata.py"


def fresh_repo(path: Path, tool: list[str] | None) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    if tool == TETHER:
        subprocess.run([*TETHER, "-q", "init"], cwd=path, check=True)
    elif tool:
        subprocess.run([*tool, "init", "-q"], cwd=path, check=True)
        subprocess.run([*tool, "config", "cache.type", "copy"], cwd=path, check=True)
    return path


def run_tool(name: str, tool: list[str], work: Path, data: Path) -> dict[str, float]:
    repo = fresh_repo(work / name, tool)
    shutil.copytree(data / "small", repo / "small")
    shutil.copytree(data / "big", repo / "big")
    out = {"add small": sh([*tool, "add", "small"], repo, warm=[repo / "small"])}
    out["no-op status"] = best([*tool, "status"], repo)
    out["add 1 GiB"] = sh([*tool, "add", "big"], repo, warm=[repo / "big"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default=DEFAULT_DVC)
    ap.add_argument("--work", default="/tmp/tether-bench")
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--big-mib", type=int, default=256)
    args = ap.parse_args()
    work = Path(args.work)
    data = work / "data"
    if not (data / "small").exists():
        subprocess.run(
            [sys.executable, MKDATA, "small", data / "small", str(args.small)], check=True
        )
        subprocess.run(
            [sys.executable, MKDATA, "big", data / "big", "4", str(args.big_mib)], check=True
        )
    floors = {
        "cp -r small": sh(
            ["cp", "-r", str(data / "small"), str(work / "cp-small")], work, [data / "small"]
        ),
        "cp -r 1 GiB": sh(
            ["cp", "-r", str(data / "big"), str(work / "cp-big")], work, [data / "big"]
        ),
    }
    shutil.rmtree(work / "cp-small")
    shutil.rmtree(work / "cp-big")
    results = {"tether": run_tool("tether", TETHER, work, data)}
    results["tether"]["--help"] = best([*TETHER, "--help"], work)
    if args.dvc and Path(args.dvc).is_file():
        results["dvc"] = run_tool("dvc", [args.dvc], work, data)
    print_ratios(results)
    for step, secs in floors.items():
        print(f"| floor: {step} | {secs:.2f} | | |")
    gib = (4 * args.big_mib) / 1024
    print(
        f"\nadd 1 GiB vs cp -r: {results['tether']['add 1 GiB'] / floors['cp -r 1 GiB']:.2f}x "
        f"({gib:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
