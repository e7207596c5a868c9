"""tether's own working files (``.tether/tmp/``, the cache): never reached through a link.

A cloned repository can commit anything under ``.tether/`` (``git add -f``),
so a symlink, folder or FIFO may sit where tether expects its lock, state
database or cache folders. :meth:`tether.repo.Repo.find` refuses a project
whose git index holds such files; these helpers are the second wall: every
folder tether creates for itself is checked to be a real folder, and every
file it opens for itself is opened without following a link and checked to
be a regular file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tether.errors import PathError

_HINT = "delete it (a cloned repository may have planted it); tether recreates its own files"


def refuse(path: Path | str, what: str) -> PathError:
    return PathError(f"{path} is {what}, where tether keeps its own files", _HINT)


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words for an error message."""
    for test, name in (
        (stat.S_ISREG, "a file"),
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a device"


def check_dir(path: Path | str) -> bool:
    """True if ``path`` is a real folder, False if absent; refuse anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        raise refuse(path, kind(st.st_mode))
    return True


def real_dir(path: Path, top: Path) -> Path:
    """Make ``path`` (``top`` or below it) a folder, creating what is missing;
    refuse a symlink or a non-folder at any level below ``top`` (which the
    caller trusts: a cache location configured on this machine may be a link)."""
    os.makedirs(top, exist_ok=True)
    current = top
    for part in path.relative_to(top).parts:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            check_dir(current)
    return path


def check_file(path: Path | str) -> bool:
    """True if ``path`` is a regular file, False if absent; refuse anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise refuse(path, kind(st.st_mode))
    return True


def open_file(path: Path | str, flags: int, mode: int = 0o644) -> int:
    """``os.open`` for one of tether's own files: a symlink, folder, FIFO or
    device in its place is refused (never followed, never blocked on)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(path, "a symlink") from None
        if exc.errno == errno.EISDIR:
            raise refuse(path, "a folder") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise refuse(path, kind(st.st_mode))
    os.set_blocking(fd, True)
    return fd


def read_text(path: Path | str) -> str | None:
    """The text of one of tether's own files, or None if there is none."""
    try:
        fd = open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read().decode("utf-8", "replace")
