"""Side-by-side benchmark of tether and DVC on the same generated data.

    python benchmarks/core.py [--dvc PATH_TO_DVC] [--work DIR] [--small N] [--big-mib M]
                              [--repeat R] [--no-grace]

Generates the data with benchmarks/mkdata.py (20,000 small files and
4 x 256 MiB by default), then times, for each tool in a fresh git repo with
copy links: `add` of the small files, a no-op `status`, `add` of the 1 GiB;
`tether --help`; and the floors `cp -r` (into memory only) and
`cp -r && sync` (on disk, as `add` leaves its objects) of the same bytes.
`add` of the 1 GiB and `cp -r` of it are also timed with the caches kept
(no drop: see `settle` for why that changes `cp -r` by up to 8x here).

Every timed step starts settled (benchmarks/common.py: disk flushed, caches
dropped, inputs read back) and is repeated R times (default 3) in fresh
directories, tools taking turns; the table shows the best run and the range.
Nothing is deleted between timed steps: earlier runs are cleared first and
the script then waits 65 s (`--no-grace` skips that), because on this VM
files created soon after a mass delete cost several times more for any tool.
Prints a Markdown table with the ratio DVC / tether. DVC is optional
(`python -m venv /tmp/dvcenv && /tmp/dvcenv/bin/pip install dvc`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from common import DEFAULT_DVC, TETHER, best, cell, grace, print_ratios, sh

HERE = Path(__file__).resolve().parent
MKDATA = HERE / "mkdata.py"

Times = dict[str, list[float]]


def fresh_repo(path: Path, tool: list[str]) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    if tool == TETHER:
        subprocess.run([*TETHER, "-q", "init"], cwd=path, check=True)
    else:
        subprocess.run([*tool, "init", "-q"], cwd=path, check=True)
        subprocess.run([*tool, "config", "cache.type", "copy"], cwd=path, check=True)
    return path


def run_tool(tool: list[str], repo: Path, data: Path, out: Times) -> None:
    fresh_repo(repo, tool)
    shutil.copytree(data / "small", repo / "small")
    shutil.copytree(data / "big", repo / "big")
    steps = {
        "add small files": lambda: sh([*tool, "add", "small"], repo, [repo / "small"]),
        "no-op status": lambda: best([*tool, "status"], repo),
        "add big files": lambda: sh([*tool, "add", "big"], repo, [repo / "big"]),
    }
    for step, timed in steps.items():
        out.setdefault(step, []).append(timed())


def run_tool_kept(tool: list[str], repo: Path, data: Path, out: Times) -> None:
    """`add` of the 1 GiB with the caches kept (interpreter, libraries and
    inputs in memory; the memory the copy lands in as it happens to be)."""
    fresh_repo(repo, tool)
    shutil.copytree(data / "big", repo / "big")
    secs = sh([*tool, "add", "big"], repo, [repo / "big"], drop=False)
    out.setdefault("add big files, caches kept", []).append(secs)


def floors(data: Path, into: Path, out: Times) -> None:
    into.mkdir(parents=True)
    small, big = data / "small", data / "big"
    out.setdefault("cp -r small", []).append(sh(["cp", "-r", str(small), "s"], into, [small]))
    out.setdefault("cp -r big", []).append(sh(["cp", "-r", str(big), "b"], into, [big]))
    out.setdefault("cp -r big && sync", []).append(sh(f"cp -r '{big}' b2 && sync", into, [big]))
    out.setdefault("cp -r big, caches kept", []).append(
        sh(["cp", "-r", str(big), "b3"], into, [big], drop=False)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default=DEFAULT_DVC)
    ap.add_argument("--work", default="/tmp/tether-bench")
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-grace", action="store_true")
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
    runs = work / "runs"
    if runs.exists():
        shutil.rmtree(runs)
        if not args.no_grace:
            grace()
    tools = {"tether": TETHER}
    if args.dvc and Path(args.dvc).is_file():
        tools["dvc"] = [args.dvc]
    results: dict[str, Times] = {name: {} for name in tools}
    floor: Times = {}
    for k in range(args.repeat):
        floors(data, runs / f"{k}" / "cp", floor)
        order = list(tools) if k % 2 == 0 else list(reversed(tools))
        for name in order:
            run_tool(tools[name], runs / f"{k}" / name, data, results[name])
        for name in order:
            run_tool_kept(tools[name], runs / f"{k}" / f"{name}-kept", data, results[name])
        print(f"run {k + 1}/{args.repeat} done", file=sys.stderr)
    results["tether"]["--help"] = [best([*TETHER, "--help"], work)]
    gib = (4 * args.big_mib) / 1024
    print(
        f"Data: {args.small:,} small files; {gib:.2f} GiB in 4 big files. "
        f"Best of {args.repeat} runs, seconds (range in brackets).\n"
    )
    print_ratios(results)
    for step, secs in floor.items():
        print(f"| floor: {step} | {cell(secs)} | | |")
    add_big = min(results["tether"]["add big files"])
    kept = min(results["tether"]["add big files, caches kept"])
    print(
        f"\nadd {gib:.2f} GiB: {add_big / min(floor['cp -r big']):.2f}x `cp -r`, "
        f"{add_big / min(floor['cp -r big && sync']):.2f}x `cp -r && sync`; "
        f"caches kept: {kept / min(floor['cp -r big, caches kept']):.2f}x `cp -r`"
    )
    print(f"(delete {runs} when done: {args.repeat} copies of everything)", file=sys.stderr)


if __name__ == "__main__":
    main()
