"""`plots diff` of 3 revisions, 4 plots of 10,000 points each, to an HTML page:
tether beside DVC (`dvc plots diff`, when installed) on the same repository,
the plots declared alike in tether.yaml and dvc.yaml (top-level `plots:`).

    python benchmarks/plots.py [--dvc PATH] [--work DIR] [--points N]

tether's page inlines the Vega JavaScript (built once per vl-convert version
into the cache folder; the first run, untimed, builds it); DVC's page loads
it from a CDN when it is viewed.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import DEFAULT_DVC, TETHER, best

SRC = Path(__file__).resolve().parent.parent / "src"
PLOTS = ("loss", "acc", "lr", "grad")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, stdout=subprocess.DEVNULL)


def build(repo: Path, points: int, dvc: str | None) -> None:
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    subprocess.run([*TETHER, "-q", "init"], cwd=repo, check=True)
    if dvc:
        subprocess.run([dvc, "init", "-q"], cwd=repo, check=True)
    decls = "".join(f"  - logs/{name}.csv: {{x: step, y: {name}}}\n" for name in PLOTS)
    (repo / "tether.yaml").write_text("schema: 1\nplots:\n" + decls)
    (repo / "dvc.yaml").write_text("plots:\n" + decls)
    (repo / "logs").mkdir()
    for rev in range(3):
        for k, name in enumerate(PLOTS):
            rows = "".join(
                f"{i},{math.exp(-i / (2000 + 500 * rev)) + 0.01 * math.sin(i * (k + 1)):.6f}\n"
                for i in range(points)
            )
            (repo / "logs" / f"{name}.csv").write_text(f"step,{name}\n{rows}")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"run {rev}")
        git(repo, "tag", f"r{rev}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default=DEFAULT_DVC)
    ap.add_argument("--work", default="/tmp/tether-bench-plots")
    ap.add_argument("--points", type=int, default=10_000)
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SRC)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    dvc = args.dvc if args.dvc and Path(args.dvc).is_file() else None
    work = Path(args.work)
    repo = work / "repo"
    build(repo, args.points, dvc)
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg-cache")
    html = [*TETHER, "plots", "diff", "r0", "r1", "r2", "-o", str(work / "tether-html")]
    shutil.rmtree(work / "xdg-cache", ignore_errors=True)
    first = best(html, repo, 1)  # builds the JavaScript bundle into the cache folder
    rows = {
        "plots diff r0 r1 r2 (HTML)": (
            best(html, repo),
            best([dvc, "plots", "diff", "r0", "r1", "r2", "-o", str(work / "dvc-html")], repo)
            if dvc
            else None,
        ),
        "plots diff r0 r1 r2 --png (4 files)": (
            best([*TETHER, "plots", "diff", "r0", "r1", "r2", "--png", str(work / "png")], repo, 3),
            None,
        ),
        "the first run on a machine (HTML, builds the JS bundle)": (first, None),
        "start-up floor: tether --version": (best([*TETHER, "--version"], repo), None),
    }
    size = (work / "tether-html" / "index.html").stat().st_size
    print(f"3 revisions x {len(PLOTS)} plots x {args.points:,} points; page {size / 1e6:.1f} MB")
    print("| step | tether (s) | dvc (s) | dvc / tether |")
    print("| --- | --- | --- | --- |")
    for step, (t, d) in rows.items():
        print(
            f"| {step} | {t:.2f} | {f'{d:.2f}' if d else '-'} | {f'{d / t:.1f}x' if d else '-'} |"
        )


if __name__ == "__main__":
    main()
