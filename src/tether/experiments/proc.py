"""The child process of a queued experiment: started in a process group of its
own, it dies with the worker that started it, and a group left behind by a
worker that died is found and killed.

The worker starts ``tether exp exec`` as the leader of a new session (so its
group id is its pid, recorded in the queue item) with ``TETHER_EXP_PARENT``
set to the worker's pid. The child then asks Linux for SIGTERM when its parent
dies (``prctl(PR_SET_PDEATHSIG)``) and answers SIGTERM by killing its whole
group: the stage commands it runs go with it. Where that is not available,
:func:`kill_group` does it later, once the queue sees the worker gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

PARENT_ENV = "TETHER_EXP_PARENT"
_PR_SET_PDEATHSIG = 1


def spawn(cmd: list[str], cwd: Path, out: BinaryIO) -> subprocess.Popen[bytes]:
    """``cmd`` as the leader of a new process group, its output to ``out``."""
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    return subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=out, env=env, start_new_session=True)


def _kill_own_group(_signum: int, _frame: object) -> None:
    os.killpg(0, signal.SIGKILL)


def die_with_parent() -> None:
    """In the child: end the whole group when the worker that started it ends
    (or asks it to, with SIGTERM). Does nothing outside a queue's worker."""
    parent = os.environ.pop(PARENT_ENV, "")
    if not parent.isdigit() or os.getpgid(0) != os.getpid():
        return
    signal.signal(signal.SIGTERM, _kill_own_group)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the worker died before the request took effect
        _kill_own_group(signal.SIGTERM, None)


def signal_group(pgid: int, sig: int) -> None:
    """Signal the group of a child this process started and has not reaped yet
    (so its group id cannot have been reused); SIGTERM asks the child to kill
    the rest of its group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _members_in(pgid: int, folder: Path) -> bool:
    """Whether a live process of group ``pgid`` works in ``folder``: a group id
    alone may have been reused since by an unrelated process."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    inside = str(folder)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            cwd = os.readlink(entry / "cwd")
        except (OSError, ValueError, IndexError):
            continue
        if cwd == inside or cwd.startswith(inside + "/") or cwd.startswith(inside + " "):
            return True
    return False


def kill_group(pgid: int, folder: Path) -> None:
    """Kill what is left of a dead worker's child group working in ``folder``."""
    if pgid > 1 and _members_in(pgid, folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
