"""The persistent experiment queue: ``exp run --queue`` adds items, ``queue
start`` runs them (``experiments.worker``), the other ``queue`` commands look
at and change them.

On disk, below ``.tether/exps/queue/``: one ``<name>.json`` per item (written
whole with ``atomicfile``) and its ``<name>.lock``. A worker holds an
``flock`` on the lock file for the item's whole run, so the kernel frees it
however the worker ends: an item marked ``running`` whose lock is free belongs
to a dead worker (:func:`reap`). Claiming an item takes its lock first and
reads the item again under it, so two workers, in one process or two, never
run the same item. Each item's starting point (a commit of HEAD plus the
uncommitted changes to tracked files when it was queued) is kept by the ref
``refs/tether/queue/<name>`` until the item is done or removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tether import atomicfile, exprefs, gitscm, ownfiles
from tether.errors import UsageError
from tether.experiments import proc, running, setparams
from tether.experiments.run import LOGS, QUEUE, WORK, plan, remove_work_tree
from tether.repo import Repo

REF_PREFIX = exprefs.QUEUE_PREFIX
STATES = ("queued", "running", "done", "failed")
_STOP = "stop"  # the time of the last `queue stop`


@dataclass
class Item:
    name: str
    baseline: str  # HEAD's commit when queued
    branch: str
    start: str  # the starting point's commit (kept by the item's ref)
    changed: list[list[Any]]  # [file, key, value] for each -S value
    order: int  # queued first runs first
    state: str = "queued"
    queued: str = ""  # ISO 8601, UTC
    started: str = ""
    finished: str = ""
    exit_code: int | None = None
    reason: str = ""  # why it failed, when its run did not say
    worker: int = 0  # the pid of the worker running it
    host: str = ""
    pgid: int = 0  # the process group of its child
    commit: str = ""  # the experiment's commit, once recorded
    log: str = ""  # relative to the repository root

    @property
    def overrides(self) -> list[setparams.Override]:
        return [(f, k, v) for f, k, v in self.changed]

    @property
    def params(self) -> dict[str, Any]:
        """The params set, ``"file:key"`` -> value (as ``exp show`` names them)."""
        return {f"{f}:{k}": v for f, k, v in self.changed}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def folder(repo: Repo) -> Path:
    return repo.dir / QUEUE


def _path(repo: Repo, name: str) -> Path:
    return folder(repo) / f"{name}.json"


def _read(path: Path) -> Item | None:
    try:
        doc = json.loads(ownfiles.read_text(path) or "")
        item = Item(**{k: v for k, v in doc.items() if k in Item.__dataclass_fields__})
    except (ValueError, TypeError):
        return None
    return item if item.state in STATES and item.name == path.stem else None


def save(repo: Repo, item: Item) -> None:
    doc = json.dumps({"schema": 1, **asdict(item)}, sort_keys=True)
    atomicfile.write(_path(repo, item.name), doc + "\n")


def items(repo: Repo) -> list[Item]:
    """Every item, in the order they run."""
    found = [_read(p) for p in sorted(folder(repo).glob("*.json"))]
    return sorted((i for i in found if i is not None), key=lambda i: (i.order, i.name))


def enqueue(repo: Repo, sets: list[str], name: str | None) -> list[Item]:
    """Queue one item per combination of ``sets``, from the starting point as it is now."""
    p = plan(repo, sets, name)
    base = time.time_ns()
    added = []
    for i, (exp_name, combo) in enumerate(p.items):
        item = Item(
            name=exp_name,
            baseline=p.baseline,
            branch=p.branch,
            start=p.start,
            changed=[list(o) for o in combo],
            order=base + i,
            queued=now(),
            log=(Path(".tether") / LOGS / f"{exp_name}.log").as_posix(),
        )
        gitscm.set_ref(repo.root, REF_PREFIX + exp_name, p.start)  # before the item exists
        save(repo, item)
        added.append(item)
    return added


def _try_lock(repo: Repo, name: str) -> int | None:
    """The item's lock, taken without waiting; None while a worker holds it."""
    path = folder(repo) / f"{name}.lock"
    ownfiles.real_dir(folder(repo), repo.dir)
    fd = ownfiles.open_file(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino == os.stat(path).st_ino:  # not removed meanwhile
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(fd)
    return None


@contextlib.contextmanager
def _locked(repo: Repo, name: str) -> Iterator[bool]:
    fd = _try_lock(repo, name)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


@dataclass
class Claim:
    """A running item and the lock its worker holds until :func:`finish`."""

    item: Item
    fd: int


def claim(repo: Repo) -> Claim | None:
    """Take the first queued item for this process to run; None when none is left."""
    for candidate in items(repo):
        if candidate.state != "queued":
            continue
        fd = _try_lock(repo, candidate.name)
        if fd is None:
            continue
        item = _read(_path(repo, candidate.name))
        if item is None or item.state != "queued":
            if item is None:  # removed meanwhile: the lock file was made again above
                (folder(repo) / f"{candidate.name}.lock").unlink(missing_ok=True)
            elif item.state == "running":
                _mark_dead(repo, item)
            os.close(fd)
            continue
        item.state, item.started, item.worker = "running", now(), os.getpid()
        item.host, item.finished, item.exit_code, item.reason = os.uname().nodename, "", None, ""
        save(repo, item)
        return Claim(item, fd)
    return None


def finish(repo: Repo, c: Claim, state: str, exit_code: int | None, commit: str, why: str) -> None:
    """Record how a claimed item ended and let its lock go."""
    item = c.item
    item.state, item.exit_code, item.commit, item.reason = state, exit_code, commit, why
    item.finished, item.pgid = now(), 0
    try:
        save(repo, item)
        if state == "done":
            gitscm.delete_refs(repo.root, [REF_PREFIX + item.name])
    finally:
        os.close(c.fd)


def _mark_dead(repo: Repo, item: Item) -> None:
    """An item whose worker died (its lock was free): kill what is left of its
    child, remove its work tree, and mark it failed, with a line in its log."""
    work = repo.dir / WORK / item.name
    proc.kill_group(item.pgid, work)
    if work.exists():
        remove_work_tree(repo, work)
    running.clear(repo, item.name)
    why = f"its worker (pid {item.worker} on {item.host}) died"
    log = repo.root / item.log
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        f.write(f"\ntether: {why}; the experiment was not recorded\n")
    item.state, item.finished, item.reason, item.pgid = "failed", now(), why, 0
    save(repo, item)


def reap(repo: Repo) -> list[Item]:
    """Mark every running item whose worker is gone as failed; those items."""
    dead = []
    for item in items(repo):
        if item.state != "running":
            continue
        with _locked(repo, item.name) as mine:
            again = _read(_path(repo, item.name)) if mine else None
            if again is not None and again.state == "running":
                _mark_dead(repo, again)
                dead.append(again)
    return dead


def status(repo: Repo) -> list[Item]:
    reap(repo)
    return items(repo)


def listed(repo: Repo, recorded: set[str]) -> list[Item]:
    """The items ``exp show`` lists with the experiments: queued and running
    ones, and failed ones whose run recorded no experiment (named in
    ``recorded``): their worker died, or the run could not start."""
    if not folder(repo).is_dir():
        return []
    return [
        i
        for i in status(repo)
        if i.state in ("queued", "running") or (i.state == "failed" and i.name not in recorded)
    ]


def all_names(repo: Repo) -> set[str]:
    """The name of every item, whatever its state."""
    return {i.name for i in items(repo)} if folder(repo).is_dir() else set()


def _pick(repo: Repo, names: list[str], everything: bool) -> list[Item]:
    found = {i.name: i for i in status(repo)}
    if everything:
        return list(found.values())
    if not names:
        raise UsageError("name the queued experiments", "or pass --all")
    for n in names:
        if n not in found:
            raise UsageError(f"no queued experiment named {n!r}", "see `tether queue status`")
    return [found[n] for n in sorted(set(names))]


def _running(name: str) -> UsageError:
    return UsageError(
        f"{name} is running",
        "wait for it, or stop its `tether queue start` (Ctrl-C), then try again",
    )


def remove(repo: Repo, names: list[str], everything: bool) -> list[str]:
    """Take items off the queue (queued, failed or done; a running one is refused)."""
    chosen = _pick(repo, names, everything)
    if not everything:
        for item in chosen:
            if item.state == "running":
                raise _running(item.name)
    gone = []
    for item in chosen:
        fd = _try_lock(repo, item.name)
        if fd is None:  # running (with --all: left alone)
            if everything:
                continue
            raise _running(item.name)
        try:
            _path(repo, item.name).unlink(missing_ok=True)
            (folder(repo) / f"{item.name}.lock").unlink(missing_ok=True)
        finally:
            os.close(fd)
        gone.append(item.name)
    refs = {r for r, _ in gitscm.refs_under(repo.root, REF_PREFIX)}
    gitscm.delete_refs(repo.root, sorted(refs & {REF_PREFIX + n for n in gone}))
    return gone


def retry(repo: Repo, names: list[str], everything: bool = False) -> list[str]:
    """Queue failed items again (``everything``: every failed one). Their failed
    record, if any, stays until the new run records its own in its place."""
    if everything and names:
        raise UsageError("name items or pass --all, not both", "see `tether queue retry --help`")
    chosen = _pick(repo, names, everything)
    if everything:
        chosen = [i for i in chosen if i.state == "failed"]
    for item in chosen:
        if item.state != "failed":
            raise UsageError(f"{item.name} is {item.state}, not failed", "only failed items retry")
    for item in chosen:
        with _locked(repo, item.name) as mine:
            if not mine:
                raise _running(item.name)
            item.state, item.started, item.finished, item.exit_code = "queued", "", "", None
            item.reason, item.worker, item.host, item.commit = "", 0, "", ""
            item.order = time.time_ns()
            save(repo, item)
    return [i.name for i in chosen]


def request_stop(repo: Repo) -> int:
    """Ask every running ``queue start`` to claim nothing more; how many items run."""
    atomicfile.write(folder(repo) / _STOP, f"{time.time()}\n")
    return sum(1 for i in status(repo) if i.state == "running")


def stop_requested(repo: Repo, since: float) -> bool:
    """Whether ``queue stop`` ran after ``since`` (a time.time())."""
    try:
        return float(ownfiles.read_text(folder(repo) / _STOP) or 0) >= since
    except ValueError:
        return False


def log_of(repo: Repo, name: str) -> Path | None:
    """The item's log file; None while it has none (not started yet)."""
    item = _pick(repo, [name], False)[0]
    log = repo.root / item.log
    return log if log.is_file() else None
