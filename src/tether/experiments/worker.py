"""``tether queue start``: run queued experiments, ``jobs`` at a time, until
none is left.

Each worker is a thread of this process that claims an item
(:func:`queue.claim`), runs it through ``run.run_one`` in its own work tree,
its child in a process group of its own (``experiments.proc``), and records
how it ended. ``queue stop`` lets the running items finish and claims nothing
more. Ctrl-C (SIGINT) or SIGTERM stops now: each running child's group is
killed, its experiment recorded as failed with its log, its work tree
removed, and the item marked failed (``queue retry`` queues it again).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import EXIT_INTERRUPTED, TetherError
from tether.experiments import proc, queue
from tether.experiments.record import Note
from tether.experiments.run import run_one
from tether.repo import Repo

_GRACE = 5.0  # seconds a stopped child's group gets before SIGKILL
OnEnd = Callable[[queue.Item, Note | None], None]


@dataclass(frozen=True)
class Child:
    """What each experiment's child runs in its work tree (checkout, then repro),
    and the modules the fork server imports once for all of them."""

    main: Callable[[], int]
    preload: tuple[str, ...]


@dataclass
class Outcome:
    ended: list[queue.Item] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return sum(1 for i in self.ended if i.state != "done")


class _Pool:
    def __init__(self, repo: Repo, child: Child, on_end: OnEnd) -> None:
        self.repo = repo
        self.main = child.main
        self.forks = proc.Forks(child.preload)
        self.on_end = on_end
        self.since = time.time()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.groups: dict[str, int] = {}  # running item -> its child's process group
        self.outcome = Outcome()
        self.workers = 0  # still working: counted here, as a Ctrl-C in Thread.join
        # can leave the thread looking ended while it runs

    def work(self) -> None:
        try:
            while not self.stopping.is_set() and not queue.stop_requested(self.repo, self.since):
                c = queue.claim(self.repo)
                if c is None:
                    return
                self._run(c)
        finally:
            with self.lock:
                self.workers -= 1

    def wait(self, deadline: float | None = None) -> bool:
        """Sleep until every worker has ended (True) or ``deadline`` passed (False)."""
        while self.workers:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _launcher(self, c: queue.Claim) -> Callable[[Path, Path], int]:
        def started(pid: int) -> None:
            with self.lock:
                self.groups[c.item.name] = pid
                if self.stopping.is_set():
                    proc.signal_group(pid, signal.SIGTERM)
            c.item.pgid = pid
            queue.save(self.repo, c.item)

        def launch(cwd: Path, log: Path) -> int:
            if self.stopping.is_set():
                return EXIT_INTERRUPTED
            try:
                return self.forks.run(self.main, cwd, log, started)
            finally:
                with self.lock:
                    self.groups.pop(c.item.name, None)

        return launch

    def _run(self, c: queue.Claim) -> None:
        item = c.item
        note = None
        try:
            note = run_one(
                self.repo, item.baseline, item.branch, item.start, item.name,
                item.overrides, self._launcher(c),
            )  # fmt: skip
            why = "interrupted" if self.stopping.is_set() and note.state != "done" else ""
            queue.finish(self.repo, c, note.state, note.exit_code, note.commit, why)
        except TetherError as exc:
            queue.finish(self.repo, c, "failed", None, "", str(exc))
        except BaseException as exc:  # a bug: recorded, then shown by the thread
            queue.finish(self.repo, c, "failed", None, "", f"{type(exc).__name__}: {exc}")
            raise
        with self.lock:
            self.outcome.ended.append(item)
            self.on_end(item, note)

    def stop_children(self, sig: int) -> None:
        with self.lock:
            groups = list(self.groups.values())
        for pgid in groups:
            proc.signal_group(pgid, sig)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def start(repo: Repo, jobs: int, child: Child, on_end: OnEnd) -> Outcome:
    """Run queued items with ``jobs`` workers until none is left (or stopped)."""
    queue.reap(repo)
    pool = _Pool(repo, child, on_end)
    threads = [threading.Thread(target=pool.work, daemon=True) for _ in range(max(1, jobs))]
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    try:
        pool.workers = len(threads)
        for t in threads:
            t.start()
        pool.wait()
    except KeyboardInterrupt:
        pool.outcome.interrupted = True
        _interrupt(pool, in_main)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return pool.outcome


def _interrupt(pool: _Pool, in_main: bool) -> None:
    """Stop every running child now, and let the workers record how they ended;
    a second Ctrl-C does not cut that short."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN) if in_main else None
    try:
        pool.stopping.set()
        pool.stop_children(signal.SIGTERM)
        if not pool.wait(time.monotonic() + _GRACE):
            pool.stop_children(signal.SIGKILL)
            pool.wait()
    finally:
        if old_int is not None:
            signal.signal(signal.SIGINT, old_int)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
