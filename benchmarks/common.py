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
    """Give every timed step the same start: disk flushed, the kernel's
    caches dropped, its inputs read back into memory.

    Two things of this VM make a step's time swing by 2-5x unless both tools
    meet them alike:

    * Its root is ext4 without a journal. There, the inode allocator skips
      every inode freed in the last 60 s (fs/ext4/ialloc.c,
      ``recently_deleted``) and scans past each one again for every new
      file: after ``rm -rf`` of 20,000 files, creating 20,000 new ones took
      2-9 s instead of 1 s, whichever tool ran next. Dropping the caches
      shortens that; only time ends it, so a script deletes before it starts
      (:func:`grace`) and never between timed steps.
    * Its memory is handed back to the host when free (virtio-balloon free
      page reporting), and the first write to such a page faults in the
      host: writing 1 GiB into the page cache took 0.3 s into memory just
      freed and 2-4 s into memory free for long. Dropping the caches right
      before a step gives it recently used pages; repeating the step
      (:func:`sh` with ``repeat``) and keeping the best run takes the rest of
      the luck out, for the tools and the ``cp -r`` floors alike.

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


def grace(seconds: float = 65.0) -> None:
    """Wait until files deleted before now no longer slow down creating new
    ones (see :func:`settle`); call once after clearing old runs."""
    subprocess.run(["sync"], check=True)
    print(f"waiting {seconds:.0f} s for earlier deletions to age out ...", file=sys.stderr)
    time.sleep(seconds)


def sh(cmd: list[str] | str, cwd: Path, warm: list[Path] | None = None, drop: bool = True) -> float:
    """Seconds one command takes, after :func:`settle`; a string runs in a shell."""
    settle(warm, drop)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, shell=isinstance(cmd, str))
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


def cell(times: float | list[float] | None) -> str:
    """Seconds of a step: one run, or the best of several with their range."""
    if not times:
        return "-"
    if isinstance(times, float):
        return f"{times:.2f}"
    lo, hi = min(times), max(times)
    return f"{lo:.2f}" if len(times) == 1 else f"{lo:.2f} ({lo:.2f}-{hi:.2f})"


def _best(times: float | list[float]) -> float:
    return times if isinstance(times, float) else min(times)


def print_ratios(results: dict[str, dict[str, float]] | dict[str, dict[str, list[float]]]) -> None:
    """A Markdown table of tether's and DVC's seconds per step (one run, or
    the best of several and their range), with DVC / tether of the best."""
    print("| step | tether (s) | dvc (s) | dvc / tether |")
    print("| --- | --- | --- | --- |")
    for step, secs in results["tether"].items():
        d = results.get("dvc", {}).get(step)
        ratio = f"{_best(d) / _best(secs):.1f}x" if d else "-"
        print(f"| {step} | {cell(secs)} | {cell(d)} | {ratio} |")
