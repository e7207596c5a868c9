"""The child process of a queued experiment: forked ready to run, in a process
group of its own, dying with the ``queue start`` that started it; and a group
left behind by a ``queue start`` that died, found and killed.

Children come from a fork server (``multiprocessing``'s ``forkserver``) that
imported tether once: a child starts in milliseconds instead of importing
everything again, which is most of a small experiment's cost. Each child
starts a new session (its process group id is its pid, recorded in the queue
item), takes the parent's environment of the moment, sends its output to the
experiment's log and runs the ``main`` it was given in the work tree. On Linux
it asks for SIGTERM when the fork server ends (which it does when ``queue
start`` ends, however: it reads a pipe whose other end only that process
holds) through ``prctl(PR_SET_PDEATHSIG)``, and it answers SIGTERM by killing
its whole group, stage commands included. :func:`kill_group` cleans up after
a worker that died where that is not available.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def _kill_own_group(_signum: int, _frame: object) -> None:
    os.killpg(0, signal.SIGKILL)


def _die_with_parent(parent: int | None = None) -> None:
    """Answer SIGTERM by killing this process's group, and (on Linux) get
    SIGTERM when the parent (pid ``parent``, by default the present one) ends."""
    parent = os.getppid() if parent is None else parent
    signal.signal(signal.SIGTERM, _kill_own_group)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the request took effect
        _kill_own_group(signal.SIGTERM, None)


def _child(main: Callable[[], int], cwd: str, log: str, env: dict[str, str]) -> None:
    os.setsid()
    _die_with_parent()
    os.environ.clear()
    os.environ.update(env)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # nothing else of the fork server's: among its descriptors is the pipe whose
    # end tells it that ``queue start`` is gone, which must close with that process
    os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 1024))
    os.chdir(cwd)
    sys.exit(main())


PARENT_ENV = "TETHER_EXP_PARENT"  # the pid of the ``exp run`` whose child this is


def launch_child(cmd: list[str], cwd: Path, log: Path) -> int:
    """Run ``cmd`` (a ``tether exp exec``) in ``cwd`` in a new session, its output
    appended to ``log``, dying with this process (:func:`child_started`); its exit
    code. Interrupted here (Ctrl-C), its whole group is stopped before this returns."""
    import subprocess

    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    with log.open("ab") as out:
        child = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=out, env=env, start_new_session=True
        )
    try:
        return child.wait()
    except BaseException:
        signal_group(child.pid, signal.SIGTERM)  # the child kills its group
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            signal_group(child.pid, signal.SIGKILL)
            child.wait()
        raise


def child_started() -> None:
    """In a child :func:`launch_child` started: die with the parent that started
    it, stage commands included."""
    parent = os.environ.pop(PARENT_ENV, "")
    if parent.isdigit():
        _die_with_parent(int(parent))


class Forks:
    """Starts children from one fork server holding ``preload`` imported."""

    def __init__(self, preload: Iterable[str]) -> None:
        import multiprocessing

        self._ctx: Any = multiprocessing.get_context("forkserver")
        self._lock = threading.Lock()
        self._ctx.set_forkserver_preload(list(preload))

    def run(
        self, main: Callable[[], int], cwd: Path, log: Path, on_start: Callable[[int], None]
    ) -> int:
        """Run ``main`` in a child in ``cwd``, its output appended to ``log``;
        ``on_start`` gets its pid (its process group) first. Its exit code
        (negative: the signal that ended it)."""
        from multiprocessing.connection import wait

        child = self._ctx.Process(target=_child, args=(main, str(cwd), str(log), dict(os.environ)))
        # a child's exit status is read once from a pipe, by its join or by the
        # poll of every child that a start does: one thread at a time reads
        with self._lock:
            child.start()
        try:
            on_start(child.pid)
        finally:
            wait([child.sentinel])
            with self._lock:
                child.join()
                code: int = child.exitcode
                child.close()
        return code


def signal_group(pgid: int, sig: int) -> None:
    """Signal the group of a child this process started and has not reaped yet
    (so its id cannot have been reused); SIGTERM asks the child to kill the
    rest of its group. A child that has not made its group yet gets it alone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)
    except PermissionError:
        pass


def _members_in(pgid: int | None, folder: Path) -> bool:
    """Whether a live process of group ``pgid`` (of any group: None) works in
    ``folder``: a group id alone may have been reused since by an unrelated
    process."""
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
            if fields[0] == "Z" or (pgid is not None and int(fields[2]) != pgid):
                continue
            cwd = os.readlink(entry / "cwd")
        except (OSError, ValueError, IndexError):
            continue
        if cwd == inside or cwd.startswith(inside + "/") or cwd.startswith(inside + " "):
            return True
    return False


def works_in(folder: Path) -> bool:
    """Whether any live process has its working folder in ``folder`` (below
    it included), such as what is left of a killed run's child."""
    return _members_in(None, folder.resolve())


def kill_group(pgid: int, folder: Path) -> None:
    """Kill what is left of a dead worker's child group working in ``folder``."""
    if pgid > 1 and _members_in(pgid, folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
