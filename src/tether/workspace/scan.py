"""Walk tracked paths and learn each file's digest, reading only what changed.

Walking uses ``os.scandir`` and one ``stat`` per file; the state database
turns (inode, size, mtime) into a digest without reading. Only the files it
does not know are read and hashed.
"""

from __future__ import annotations

import os
import stat as statmod
from dataclasses import dataclass
from pathlib import Path

from tether.errors import PathError
from tether.storage import hashing
from tether.storage.state import StateDB
from tether.storage.tree import Entry

TMP_SUFFIX = ".tether-tmp"


@dataclass(slots=True)
class FileStat:
    rel: str  # relative to the scanned top (a tracked folder), POSIX
    path: str  # absolute
    st: os.stat_result

    @property
    def executable(self) -> bool:
        return bool(self.st.st_mode & statmod.S_IXUSR)


def _follow(path: str, rel_shown: str, roots: tuple[Path, ...]) -> os.stat_result:
    """Stat a symlink's target, which must be a file inside the workspace or cache."""
    target = Path(path).resolve()
    if not any(target == r or target.is_relative_to(r) for r in roots):
        raise PathError(f"{rel_shown}: symlink points outside the workspace ({target})")
    try:
        st = os.stat(target)
    except OSError:
        raise PathError(f"{rel_shown}: broken symlink") from None
    if not statmod.S_ISREG(st.st_mode):
        raise PathError(f"{rel_shown}: symlink to a folder or special file is not supported")
    return st


def scan(top: Path, shown: str, roots: tuple[Path, ...]) -> list[FileStat]:
    """Every regular file below ``top``, sorted by relative path."""
    out: list[FileStat] = []
    stack: list[tuple[str, str]] = [(str(top), "")]
    while stack:
        dirpath, prefix = stack.pop()
        with os.scandir(dirpath) as it:
            for entry in it:
                name = entry.name
                if name.endswith(TMP_SUFFIX):
                    continue
                rel = prefix + name
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    raise PathError(f"{shown}/{rel!r}: file name is not valid UTF-8") from None
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/"))
                    continue
                if entry.is_symlink():
                    st = _follow(entry.path, f"{shown}/{rel}", roots)
                else:
                    st = entry.stat(follow_symlinks=False)
                    if not statmod.S_ISREG(st.st_mode):
                        raise PathError(f"{shown}/{rel}: not a regular file (fifo, socket, device)")
                out.append(FileStat(rel, entry.path, st))
    out.sort(key=lambda f: f.rel)
    return out


def stat_file(path: Path, shown: str, roots: tuple[Path, ...]) -> os.stat_result:
    if path.is_symlink():
        return _follow(str(path), shown, roots)
    st = os.stat(path)
    if not statmod.S_ISREG(st.st_mode):
        raise PathError(f"{shown}: not a regular file")
    return st


def digest_of(f: FileStat, state: StateDB) -> str:
    """A file's digest: from the state database, else by reading it."""
    known = state.get(f.st)
    if known is not None:
        return known
    digest, _ = hashing.hash_file(f.path)
    state.put(f.st, digest)
    return digest


def fingerprint(files: list[FileStat]) -> str:
    """One digest of every file's path, inode, size, mtime, ctime and mode: equal means
    nothing in the folder was touched, so its tree digest can be reused."""
    text = "\0".join(
        f"{f.rel}\0{f.st.st_ino}\0{f.st.st_size}\0{f.st.st_mtime_ns}\0{f.st.st_ctime_ns}\0{f.st.st_mode}"
        for f in files
    )
    return hashing.hash_bytes(text.encode("utf-8"))


def entries(files: list[FileStat], state: StateDB) -> list[Entry]:
    """Tree entries for scanned files; the hot loop of a no-op ``status``."""
    get = state.get
    out = []
    for f in files:
        st = f.st
        digest = get(st) or digest_of(f, state)
        out.append(Entry(f.rel, digest, st.st_size, bool(st.st_mode & statmod.S_IXUSR)))
    return out
