"""A remote at any other fsspec URL (``s3://`` with a profile, through s3fs;
``ssh://``, ``gs://``…). Async filesystems (s3fs) run many requests on one
event loop; others on a thread pool. Puts are atomic by the protocol on
object stores; on other filesystems an object is written to ``tmp/`` and
moved."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from tether.errors import RemoteError
from tether.storage import hashing, safeio
from tether.storage.remotes import source
from tether.storage.remotes.base import (
    MAX_KEY,
    SMALL,
    Remote,
    T,
    object_key,
    threads,
)
from tether.storage.remotes.classify import first_line, is_bucket_missing
from tether.storage.remotes.spec import OWN_OPTIONS, RemoteSpec
from tether.storage.writer import Writer

ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}
_S3_OPTIONS = {
    "endpoint_url": ("client_kwargs", "endpoint_url"),
    "region": ("client_kwargs", "region_name"),
    "access_key_id": ("key",),
    "secret_access_key": ("secret",),
    "session_token": ("token",),
    "profile": ("profile",),
}


def _needs(protocol: str) -> str:
    """What a protocol's fsspec filesystem needs installed, in fsspec's words."""
    from fsspec.registry import known_implementations

    err = known_implementations.get(protocol, {}).get("err")
    return str(err) if err else f"install the fsspec package for {protocol}://"


def storage_options(spec: RemoteSpec) -> dict[str, Any]:
    """fsspec keyword arguments from the remote's options (secrets included:
    they are handed to the library, never printed)."""
    opts: dict[str, Any] = {}
    for key, value in spec.options.items():
        if key in OWN_OPTIONS:
            continue
        if spec.protocol in ("s3", "s3a") and key in _S3_OPTIONS:
            node = opts
            *parents, leaf = _S3_OPTIONS[key]
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        else:
            opts[key] = value
    if spec.protocol in ("s3", "s3a"):
        opts.setdefault("use_listings_cache", False)
        opts.setdefault(
            "config_kwargs",
            {
                "connect_timeout": spec.timeout("connect_timeout"),
                "read_timeout": spec.timeout("read_timeout"),
                "retries": {"max_attempts": 1},
            },
        )
    return opts


class FsspecRemote(Remote):
    def __init__(self, spec: RemoteSpec) -> None:
        import logging

        import fsspec

        # aiohttp reports connections dropped mid-request through asyncio's
        # logger as "Task exception was never retrieved"; the engine already
        # turns them into one clear error
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        self.spec = spec
        try:
            cls = fsspec.get_filesystem_class(spec.protocol)
        except (ImportError, ValueError) as exc:
            raise RemoteError(
                f"remote {spec.name!r}: no filesystem for {spec.protocol}:// "
                f"({first_line(str(exc))})",
                _needs(spec.protocol),
            ) from None
        root = cls._strip_protocol(spec.url)
        self.root = root.rstrip("/")
        try:
            self.fs = cls(**storage_options(spec), skip_instance_cache=True)
        except (TypeError, ValueError) as exc:
            raise RemoteError(f"remote {spec.name!r}: bad option ({exc})") from None
        except (ImportError, OSError) as exc:  # a library or system part it loads is missing
            raise RemoteError(
                f"remote {spec.name!r}: cannot open {spec.protocol}:// "
                f"({first_line(str(exc) or type(exc).__name__)})",
                _needs(spec.protocol),
            ) from None
        if hasattr(self.fs, "retries"):
            self.fs.retries = 1  # the transfer engine retries, with backoff
        self.is_async = bool(getattr(self.fs, "async_impl", False))
        self._lock = threading.Lock()
        self._seq = 0
        self.atomic = spec.protocol in ATOMIC_PUT

    def _key(self, key: str) -> str:
        return f"{self.root}/{key}"

    def probe(self) -> None:
        # S3 creates a missing bucket on a put by an admin on some servers:
        # look at the bucket itself first so a typo is an error, not a new bucket
        top = self.root.split("/", 1)[0] if self.spec.protocol in ("s3", "s3a") else self.root
        try:
            self._call("ls", top, detail=False)
        except FileNotFoundError as exc:
            if is_bucket_missing(exc) or top != self.root:
                raise

    # -- concurrency ---------------------------------------------------------
    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        # Each call blocks its thread; with an async filesystem the threads
        # only wait while one event loop overlaps all their requests.
        threads(fn, items, jobs)

    def _call(self, name: str, *args: Any, **kw: Any) -> Any:
        if self.is_async:
            from fsspec.asyn import sync

            coro: Callable[..., Awaitable[Any]] = getattr(self.fs, "_" + name)
            return sync(self.fs.loop, coro, *args, **kw)
        return getattr(self.fs, name)(*args, **kw)

    # -- objects -------------------------------------------------------------
    def list_prefix(self, prefix: str) -> set[str]:
        try:
            names = self._call("ls", self._key(f"objects/{prefix}"), detail=False)
        except FileNotFoundError as exc:
            if is_bucket_missing(exc):
                raise
            return set()
        out = set()
        for name in names:
            base = str(name).rstrip("/").rsplit("/", 1)[-1]
            if hashing.is_digest(prefix + base):
                out.add(prefix + base)
        return out

    def exists(self, digest: str) -> bool:
        return bool(self._call("exists", self._key(object_key(digest))))

    def object_size(self, digest: str) -> int | None:
        try:
            info = self._call("info", self._key(object_key(digest)))
        except FileNotFoundError as exc:
            if is_bucket_missing(exc):
                raise
            return None
        return int(info.get("size") or 0)

    def list_sizes(self, prefix: str) -> dict[str, int]:
        try:
            found = self._call("find", self._key(prefix), detail=True)
        except FileNotFoundError as exc:
            if is_bucket_missing(exc):
                raise
            return {}
        start = len(self.root) + 1
        return {str(f)[start:]: int(info.get("size") or 0) for f, info in found.items()}

    def upload(self, digest: str, src: str, size: int) -> None:
        final = self._key(object_key(digest))
        if size <= SMALL:
            self._put_bytes(final, source.read(src, digest, size))
            return
        parts = source.chunks(src, digest, size)
        if self.atomic:
            self._stream(final, parts)
            return
        tmp = self._tmp_key()
        try:
            self._stream(tmp, parts)
        except BaseException:
            with contextlib.suppress(Exception):
                self._call("rm_file", tmp)
            raise
        self._call("mv", tmp, final)

    def _stream(self, target: str, parts: Iterator[bytes]) -> None:
        """Write ``parts`` to ``target``; if they fail (a corrupt source), the
        file is discarded unfinished (an object store shows nothing)."""
        f = self.fs.open(target, "wb")
        try:
            for part in parts:
                f.write(part)
        except BaseException:
            if self.atomic:
                with contextlib.suppress(Exception):
                    f.discard()  # aborts a multipart upload
                f.closed = True  # so neither close() nor the finaliser completes it
            else:
                f.close()
            raise
        f.close()

    def _tmp_key(self) -> str:
        """A temporary's key, recognisable by name (``tmp/<pid>-<hex>-<n>``, as
        the cache's writer names them): gc may delete those older than a day."""
        with self._lock:
            self._seq += 1
            seq = self._seq
        with contextlib.suppress(Exception):
            self._call("makedirs", self._key("tmp"), exist_ok=True)
        return self._key(f"tmp/{os.getpid()}-{id(self):x}-{seq}")

    def _put_bytes(self, final: str, data: bytes) -> None:
        if self.atomic:
            self._call("pipe_file", final, data)
            return
        tmp = self._tmp_key()
        self._call("pipe_file", tmp, data)
        self._call("mv", tmp, final)

    def download(self, digest: str, size: int, writer: Writer) -> None:
        key = self._key(object_key(digest))
        what = f"object {digest} on remote {self.name!r}"
        if size <= SMALL:  # size 0: not known (a tree); else one byte more tells a larger one
            data = self._call("cat_file", key, start=0, end=size + 1 if size else None)
            if size:
                safeio.check_size(len(data), size, what)
            writer.put_verified(digest, data, what)
            return
        with writer.temporary_path(digest) as tmp:
            self._call("get_file", key, tmp)
            safeio.check_size(os.stat(tmp).st_size, size, what)
            writer.adopt_verified(digest, tmp, what)

    def read_key(self, key: str) -> bytes | None:
        try:
            data: bytes = self._call("cat_file", self._key(key), start=0, end=MAX_KEY + 1)
        except FileNotFoundError as exc:
            if is_bucket_missing(exc):
                raise
            return None
        safeio.check_size(len(data), MAX_KEY, f"{key} on remote {self.name!r}")
        return data

    def write_key(self, key: str, data: bytes) -> None:
        self._put_bytes(self._key(key), data)

    def read_ranges(self, key: str, spans: list[tuple[int, int]]) -> list[bytes]:
        path = self._key(key)
        out = self._call(
            "cat_ranges", [path] * len(spans), [s for s, _ in spans], [e for _, e in spans]
        )
        for item in out:
            if isinstance(item, BaseException):
                raise item
        return [bytes(b) for b in out]

    def list_keys(self, prefix: str) -> list[str]:
        try:
            found = self._call("find", self._key(prefix))
        except FileNotFoundError:
            return []
        start = len(self.root) + 1
        return sorted(str(f)[start:] for f in found)
