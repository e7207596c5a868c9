"""The ``.gitignore`` files tether keeps in step with what it tracks.

A ``.gitignore`` is committed, so a cloned repository chooses it: a symlink
there would have tether read the file it points at (``/proc/self/environ``,
a key file) and stage its content into git, and a FIFO would block the read
forever. tether reads and writes a ``.gitignore`` only when it is a regular
file (or absent), in a folder :func:`paths.confine` accepts for writing; the
write replaces the file atomically, never following a link.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from tether import atomicfile, paths, untrusted
from tether.errors import MetadataError, PathError

NAME = ".gitignore"
_HINT = "tether edits only a regular .gitignore: replace it with a regular file, or remove it"


def of_folder(folder: str) -> str:
    """The workspace path of the .gitignore of workspace folder ``folder``."""
    return posixpath.join(folder, NAME)


def read(root: Path, gi: str) -> list[str] | None:
    """The lines of workspace file ``gi``, None when there is none."""
    full = root / gi
    try:
        mode: int | None = os.lstat(full).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise MetadataError(
            f"{gi}: not a regular file but a symlink, which tether never reads or replaces", _HINT
        )
    if mode is not None and not stat.S_ISREG(mode):
        raise MetadataError(f"{gi}: not a regular file (a folder, FIFO, socket or device)", _HINT)
    try:  # its folders: inside the workspace, out of .git/ and .tether/, no link
        paths.confine(root, gi, gi)
    except PathError as exc:
        raise MetadataError(exc.message, exc.hint) from None
    if mode is None:
        return None
    return untrusted.read_text(full, gi, follow=False).splitlines()


def write(root: Path, gi: str, lines: list[str]) -> None:
    """Replace ``gi`` (read with :func:`read` first) with ``lines``; none: delete it."""
    if lines:
        atomicfile.write(root / gi, "\n".join(lines) + "\n")
    else:
        (root / gi).unlink()
