"""Store many files at once in forked worker processes.

Adding 20,000 small files is bound by system calls: an open, a read, a
create, a write and a rename per file, issued one after another. Two
processes on two cores store them in about 55% of the time one takes
(docs/benchmarks.md), where threads made it slower (every short call hands
the GIL over).

The workers are forked, so they share the parent's imports and the item list
and nothing has to be pickled on the way in. Each one stores its share of
the items through its own :class:`Writer` (so its objects are whole and
durable before it exits normally), streams one ``DIGEST NEWBYTES`` line per
item back through a pipe, and leaves with ``os._exit`` (no cleanup of the
parent's state runs twice). The parent reads the pipes and hands each
result to the caller as it comes (state rows, tree entries, progress: its
bookkeeping overlaps the workers'); it returns once every worker has
finished cleanly. A failing worker's exception is pickled back and raised in
the parent once the others have stopped; Ctrl-C reaches every process of the
group (or the parent passes it on) and each one discards its temporaries,
as a single ``add`` does. A worker that sees Ctrl-C says so before it
exits, and the parent stops the others and raises KeyboardInterrupt, so the
command ends as interrupted whichever process the signal reached first.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import signal
import struct
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, TypeVar

from tether.errors import TetherError
from tether.storage.fileio import write_all
from tether.storage.odb import ObjectDB
from tether.storage.writer import Writer

T = TypeVar("T")

MIN_ITEMS = 1000  # below this, forking costs more than it saves
MIN_BYTES = 64 << 20  # ... unless a few large files can be hashed side by side
MAX_JOBS = 8
_PER_ITEM = 64 << 10  # a file's fixed cost, in bytes of reading, for balancing
_HEADER = struct.Struct("!cI")
_BATCH = 256  # items per progress message


def default_jobs() -> int:
    """One worker per CPU this process may run on, at most :data:`MAX_JOBS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS))


def worth_forking(count: int, nbytes: int, jobs: int) -> bool:
    if jobs < 2 or count < 2 or not sys.platform.startswith("linux"):
        return False  # fork is only safe enough, and only measured, on Linux
    return count >= MIN_ITEMS or nbytes >= MIN_BYTES


def shares(sizes: Sequence[int], jobs: int) -> list[list[int]]:
    """Split item indices into ``jobs`` lists of about equal work, each in item
    order (neighbouring files stay together; a large file is balanced by the
    small ones)."""
    loads = [0] * jobs
    out: list[list[int]] = [[] for _ in range(jobs)]
    for i, size in enumerate(sizes):
        k = loads.index(min(loads))
        out[k].append(i)
        loads[k] += size + _PER_ITEM
    return [s for s in out if s]


Done = Callable[[int, str], None]


def store_many(
    writer: Writer,
    items: Sequence[T],
    sizes: Sequence[int],
    store: Callable[[Writer, T], str],
    done: Done,
    jobs: int,
) -> None:
    """``store(writer, item)`` for every item, in up to ``jobs`` processes when
    that pays. ``done(index, digest)`` runs in this process as each result
    comes in (in no set order), so the caller's bookkeeping overlaps the
    workers'; an object is in place once ``store_many`` returns. Objects
    written by workers are counted in ``writer`` like its own."""
    if not worth_forking(len(items), sum(sizes), jobs):
        for i, item in enumerate(items):
            done(i, store(writer, item))
        return
    writer.commit()  # nothing of the parent's may be half-published while workers run
    new = _run(writer.odb, items, shares(sizes, jobs), store, done)
    writer.count(len(new), sum(new.values()))


def _send(fd: int, kind: bytes, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(kind, len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _child(
    odb: ObjectDB,
    items: Sequence[T],
    mine: list[int],
    store: Callable[[Writer, T], str],
    out: int,
) -> NoReturn:
    def interrupted(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second one must not cut the cleanup
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    code = 0
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the parent
        lines: list[str] = []
        with Writer(odb) as writer:
            try:
                for i in mine:
                    before, before_bytes = writer.written, writer.written_bytes
                    digest = store(writer, items[i])
                    new = writer.written_bytes - before_bytes if writer.written > before else -1
                    lines.append(f"{digest} {new}\n")
                    if len(lines) >= _BATCH:
                        _send(out, b"D", "".join(lines).encode())
                        lines.clear()
            except BaseException:
                # the writer deletes its temporaries next: the parent's Ctrl-C
                # (sent when another worker failed too) must not cut that short
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                raise
        # the writer committed on leaving its block: every object is in place
        _send(out, b"D", "".join(lines).encode())
        _send(out, b"F", b"")
    except KeyboardInterrupt:
        code = 130
        with contextlib.suppress(OSError):
            _send(out, b"I", b"")  # the parent may never see the signal itself
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
        code = 1
        import pickle  # here: a no-op status forks too, and never needs it

        try:
            payload = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        with contextlib.suppress(OSError):
            _send(out, b"E", payload)
    os._exit(code)


class _Worker:
    def __init__(self, pid: int, fd: int, mine: list[int]) -> None:
        self.pid = pid
        self.fd = fd
        self.mine = mine
        self.done = 0  # items reported
        self.buf = b""
        self.finished = False
        self.error: BaseException | None = None
        self.interrupted = False  # stopped by Ctrl-C (its own or the parent's)
        self.status: int | None = None


def _run(
    odb: ObjectDB,
    items: Sequence[T],
    split: list[list[int]],
    store: Callable[[Writer, T], str],
    done: Done,
) -> dict[str, int]:
    """Run the workers; the objects they wrote (digest -> bytes, each once)."""
    new: dict[str, int] = {}
    workers: list[_Worker] = []
    try:
        for mine in split:
            child = functools.partial(_child, odb, items, mine, store)

            def started(pid: int, r: int, mine: list[int] = mine) -> None:
                workers.append(_Worker(pid, r, mine))

            _spawn([w.fd for w in workers], child, started)
        _collect(workers, new, done)
    except BaseException:
        _stop(workers)
        raise
    finally:
        _reap(workers)
    for w in workers:
        if w.error is not None:
            raise w.error
    if any(w.interrupted for w in workers):
        raise KeyboardInterrupt  # whichever process the Ctrl-C reached first
    for w in workers:
        if not w.finished or w.status != 0:
            raise TetherError(
                f"a worker process stopped before it finished (exit status {w.status})",
                "run the command again; nothing half-written was kept",
            )
    return new


def _collect(workers: list[_Worker], new: dict[str, int], done: Done) -> None:
    sel = selectors.DefaultSelector()
    try:
        for w in workers:
            sel.register(w.fd, selectors.EVENT_READ, w)
        open_ = len(workers)
        stopping = False
        while open_:
            for key, _ in sel.select():
                w = key.data
                data = os.read(w.fd, 1 << 16)
                if not data:
                    sel.unregister(w.fd)
                    open_ -= 1
                    continue
                if _parse(w, data, new, done) and not stopping:
                    stopping = True  # one failed or was interrupted: the rest stop too
                    _stop([x for x in workers if x is not w])
    finally:
        sel.close()


def _parse(w: _Worker, data: bytes, new: dict[str, int], done: Done) -> bool:
    """Take whole messages from ``w``'s buffer; True when one said that ``w``
    failed or was interrupted."""
    w.buf += data
    erred = False
    while len(w.buf) >= _HEADER.size:
        kind, length = _HEADER.unpack_from(w.buf)
        end = _HEADER.size + length
        if len(w.buf) < end:
            break
        payload, w.buf = w.buf[_HEADER.size : end], w.buf[end:]
        if kind == b"D":
            for line in payload.decode().splitlines():
                digest, nbytes = line.split(" ")
                done(w.mine[w.done], digest)
                w.done += 1
                if nbytes != "-1":
                    new[digest] = int(nbytes)
        elif kind == b"F":
            w.finished = w.done == len(w.mine)
        elif kind == b"E":
            import pickle

            w.error = pickle.loads(payload)  # noqa: S301 - from our own forked child
            erred = True
        elif kind == b"I":
            w.interrupted = True
            erred = True
    return erred


def _stop(workers: list[_Worker]) -> None:
    """Ask workers to stop as Ctrl-C does: each discards its temporaries."""
    for w in workers:
        if w.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGINT)


def _reap(workers: list[_Worker]) -> None:
    """Close the pipes and wait for every worker, even through a Ctrl-C
    (passed on to the workers, then raised once all are gone)."""
    interrupted = False
    for w in workers:
        with contextlib.suppress(OSError):
            os.close(w.fd)
        while w.status is None:
            try:
                _, status = os.waitpid(w.pid, 0)
            except KeyboardInterrupt:
                interrupted = True
                _stop([w])
                continue
            w.status = os.waitstatus_to_exitcode(status)
    if interrupted:
        raise KeyboardInterrupt


def map_forked(func: Callable[[T], bytes], shares: Sequence[T]) -> list[bytes] | None:
    """``func(share)`` for every share, each in a forked process of its own:
    the results in order, or None when any process failed (the caller then
    does the work itself and meets the error there). For read-only work:
    Ctrl-C simply ends the processes."""
    procs: list[tuple[int, int]] = []
    statuses: list[int] = []
    try:
        for share in shares:

            def run_one(out: int, share: T = share) -> NoReturn:
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # nothing to clean up
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
                write_all(out, func(share))
                os._exit(0)

            _spawn([r for _, r in procs], run_one, lambda pid, r: procs.append((pid, r)))
        results = []
        for _, r in procs:
            chunks = []
            while chunk := os.read(r, 1 << 16):
                chunks.append(chunk)
            results.append(b"".join(chunks))
    except BaseException:
        for pid, _ in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise
    finally:
        for pid, r in procs:
            os.close(r)
            statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    if -signal.SIGINT in statuses:
        raise KeyboardInterrupt  # Ctrl-C reached a process before this one
    return results if all(code == 0 for code in statuses) else None


def _spawn(
    others: list[int],
    child: Callable[[int], NoReturn],
    started: Callable[[int, int], object],
) -> None:
    """Fork a process that runs ``child(write_end)`` and never comes back;
    ``started(pid, read_end)`` records it in the parent. ``others`` (earlier
    children's read ends) are closed in the new child.

    Ctrl-C is held back across the fork, so one arriving inside fork's own
    hooks cannot escape both sides: blocked for the child, which unblocks it
    once its handler is set; deferred in the parent until ``started`` has
    recorded the child (so a Ctrl-C right after the fork cannot lose it
    unstopped and unreaped), then raised. A child that raises exits 130.
    """
    r, w = os.pipe()
    with _ctrl_c_deferred():
        _fork(r, w, others, child, started)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Run the block whole: a Ctrl-C during it takes effect when it ends.

    Blocking SIGINT is not enough in the parent: the kernel hands the signal
    to any other thread (a progress bar's), and Python then raises
    KeyboardInterrupt in the main thread at once. So its Python handler is
    swapped for one that only notes the signal (possible in the main thread
    only; elsewhere KeyboardInterrupt is never raised anyway)."""
    seen: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: seen.append(signum))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if seen:
            signal.raise_signal(signal.SIGINT)  # to the handler now in place


def _fork(
    r: int,
    w: int,
    others: list[int],
    child: Callable[[int], NoReturn],
    started: Callable[[int, int], object],
) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        try:
            with warnings.catch_warnings():  # 3.12+ warns when a bar's thread runs;
                warnings.simplefilter("ignore", DeprecationWarning)  # the child uses none
                pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            raise
        if pid == 0:  # pragma: no cover - the child; its work is checked by the parent
            try:
                os.close(r)
                for fd in others:
                    os.close(fd)
                child(w)
            finally:
                os._exit(130)  # never back into the parent's code
        os.close(w)
        started(pid, r)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
