"""Listing every file of a remote with its size and time, and deleting one:
what ``tether gc --remote`` needs beyond the transfer protocol (:class:`Remote`),
kept apart because nothing else lists temporaries or deletes."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from tether.storage.remotes.base import Remote
from tether.storage.remotes.fsspec_remote import FsspecRemote
from tether.storage.remotes.local import LocalRemote
from tether.storage.remotes.memory import MemoryRemote
from tether.storage.remotes.s3 import S3Remote


class Listed(NamedTuple):
    key: str  # from the remote's root, "/"-separated
    size: int
    time: float  # last change, Unix seconds (a local file's ctime counts: a hard link is new)


def scan(remote: Remote, prefix: str) -> list[Listed]:
    """Every file under the folder ``prefix``, temporaries included, sorted by key."""
    if isinstance(remote, LocalRemote):
        found = _scan_local(remote.root, prefix)
    elif isinstance(remote, S3Remote):
        found = _scan_s3(remote, prefix)
    elif isinstance(remote, FsspecRemote):
        found = _scan_fsspec(remote, prefix)
    elif isinstance(remote, MemoryRemote):
        top = prefix.rstrip("/") + "/"
        found = [Listed(k, len(v), 0.0) for k, v in remote.keys.items() if k.startswith(top)]
    else:  # pragma: no cover - every backend is listed above
        raise TypeError(f"cannot list {type(remote).__name__}")
    return sorted(found)


def delete(remote: Remote, key: str) -> None:
    """Delete the file ``key``; one already gone is no error."""
    if isinstance(remote, LocalRemote):
        path = remote.root / key
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):  # never a link or folder put there
                os.unlink(path)
        except FileNotFoundError:
            return
    elif isinstance(remote, S3Remote):
        import obstore

        obstore.delete(remote.store, remote.prefix + key)
    elif isinstance(remote, FsspecRemote):
        try:
            remote._call("rm_file", f"{remote.root}/{key}")
        except FileNotFoundError:
            return
    elif isinstance(remote, MemoryRemote):
        remote.requests.append(("delete", key))
        remote.keys.pop(key, None)
    else:  # pragma: no cover
        raise TypeError(f"cannot delete on {type(remote).__name__}")


def _scan_local(root: Path, prefix: str) -> list[Listed]:
    out: list[Listed] = []
    top = root / prefix
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return out  # a link in a folder's place: nothing behind it is provably ours
    except FileNotFoundError:
        return out
    for folder, dirs, files in os.walk(top):  # links to folders are listed, never entered
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append(Listed(f"{rel}/{name}", st.st_size, max(st.st_mtime, st.st_ctime)))
        dirs.sort()
    return out


def _scan_s3(remote: S3Remote, prefix: str) -> list[Listed]:
    import obstore

    out = []
    start = remote.prefix + prefix.rstrip("/") + "/"
    for page in obstore.list(remote.store, start, chunk_size=1000):
        for meta in page:
            when = meta["last_modified"]
            out.append(
                Listed(meta["path"][len(remote.prefix) :], int(meta["size"]), when.timestamp())
            )
    return out


def _time(info: dict[str, Any]) -> float:
    """An fsspec listing's time of last change; unknown counts as now (never old)."""
    for key in ("LastModified", "last_modified", "mtime", "created", "ctime"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    import time

    return time.time()


def _scan_fsspec(remote: FsspecRemote, prefix: str) -> list[Listed]:
    try:
        found = remote._call("find", f"{remote.root}/{prefix}", detail=True)
    except FileNotFoundError:
        return []
    start = len(remote.root) + 1
    return [
        Listed(str(path)[start:], int(info.get("size") or 0), _time(info))
        for path, info in found.items()
        if info.get("type", "file") == "file"
    ]
