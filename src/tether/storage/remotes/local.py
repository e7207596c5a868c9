"""A remote that is a folder on this machine (a path or ``file://``): plain
file calls and the same atomic writer as the cache (temp beside the final
name, one filesystem flush, rename)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tether import ownfiles
from tether.errors import DiskFullError, PathError, RemoteError
from tether.storage import hashing, safeio
from tether.storage.odb import ObjectDB
from tether.storage.remotes.base import MAX_KEY, Remote, T, threads
from tether.storage.remotes.classify import remote_full
from tether.storage.remotes.spec import RemoteSpec
from tether.storage.writer import Writer
from tether.yamlio import write_atomic

LAYOUT = ("objects", "packs", "runs", "tmp")  # the folders of a remote that tether writes


class LocalRemote(Remote):
    def __init__(self, spec: RemoteSpec) -> None:
        self.spec = spec
        path = spec.url[len("file://") :] if spec.url.startswith("file://") else spec.url
        self.root = Path(path).expanduser()
        if not self.root.is_absolute():
            raise RemoteError(
                f"remote {spec.name!r}: {spec.url} is a relative path",
                f"use an absolute path: `tether remote modify {spec.name} url /abs/path`",
            )
        self.odb = ObjectDB(self.root)
        self._writer: Writer | None = None
        self._checked = False
        self.link = spec.hardlink

    def _open_writer(self) -> Writer:
        if self._writer is None:
            self._check_layout()
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                self._writer = Writer(self.odb).__enter__()
            except PathError as exc:
                raise self._linked(exc) from None
            except OSError as exc:
                raise _local_error(self.spec, exc) from None
        return self._writer

    def _check_layout(self) -> None:
        """Before the first write: every top folder a push writes into must be
        a real folder of the remote (or absent), never a link to elsewhere."""
        if self._checked:
            return
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

    def upload(self, digest: str, src: str, size: int) -> None:
        writer = self._open_writer()
        try:
            writer.copy_verified(digest, src, f"cache object {digest}", self.link)
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
            write_atomic(path, data)
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
