"""Helpers shared by the benchmark scripts (run as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

TETHER = [sys.executable, "-m", "tether"]
DEFAULT_DVC = shutil.which("dvc") or "/tmp/dvcenv/bin/dvc"


def sh(cmd: list[str], cwd: Path) -> float:
    """Seconds one command takes, after a sync."""
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def best(cmd: list[str], cwd: Path, n: int = 5) -> float:
    return min(sh(cmd, cwd) for _ in range(n))


def print_ratios(results: dict[str, dict[str, float]]) -> None:
    """A Markdown table of tether's and DVC's seconds per step, with DVC / tether."""
    print("| step | tether (s) | dvc (s) | dvc / tether |")
    print("| --- | --- | --- | --- |")
    for step, secs in results["tether"].items():
        d = results.get("dvc", {}).get(step)
        ratio = f"{d / secs:.1f}x" if d else "-"
        print(f"| {step} | {secs:.2f} | {f'{d:.2f}' if d else '-'} | {ratio} |")
