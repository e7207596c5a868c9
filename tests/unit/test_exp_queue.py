"""experiments/queue.py: claiming under the item's lock, and a dead worker's item."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tether.experiments import queue
from tether.repo import Repo


def _add(repo: Repo, name: str, order: int, state: str = "queued") -> queue.Item:
    item = queue.Item(name, "b" * 40, "main", "s" * 40, [], order, state=state)
    item.log = f".tether/exps/logs/{name}.log"
    queue.save(repo, item)
    return item


def test_concurrent_claims_take_each_item_once(repo: Path) -> None:
    r = Repo(repo)
    for i in range(30):
        _add(r, f"item-{i}", i)
    taken: list[str] = []
    held: list[queue.Claim] = []
    guard = threading.Lock()

    def worker() -> None:
        while (c := queue.claim(r)) is not None:
            with guard:
                taken.append(c.item.name)
                held.append(c)  # still running: its lock stays held

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(f"item-{i}" for i in range(30))
    assert {i.state for i in queue.items(r)} == {"running"}
    assert queue.reap(r) == []  # every lock is held: nobody died
    for c in held:
        queue.finish(r, c, "done", 0, "c" * 40, "")
    assert {i.state for i in queue.items(r)} == {"done"}


def test_a_running_item_without_its_lock_holder_is_marked_failed(repo: Path) -> None:
    r = Repo(repo)
    item = _add(r, "orphan", 1, state="running")
    item.worker, item.host = 999_999, "elsewhere"
    queue.save(r, item)
    work = r.dir / "exps/work/orphan"
    work.mkdir(parents=True)
    (work / "left.txt").write_text("x")

    [dead] = queue.reap(r)

    assert dead.name == "orphan" and dead.state == "failed"
    assert "pid 999999 on elsewhere" in dead.reason
    assert not work.exists()
    assert "died" in (repo / item.log).read_text()
    assert queue.items(r)[0].state == "failed"


def test_a_removed_item_is_not_claimed_by_a_stale_lock(repo: Path) -> None:
    r = Repo(repo)
    _add(r, "gone", 1)
    stale = os.open(queue.folder(r) / "gone.lock", os.O_RDWR | os.O_CREAT)
    try:
        assert queue.remove(r, ["gone"], False) == ["gone"]
        assert queue.claim(r) is None
        assert not (queue.folder(r) / "gone.lock").exists()
    finally:
        os.close(stale)
