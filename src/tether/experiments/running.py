"""Whether an experiment is running now, so that ``exp clean`` never takes a
running experiment's work tree away.

Whoever runs an experiment (``exp run``, or any runner going through
:func:`tether.experiments.run.run_one`) holds an ``flock`` on
``.tether/exps/work/<name>.lock`` for as long as the run lasts. The kernel
frees it when the holder exits, however it exits, so a run that was killed
leaves an unlocked file: not running. A work tree with no lock file beside it
was made by a runner that takes no lock; it counts as running while it has
changed within the last :data:`UNLOCKED_GRACE` seconds.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tether import ownfiles
from tether.errors import UsageError
from tether.repo import Repo

WORK = "exps/work"  # below .tether/: the work trees of running experiments
UNLOCKED_GRACE = 3600


def lock_path(repo: Repo, name: str) -> Path:
    return repo.dir / WORK / f"{name}.lock"


class Held:
    """The run lock of one experiment, held until :meth:`release` (or the process ends)."""

    def __init__(self, repo: Repo, name: str) -> None:
        path = self._path = lock_path(repo, name)
        ownfiles.real_dir(path.parent, repo.dir)
        self._fd: int | None = ownfiles.open_file(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)  # the file is the running holder's: left in place
            raise UsageError(
                f"an experiment named {name} is running", "pick another --name"
            ) from None

    def release(self) -> None:
        """Delete the lock file, then let go of the lock: a finished run leaves none."""
        if self._fd is not None:
            self._path.unlink(missing_ok=True)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def hold(repo: Repo, name: str) -> Held:
    return Held(repo, name)


def clear(repo: Repo, name: str) -> None:
    """Delete the run lock a killed runner left (none held: a live run keeps its own)."""
    path = lock_path(repo, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return  # none, or not a file tether made
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)  # while held: no runner can be taking it
    except BlockingIOError:
        pass  # running after all
    finally:
        os.close(fd)


def _locked(path: Path) -> bool | None:
    """Whether a process holds ``path``'s flock; None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # not ours to judge (a folder, a link): leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def is_running(repo: Repo, name: str) -> bool:
    """True while a process runs the experiment ``name``."""
    locked = _locked(lock_path(repo, name))
    if locked is not None:
        return locked
    work = repo.dir / WORK / name
    try:
        return time.time() - work.stat().st_mtime < UNLOCKED_GRACE
    except FileNotFoundError:
        return False
