"""Progress on long work: a Rich bar on a terminal, nothing otherwise.

Core code asks for a :class:`Task` and calls ``advance``; whether a bar is
drawn is decided once, by the CLI (terminal, not ``-q``). Rich's progress
module is imported only when a bar is actually drawn.
"""

from __future__ import annotations

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

    def advance(self, files: int, nbytes: int) -> None:
        if self._bar is not None:
            self._done += files
            self._bar.update(self._id, advance=nbytes, done=self._done)


@contextmanager
def transfer(description: str, files: int, nbytes: int) -> Iterator[Transfer]:
    """One bar for a transfer: files done/total, bytes, rate and ETA."""
    if not wanted() or files == 0:
        yield Transfer()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]}/{task.fields[files]} files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield Transfer(bar, bar.add_task(description, total=nbytes, done=0, files=files))
