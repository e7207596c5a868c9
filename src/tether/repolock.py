"""The repository lock: one writer at a time, the others wait briefly, then
learn who holds it.

It is an ``flock`` on ``.tether/tmp/lock``, so the kernel frees it when the
holder exits, however it exits: a lock is never left stale. The file holds
the holder's pid, host, start time and command, for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from tether import ownfiles
from tether.errors import LockError, PathError

DEFAULT_WAIT = 5.0


def _wait_seconds() -> float:
    try:
        return float(os.environ.get("TETHER_LOCK_WAIT", DEFAULT_WAIT))
    except ValueError:
        return DEFAULT_WAIT


def _holder(path: Path) -> str:
    try:
        info = json.loads(ownfiles.read_text(path) or "")
        since = time.strftime("%H:%M:%S", time.localtime(info["since"]))
        return f"pid {info['pid']} on {info['host']}, running `{info['command']}` since {since}"
    except (OSError, ValueError, KeyError, TypeError, PathError):
        return "another process"


@contextlib.contextmanager
def locked(path: Path, command: str, wait: float | None = None) -> Iterator[None]:
    ownfiles.real_dir(path.parent, path.parent.parent)
    deadline = time.monotonic() + (_wait_seconds() if wait is None else wait)
    fd = ownfiles.open_file(path, os.O_RDWR | os.O_CREAT)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(f"the repository is locked by {_holder(path)}") from None
                time.sleep(0.05)
        info = {
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "since": time.time(),
            "command": command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
