"""Helpers shared by the benchmark scripts (run as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

TETHER = [sys.executable, "-m", "tether"]
DEFAULT_DVC = shutil.which("dvc") or "/tmp/dvcenv/bin/dvc"


def settle(warm: list[Path] | None = None, drop: bool = True) -> None:
    """Give every timed step the same start: disk flushed, no recently deleted
    inodes, its inputs in memory.

    This VM's root is ext4 without a journal. There, the inode allocator skips
    every inode freed in the last 60 s (360 s while its inode-table block is
    still dirty) and looks each one up in the buffer cache (fs/ext4/ialloc.c,
    ``recently_deleted``): after ``rm -rf`` of 20,000 files, creating 20,000
    new ones took 2-9 s instead of 1 s for minutes, whichever tool ran next.
    Dropping the kernel's caches (root only) ends that at once; ``warm`` then
    reads the step's inputs back so no tool pays for cold reads.

    ``drop=False`` (steps that create few files) keeps the caches: dropping
    them also evicts the interpreter and every library, and a step of under a
    second would then mostly measure reading Python from disk.
    """
    subprocess.run(["sync"], check=True)
    if not drop:
        time.sleep(2)
        return
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        time.sleep(10)  # not root: at least let the deletions reach the disk
    for top in warm or []:
        if top.exists():
            subprocess.run(
                ["find", str(top), "-type", "f", "-exec", "cat", "{}", "+"],
                check=True,
                stdout=subprocess.DEVNULL,
            )


def sh(cmd: list[str], cwd: Path, warm: list[Path] | None = None) -> float:
    """Seconds one command takes, after :func:`settle`."""
    settle(warm)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def best(cmd: list[str], cwd: Path, n: int = 5) -> float:
    """Best of ``n`` runs, with warm caches (a no-op command's usual case)."""
    times = []
    for _ in range(n):
        subprocess.run(["sync"], check=True)
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def print_ratios(results: dict[str, dict[str, float]]) -> None:
    """A Markdown table of tether's and DVC's seconds per step, with DVC / tether."""
    print("| step | tether (s) | dvc (s) | dvc / tether |")
    print("| --- | --- | --- | --- |")
    for step, secs in results["tether"].items():
        d = results.get("dvc", {}).get(step)
        ratio = f"{d / secs:.1f}x" if d else "-"
        print(f"| {step} | {secs:.2f} | {f'{d:.2f}' if d else '-'} | {ratio} |")
