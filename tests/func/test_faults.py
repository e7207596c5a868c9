"""Interruptions and a full disk: nothing lost, the next run finishes cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import git, run_cli, snapshot, write
from tether.storage.fileio import DIRECT_MIN


@pytest.mark.slow  # ~20 s each: writes 4000 files, then adds them twice
@pytest.mark.parametrize(
    ("jobs", "group"),
    [("1", False), ("2", False), ("2", True)],
    ids=["one-process", "workers-parent-signalled", "workers-terminal-ctrl-c"],
)
def test_ctrl_c_during_add_then_rerun_finishes(repo, jobs, group):
    """Ctrl-C on a terminal reaches the whole process group; `kill -INT` only
    the parent, which passes it on to its workers."""
    for i in range(4000):
        write(repo / f"data/raw/d{i % 40}/f{i}.bin", os.urandom(2048))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "add", "-j", jobs, "data/raw"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )
    objects = repo / ".tether/cache/objects"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (objects.is_dir() and any(objects.iterdir())):
        time.sleep(0.002)
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    if proc.returncode == 0:
        pytest.skip("add finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert not (repo / "data/raw.tether").exists()
    leftovers = [
        p for p in (repo / ".tether/cache").rglob("*") if "tmp-" in p.name or p.parent.name == "tmp"
    ]
    assert leftovers == []  # temporaries cleaned up, no partial objects
    before = snapshot(repo / "data/raw")
    r = run_cli(repo, "add", "data/raw")
    assert r.returncode == 0, r.stderr
    assert snapshot(repo / "data/raw") == before
    git(repo, "commit", "-qm", "v1")
    shutil.rmtree(repo / "data/raw")
    assert run_cli(repo, "checkout").returncode == 0
    assert snapshot(repo / "data/raw") == before


@pytest.mark.parametrize("big", [1 << 20, DIRECT_MIN + 1], ids=["page-cache", "direct"])
def test_full_disk_during_add(repo, tether, tiny_disk, big):
    """Either route a large file takes into the cache (through the page cache,
    or O_DIRECT from 64 MiB) meets a full disk as one clear error."""
    assert tether("config", "--local", "cache.dir", str(tiny_disk / "cache")).code == 0
    write(repo / "data/big.bin", os.urandom(big))
    write(repo / "data/small.bin", b"small")
    r = tether("add", "data")
    assert r.code == 1
    assert r.err.startswith("error: no space left on the device")
    assert "tether gc" in r.err
    assert not (repo / "data.tether").exists()
    assert (repo / "data/big.bin").stat().st_size == big  # the data is untouched
    assert not any((tiny_disk / "cache/tmp").iterdir())
