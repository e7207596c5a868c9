"""The temporaries tether writes beside workspace files, and their leftovers.

A workspace file (a checked-out object, a pointer file, a .gitignore) is
written under a temporary name in its final folder, then renamed, so readers
see the old or the new file, never half of one. The temporary name is short
and of fixed length, ``.`` + 12 hex digits + ``.tether-tmp``, so however long
the final name is (up to the 255 bytes a folder entry allows) the temporary
fits too. One pattern matches every such name: ``tether init`` puts it in the
root ``.gitignore``, and commands that write into a folder under the
repository lock delete what matches it there, since only a process that was
killed outright leaves one behind. Names left by older versions of tether
(``.NAME.PID.N.tether-tmp``, ``.NAME.tether.XXXXXXXX.tmp``) count as
leftovers too. A user's own ``notes.tether-tmp`` matches none of these and is
data like any other file.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading

SUFFIX = ".tether-tmp"
GITIGNORE = "." + "?" * 12 + SUFFIX  # the .gitignore line for every temporary
_LEFTOVER = re.compile(
    r"\.[0-9a-f]{12}\.tether-tmp"  # this version
    r"|\..+\.[0-9]+\.[0-9]+\.tether-tmp"  # older checkouts: .NAME.PID.N.tether-tmp
    r"|\..+\.tether\.[a-z0-9_]{8}\.tmp"  # older pointer files: .NAME.tether.XXXXXXXX.tmp
)


def beside(dest: str) -> str:
    """A fresh temporary name in the folder of ``dest``."""
    return os.path.join(os.path.dirname(dest), f".{os.urandom(6).hex()}{SUFFIX}")


_live: set[str] = set()  # temporaries this process is writing now
_live_mutex = threading.Lock()


def claim(dest: str) -> str:
    """:func:`beside`, and remembered as being written until :func:`release`:
    :func:`remove_leftovers` in another thread of this process leaves it alone
    (``repro -j``: one stage's outputs checked out while another's are stored)."""
    tmp = beside(dest)
    with _live_mutex:
        _live.add(tmp)
    return tmp


def release(tmp: str) -> None:
    with _live_mutex:
        _live.discard(tmp)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of tether's temporaries."""
    return name.endswith((SUFFIX, ".tmp")) and _LEFTOVER.fullmatch(name) is not None


def remove_leftovers(folder: str) -> None:
    """Delete the temporaries in ``folder`` (not below it) but those this
    process is writing (:func:`claim`). Only call it under the repository
    lock: then no other living tether process is writing one."""
    try:
        with os.scandir(folder) as it:
            found = [e.path for e in it if is_temporary(e.name) and not e.is_dir()]
    except OSError:
        return
    with _live_mutex:
        found = [p for p in found if p not in _live]
    for path in found:
        with contextlib.suppress(OSError):
            os.unlink(path)
