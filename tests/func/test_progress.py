"""Progress bars as a terminal shows them: `tether add` run on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from tests.conftest import write
from tether import progress


def _on_a_terminal(cwd, *args: str) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", *args],
        cwd=cwd,
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_add_of_one_large_file_shows_bytes_as_it_goes(repo):
    size = 256 << 20
    with open(repo / "big.bin", "wb") as f:
        f.truncate(size)  # sparse: quick to make, still read and copied in full
    write(repo / "small.txt", "x")
    code, shown = _on_a_terminal(repo, "add", "big.bin")
    assert code == 0, shown
    assert "adding big.bin" in shown
    assert "0/1 files" in shown and "268.4 MB" in shown, shown  # bytes, like push
    assert not re.search(r"\b[1-9]\d*:\d\d:\d\d\b", shown), shown  # no first ETA of hours


def test_eta_waits_for_a_fair_sample():
    assert progress.eta(0.3, 10, 1_500_000_000) == "-:--:--"  # a few bytes: no guess
    assert progress.eta(5.0, 1_000_000, 1_500_000_000) == "-:--:--"  # under 1%
    assert progress.eta(10.0, 500_000_000, 1_500_000_000) == "0:00:20"
    assert progress.eta(3600.0, 750_000_000, 1_500_000_000) == "1:00:00"
    assert progress.eta(10.0, 1_500_000_000, 1_500_000_000) == "0:00:00"
