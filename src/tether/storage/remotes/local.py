"""A remote that is a folder on this machine (a path or ``file://``): plain
file calls and the same atomic writer as the cache (temp beside the final
name, one filesystem flush, rename)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tether import atomicfile, ownfiles
from tether.errors import CorruptObjectError, DiskFullError, PathError, RemoteError
from tether.storage import hashing, safeio
from tether.storage.fileio import copy_hashing
from tether.storage.odb import ObjectDB
from tether.storage.remotes.base import MAX_KEY, Remote, T, threads
from tether.storage.remotes.classify import remote_full
from tether.storage.remotes.spec import RemoteSpec
from tether.storage.writer import TRANSFER, Writer

LAYOUT = ("objects", "packs", "runs", "tmp")  # the folders of a remote that tether writes


def folder(spec: RemoteSpec) -> Path:
    """The folder a ``file`` remote names (``~`` expanded)."""
    path = spec.url[len("file://") :] if spec.url.startswith("file://") else spec.url
    return Path(path).expanduser()


def make_folder(spec: RemoteSpec, parents: bool) -> bool:
    """Create the folder of a new remote (``tether remote add``): only when its
    parent exists, unless ``parents``; True if it was created (False too when
    it cannot be: the remote is recorded, and push names the problem). A
    missing parent more likely means a mistyped path than a tree to make."""
    root = folder(spec)
    if not root.is_absolute() or root.exists() or not (parents or root.parent.is_dir()):
        return False
    try:
        root.mkdir(parents=parents)
    except OSError:
        return False
    return True


class LocalRemote(Remote):
    def __init__(self, spec: RemoteSpec) -> None:
        self.spec = spec
        self.root = folder(spec)
        if not self.root.is_absolute():
            raise RemoteError(
                f"remote {spec.name!r}: {spec.url} is a relative path",
                f"use an absolute path: `tether remote modify {spec.name} url /abs/path`",
            )
        self.odb = ObjectDB(self.root)
        self._writer: Writer | None = None
        self._checked = False
        self.link = spec.hardlink

    def probe(self) -> None:
        """The folder must exist, as a bucket must: a mistyped path is one
        error, never a new folder tree (``tether remote add`` creates it)."""
        try:
            is_dir = stat.S_ISDIR(os.stat(self.root).st_mode)
        except FileNotFoundError:
            raise RemoteError(
                f"remote {self.name!r} ({self.spec.url}): no such folder {self.root}",
                f"create it (`mkdir {self.root}`) if that is the right place, or fix the "
                f"url: `tether remote modify {self.name} url PATH`",
            ) from None
        except OSError as exc:
            raise _local_error(self.spec, exc) from None
        if not is_dir:
            raise RemoteError(
                f"remote {self.name!r} ({self.spec.url}): {self.root} is not a folder",
                f"fix the url: `tether remote modify {self.name} url PATH`",
            )

    def _open_writer(self) -> Writer:
        if self._writer is None:
            self._check_layout()
            try:
                self._writer = Writer(self.odb, batch=TRANSFER).__enter__()
            except PathError as exc:
                raise self._linked(exc) from None
            except OSError as exc:
                raise _local_error(self.spec, exc) from None
        return self._writer

    def _check_layout(self) -> None:
        """Before the first write: the remote's folder exists, and every top
        folder a push writes into is a real folder of it (or absent), never a
        link to elsewhere."""
        if self._checked:
            return
        self.probe()
        try:
            for top in LAYOUT:
                ownfiles.check_dir(self.root / top)
        except PathError as exc:
            raise self._linked(exc) from None
        self._checked = True

    def _linked(self, exc: PathError) -> RemoteError:
        """A folder inside the remote that is a link (or no folder): written
        through, it would take pushed data wherever the link points."""
        where = exc.message.split(", where tether", 1)[0]
        return RemoteError(
            f"remote {self.name!r}: {where}; tether writes only into the remote's own folders",
            "make it a real folder (move what the link points to into it), "
            f"or point the remote elsewhere: `tether remote modify {self.name} url PATH`",
        )

    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        threads(fn, items, jobs)

    def list_prefix(self, prefix: str) -> set[str]:
        try:
            names = os.listdir(self.odb.objects / prefix)
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise _local_error(self.spec, exc) from None
        return {prefix + n for n in names if hashing.is_digest(prefix + n)}

    def exists(self, digest: str) -> bool:
        return self.odb.exists(digest)

    def object_size(self, digest: str) -> int | None:
        return self.odb.size(digest)

    def list_sizes(self, prefix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for folder, dirs, files in os.walk(self.root / prefix):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            for name in files:
                if name.startswith("."):
                    continue
                try:
                    st = os.lstat(f"{folder}/{name}")
                except FileNotFoundError:
                    continue
                out[f"{rel}/{name}"] = st.st_size
        return out

    def replace(self, digest: str, src: str, size: int) -> None:
        """Over a damaged copy: copied (verified) to a temporary beside it,
        flushed, renamed over it. Copied, never hard-linked: whatever damaged
        the old copy in place would reach the cache's file through a link."""
        self._check_layout()
        final = self.odb.path(digest)
        try:
            folder = ownfiles.real_dir(final.parent, self.root)
        except PathError as exc:
            raise self._linked(exc) from None
        tmp = folder / f".tmp-{os.getpid()}-{os.urandom(4).hex()}-0"
        try:
            with safeio.opened(src, f"cache object {digest}", size or None) as sfd:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
                try:
                    actual, _ = copy_hashing(sfd, fd)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            if actual != digest:
                raise CorruptObjectError(f"cache object {digest} is corrupt; not uploaded")
            os.replace(tmp, final)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                raise _local_error(self.spec, exc) from None
            raise

    def upload(self, digest: str, src: str, size: int) -> None:
        writer = self._open_writer()
        try:
            writer.copy_verified(digest, src, f"cache object {digest}", self.link, size)
        except PermissionError as exc:
            raise _local_error(self.spec, exc) from None
        except DiskFullError:  # the remote's disk, not this machine's cache
            raise remote_full(self.spec) from None

    def download(self, digest: str, size: int, writer: Writer) -> None:
        src = self.odb.file(digest)
        what = f"object {digest} on remote {self.name!r}"
        try:  # size 0: not known (a tree, or an object named by its digest alone)
            writer.copy_verified(digest, src, what, self.link, size or None)
        except FileNotFoundError:
            raise FileNotFoundError(digest) from None

    def read_key(self, key: str) -> bytes | None:
        try:
            return safeio.read(self.root / key, f"{key} on remote {self.name!r}", MAX_KEY)
        except FileNotFoundError:
            return None

    def read_ranges(self, key: str, spans: list[tuple[int, int]]) -> list[bytes]:
        with safeio.opened(self.root / key, f"{key} on remote {self.name!r}") as fd:
            return [os.pread(fd, end - start, start) for start, end in spans]

    def write_key(self, key: str, data: bytes) -> None:
        path = self.root / key
        self._check_layout()
        try:
            ownfiles.real_dir(path.parent, self.root)
            atomicfile.write(path, data)
        except PathError as exc:
            raise self._linked(exc) from None
        except OSError as exc:
            raise _local_error(self.spec, exc) from None

    def list_keys(self, prefix: str) -> list[str]:
        top = self.root / prefix
        if not top.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in top.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.commit()
            except DiskFullError:
                raise remote_full(self.spec) from None
            finally:
                writer.discard()  # temporaries of unfinished objects, if any


def _local_error(spec: RemoteSpec, exc: OSError) -> RemoteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return remote_full(spec)
    return RemoteError(
        f"remote {spec.name!r} ({spec.url}): {exc.strerror or exc}",
        "check that the folder exists and is writable, or fix its url with "
        f"`tether remote modify {spec.name} url PATH`",
    )
