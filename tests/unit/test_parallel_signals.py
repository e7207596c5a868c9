"""Ctrl-C during a parallel store ends it as an interruption, whichever
process sees the signal first: a worker alone, the parent alone, or all of
them (a terminal's Ctrl-C reaches the whole process group, in no set order).

The workers are real forked processes; a worker delivers the signal itself
at a chosen item, so every ordering is reproduced exactly, every run."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tether.storage import parallel
from tether.storage.odb import ObjectDB
from tether.storage.writer import Writer

COUNT = 2 * parallel.MIN_ITEMS
TRIGGER = 40  # an item of the first worker's share, early in it


def _items() -> list[bytes]:
    return [f"item {i}\n".encode() * 3 for i in range(COUNT)]


def _interrupting(who: str, pids: Path):
    """A store function that, at item TRIGGER, sends SIGINT to ``who``: the
    worker itself, the parent, or every process (the others first, itself
    last, so the others are signalled before it stops)."""
    parent = os.getpid()

    def store(writer: Writer, item: bytes) -> str:
        me = os.getpid()
        (pids / str(me)).touch()
        if item == _items()[TRIGGER]:
            if who == "worker":
                os.kill(me, signal.SIGINT)
            elif who == "parent":
                os.kill(parent, signal.SIGINT)
                time.sleep(5)  # the parent's stop request must end this
            else:
                deadline = time.monotonic() + 5
                while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                for pid in [parent, *(int(p.name) for p in pids.iterdir() if int(p.name) != me)]:
                    os.kill(pid, signal.SIGINT)
                os.kill(me, signal.SIGINT)
        return writer.put_bytes(item)

    return store


@pytest.mark.parametrize("who", ["worker", "parent", "group"])
def test_ctrl_c_in_any_process_interrupts_the_store(tmp_path, who):
    odb = ObjectDB(tmp_path / "cache")
    pids = tmp_path / "pids"
    pids.mkdir()
    items = _items()
    done: list[int] = []
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), Writer(odb) as writer:
        parallel.store_many(
            writer,
            items,
            [len(x) for x in items],
            _interrupting(who, pids),
            lambda i, _digest: done.append(i),
            jobs=2,
        )
    assert time.monotonic() - start < 4  # the workers were stopped, not waited out
    assert len(done) < COUNT
    assert not any((tmp_path / "cache/tmp").iterdir())  # no temporaries left
    for pid in (int(p.name) for p in pids.iterdir()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # every worker is gone and reaped


def test_ctrl_c_in_a_read_only_worker_interrupts_instead_of_redoing_the_work():
    parent = os.getpid()

    def walk(share: int) -> bytes:
        if share == 1 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGINT)
        return b"%d" % share

    with pytest.raises(KeyboardInterrupt):
        parallel.map_forked(walk, [0, 1, 2])
    assert parallel.map_forked(lambda share: b"%d" % share, [0, 1]) == [b"0", b"1"]


@pytest.mark.parametrize("at", [1, 2])
def test_ctrl_c_right_after_a_fork_loses_no_worker(tmp_path, monkeypatch, at):
    """The signal arrives in the parent between a fork and the moment the
    child is recorded: the child must still be stopped and reaped. Another
    thread runs meanwhile (a progress bar's, say): the kernel hands it the
    signal, so blocking SIGINT in the main thread alone does not hold it back."""
    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
            if len(forked) == at:
                os.kill(os.getpid(), signal.SIGINT)  # pending until the parent unblocks it
        return pid

    monkeypatch.setattr(os, "fork", fork)
    odb = ObjectDB(tmp_path / "cache")
    items = _items()
    other = threading.Event()
    bar = threading.Thread(target=other.wait)
    bar.start()
    try:
        with pytest.raises(KeyboardInterrupt), Writer(odb) as writer:
            parallel.store_many(
                writer, items, [len(x) for x in items], Writer.put_bytes, lambda i, d: None, jobs=3
            )
    finally:
        other.set()
        bar.join()
    assert len(forked) == at
    for pid in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped already
    assert not any((tmp_path / "cache/tmp").iterdir())
