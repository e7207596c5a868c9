"""Progress on long work: a Rich bar on a terminal, nothing otherwise.

Core code asks for a :class:`Task` and calls ``advance``; whether a bar is
drawn is decided once, by the CLI (terminal, not ``-q``). Rich's progress
module is imported only when a bar is actually drawn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_enabled = False


def enable(on: bool) -> None:
    global _enabled  # noqa: PLW0603 - one switch set by the CLI root
    _enabled = on


def wanted() -> bool:
    return _enabled and sys.stderr.isatty()


class Task:
    def __init__(self, bar: Any = None, task_id: Any = None) -> None:
        self._bar = bar
        self._id = task_id

    def advance(self, files: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._id, files)


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    if not wanted():
        yield Task()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield Task(bar, bar.add_task(description, total=total))


class Transfer:
    def __init__(self, bar: Any = None, task_id: Any = None) -> None:
        self._bar = bar
        self._id = task_id
        self._done = 0
        self._partial = 0  # bytes of the item in progress already shown

    def advance(self, files: int, nbytes: int) -> None:
        if self._bar is not None:
            self._done += files
            shown, self._partial = min(self._partial, nbytes), max(0, self._partial - nbytes)
            self._bar.update(self._id, advance=nbytes - shown, done=self._done)

    def partial(self, nbytes: int) -> None:
        """Bytes of an item not finished yet (a large file as it is copied)."""
        if self._bar is not None:
            self._partial += nbytes
            self._bar.update(self._id, advance=nbytes)


_streaming: tuple[int, Transfer] | None = None  # (process, bar) fed by :func:`copied`
_waiting: Any = None  # the line of :func:`waiting` while it is shown
_timer: Any = None  # off a terminal: the notice :func:`waiting` prints if it lasts


@contextmanager
def waiting(description: str) -> Iterator[None]:
    """On a terminal, a line saying what the command waits for and for how
    long (a remote that does not answer), until the first transfer bar takes
    its place or the block ends. Off a terminal (a CI log) nothing is shown
    unless the wait passes :data:`QUIET_WAIT` seconds before the first
    transfer starts: then one plain line says what the command waits for, so
    a job is not silent for minutes."""
    global _waiting  # noqa: PLW0603 - one line at a time per process
    if not wanted():
        with _said_after(description if _enabled else None):
            yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    line = Progress(
        SpinnerColumn(),
        TextColumn(description),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    line.add_task(description, total=None)
    line.start()
    _waiting = line
    try:
        yield
    finally:
        _stop_waiting()


QUIET_WAIT = float(os.environ.get("TETHER_WAIT_NOTICE", "15"))  # seconds


@contextmanager
def _said_after(description: str | None) -> Iterator[None]:
    """Print ``description`` once on stderr if the block lasts QUIET_WAIT s."""
    if description is None:
        yield
        return
    import threading

    def say() -> None:
        sys.stderr.write(f"{description} (for over {QUIET_WAIT:g} s)\n")
        sys.stderr.flush()

    global _timer  # noqa: PLW0603 - one line at a time per process
    _timer = threading.Timer(QUIET_WAIT, say)
    _timer.daemon = True
    _timer.start()
    try:
        yield
    finally:
        _stop_waiting()


def _stop_waiting() -> None:
    global _waiting, _timer  # noqa: PLW0603
    if _timer is not None:
        _timer.cancel()
        _timer = None
    if _waiting is not None:
        line, _waiting = _waiting, None
        line.stop()


def copied(nbytes: int) -> None:
    """Called by the store for each chunk it copies: moves the bar of a
    ``transfer(stream=True)`` of this process (never one a forked worker inherited)."""
    if _streaming is not None and _streaming[0] == os.getpid():
        _streaming[1].partial(nbytes)


def eta(elapsed: float | None, done: float, total: float | None) -> str:
    """Time left at the average rate so far; unknown until 1% and a second are
    behind us (a first estimate from a few bytes reads as days)."""
    if not total or elapsed is None or done >= total:
        return "0:00:00" if total and done >= total else "-:--:--"
    if elapsed < 1.0 or done < total / 100:
        return "-:--:--"
    left = int(elapsed * (total - done) / done)
    return f"{left // 3600}:{left // 60 % 60:02}:{left % 60:02}"


@contextmanager
def transfer(description: str, files: int, nbytes: int, stream: bool = False) -> Iterator[Transfer]:
    """One bar for a transfer: files done/total, bytes, rate and ETA. With
    ``stream`` the bar also moves while a large file is copied into the store."""
    global _streaming  # noqa: PLW0603 - one bar at a time per process
    if files > 0:
        _stop_waiting()  # the bar (or, off a terminal, the work) shows from here on
    if not wanted() or files == 0:
        yield Transfer()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class Eta(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(eta(task.elapsed, task.completed, task.total), "progress.remaining")

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]}/{task.fields[files]} files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        Eta(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        t = Transfer(bar, bar.add_task(description, total=nbytes, done=0, files=files))
        outer, _streaming = _streaming, ((os.getpid(), t) if stream else _streaming)
        try:
            yield t
        finally:
            _streaming = outer
