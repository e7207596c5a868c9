"""Put cache objects into the workspace: reflink, copy, hardlink or symlink.

The order comes from config (``cache.link``, default ``[reflink, copy]``);
the first kind the filesystem supports wins. Every kind writes under a
temporary name beside the target and renames, so an interrupted checkout
never leaves a half-written file. Objects are verified before they are
linked (a copy verifies while it copies), so corrupt data never reaches
the workspace. Hardlinks and symlinks share the read-only cache file: the
workspace file is then read-only too, which protects the cache.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from tether import tempfiles
from tether.errors import (
    ConfigError,
    CorruptObjectError,
    MissingObjectError,
    UsageError,
    raise_if_denied,
    raise_if_disk_full,
)
from tether.storage import hashing, safeio
from tether.storage.fileio import write_all
from tether.storage.odb import ObjectDB
from tether.storage.state import StateDB

LINK_TYPES = ("reflink", "copy", "hardlink", "symlink")
_FICLONE = 0x40049409
_UNSUPPORTED = {
    errno.EOPNOTSUPP,
    errno.EXDEV,
    errno.EINVAL,
    errno.ENOTTY,
    errno.ENOSYS,
    errno.EPERM,
}


_WHOLE = ("hardlink", "symlink")  # kinds that never leave a half-written file


class _NotSupported(Exception):
    pass


def validate_order(order: list[str]) -> list[str]:
    bad = [k for k in order if k not in LINK_TYPES]
    if bad or not order:
        raise ConfigError(
            f"cache.link: unknown link type(s) {bad or order}",
            f"use some of {', '.join(LINK_TYPES)}",
        )
    return order


def work_tree_order(order: list[str]) -> list[str]:
    """The link order for a work tree made to run in and then thrown away (an
    experiment's): a hardlink where a copy would come next. Such a tree is only
    read and written by the pipeline, which removes a stage's outputs (or gives
    persisted ones their own copy) before the stage runs, and the shared cache
    file is read-only; one ``link`` per file instead of writing its bytes into a
    new inode makes a tree of 20,000 files ready in a fraction of the time. A
    cache on another filesystem falls back to the next kind."""
    if "copy" not in order or "hardlink" in order:
        return list(order)
    at = order.index("copy")
    return [*order[:at], "hardlink", *order[at:]]


class Linker:
    def __init__(self, odb: ObjectDB, order: list[str], state: StateDB) -> None:
        self.odb = odb
        self.order = validate_order(order)
        self.state = state
        self._dead: set[str] = set()
        self._made: set[str] = set()

    def link(self, digest: str, dest: str | Path, executable: bool, name: str) -> os.stat_result:
        """Place the object at ``dest``; the stat of what is there now."""
        dest = os.fspath(dest)
        parent = os.path.dirname(dest)
        if parent not in self._made:  # one mkdir per folder, not per file
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        for kind in self.order:
            if kind in self._dead:
                continue
            if kind in _WHOLE and (made := self._link_new(kind, digest, dest, executable, name)):
                return made
            tmp = tempfiles.claim(dest)
            try:
                try:
                    getattr(self, "_" + kind)(digest, tmp, executable, name)
                except FileNotFoundError:
                    if os.path.isdir(parent):
                        raise
                    os.makedirs(parent, exist_ok=True)  # removed since we made it
                    getattr(self, "_" + kind)(digest, tmp, executable, name)
                os.replace(tmp, dest)
            except _NotSupported:
                self._dead.add(kind)
                continue
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                if isinstance(exc, OSError):
                    raise_if_disk_full(exc, dest)
                    raise_if_denied(exc, name, f"in {parent}")
                raise
            finally:
                tempfiles.release(tmp)
            # stat after the rename, which moves the change time
            st = os.stat(dest)
            self.state.put(st, digest)
            return st
        raise UsageError(
            f"none of the link types {self.order} works here", "add copy to cache.link"
        )

    def _link_new(
        self, kind: str, digest: str, dest: str, executable: bool, name: str
    ) -> os.stat_result | None:
        """Make a link where nothing is yet, with no temporary: a link appears
        whole or not at all. None when something is in the way (then it is
        replaced through a temporary) or the folder is gone."""
        try:
            getattr(self, "_" + kind)(digest, dest, executable, name)
        except (FileExistsError, FileNotFoundError):
            return None
        except _NotSupported:
            self._dead.add(kind)
            return None
        except OSError as exc:
            raise_if_disk_full(exc, dest)
            raise_if_denied(exc, name, f"in {os.path.dirname(dest)}")
            raise
        st = os.stat(dest)
        self.state.put(st, digest)
        return st

    def _verified(self, digest: str, name: str) -> str:
        return self.odb.check_file(digest, name, self.state)

    def _reflink(self, digest: str, tmp: str, executable: bool, name: str) -> None:
        src = self._verified(digest, name)
        sfd = safeio.open_regular(src, f"{name}: cache object {digest}")
        with open(sfd, "rb") as s, open(tmp, "xb") as d:
            import fcntl

            try:
                fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
            except OSError as exc:
                d.close()
                os.unlink(tmp)
                if exc.errno in _UNSUPPORTED:
                    raise _NotSupported from None
                raise
        os.chmod(tmp, 0o755 if executable else 0o644)

    def _copy(self, digest: str, tmp: str, executable: bool, name: str) -> None:
        src = self.odb.file(digest)
        try:
            sfd = safeio.open_regular(src, f"{name}: cache object {digest}")
        except FileNotFoundError:
            raise MissingObjectError(f"{name}: object {digest} is not in the cache") from None
        try:
            size = os.fstat(sfd).st_size
            data = os.read(sfd, size + 1) if size <= hashing.SMALL else None
            dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if executable else 0o644)
            try:
                if data is not None:  # small: one read, no chunk buffer
                    actual = hashing.hash_bytes(data)
                    if actual == digest:
                        write_all(dfd, data)
                else:
                    actual, _ = hashing.hash_fd(sfd, lambda chunk: write_all(dfd, chunk))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
        if actual != digest:
            os.unlink(tmp)
            raise CorruptObjectError(f"{name}: cache object {digest} is corrupt (digest mismatch)")

    def _hardlink(self, digest: str, tmp: str, executable: bool, name: str) -> None:
        src = self._verified(digest, name)
        try:
            os.link(src, tmp)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                raise _NotSupported from None
            raise

    def _symlink(self, digest: str, tmp: str, executable: bool, name: str) -> None:
        src = self._verified(digest, name)
        os.symlink(os.path.realpath(src), tmp)
