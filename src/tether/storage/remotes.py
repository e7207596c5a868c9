"""Remotes: where objects go to be shared. A remote holds the cache's objects
under ``objects/`` (same fan-out), small ones possibly in ``packs/`` (see
:mod:`tether.storage.packs`), plus ``runs/`` for the run-cache.

Two backends behind one small interface:

* :class:`LocalRemote` — a path on this machine (or ``file://``): plain file
  calls and the same atomic writer as the cache (temp beside the final name,
  one filesystem flush, rename).
* :class:`FsspecRemote` — any other fsspec URL (``s3://`` through s3fs,
  ``ssh://``, ``gs://``…). Async filesystems (s3fs) run many requests on one
  event loop; others on a thread pool. S3 puts are atomic by the protocol;
  on other filesystems an object is written to ``tmp/`` and moved.

Every call that fails is classified: permanent failures (no such bucket,
bad credentials, no permission, unreachable endpoint after retries) raise a
:class:`~tether.errors.RemoteError` naming the remote and what to fix;
transient ones are retried with backoff by the transfer engine.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tether.errors import DiskFullError, RemoteError, TransientRemoteError
from tether.storage import hashing
from tether.storage.odb import ObjectDB
from tether.storage.writer import Writer

T = TypeVar("T")
SMALL = 4 << 20  # objects up to this size move in one request, in memory
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}
_S3_OPTIONS = {
    "endpoint_url": ("client_kwargs", "endpoint_url"),
    "region": ("client_kwargs", "region_name"),
    "access_key_id": ("key",),
    "secret_access_key": ("secret",),
    "session_token": ("token",),
    "profile": ("profile",),
}
_OWN_OPTIONS = {"url", "jobs", "hardlink", "pack"}

# What a committed (so cloned, untrusted) config may set for a remote: where
# the data goes and how to reach it, nothing that makes the library write on
# this machine. Chained URLs (``filecache::…``), caching and in-process
# filesystems (``memory``, ``reference``, ``local``…) and every other option
# (``cache_storage``, ``target_protocol``, ``client_kwargs``…) may come only
# from config.local.yaml.
COMMITTED_PROTOCOLS = {
    "file": {"hardlink"},
    "s3": {"endpoint_url", "region", "profile", "use_ssl", "anon", "requester_pays"},
    "gs": {"project", "requester_pays"},
    "az": {"account_name"},
    "ssh": {"port", "username"},
    "http": set(),
    "hdfs": {"host", "port", "user"},
    "webhdfs": {"host", "port", "user"},
}
for _alias, _same in {
    "s3a": "s3",
    "gcs": "gs",
    "abfs": "az",
    "abfss": "az",
    "sftp": "ssh",
    "https": "http",
}.items():
    COMMITTED_PROTOCOLS[_alias] = COMMITTED_PROTOCOLS[_same]


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    options: dict[str, Any]

    @property
    def protocol(self) -> str:
        scheme = urlsplit(self.url).scheme
        return "file" if len(scheme) <= 1 else scheme  # 1 letter: a Windows drive

    @property
    def jobs(self) -> int:
        configured = self.options.get("jobs")
        if configured is not None:
            try:
                jobs = int(configured)
            except (TypeError, ValueError):
                raise RemoteError(f"remote {self.name!r}: jobs must be a number") from None
            if jobs < 1:
                raise RemoteError(f"remote {self.name!r}: jobs must be at least 1")
            return jobs
        # Local disks: threads measured slower than one (GIL, directory locks).
        return 1 if self.protocol == "file" else 32

    @property
    def packs(self) -> bool:
        """Whether a push packs small objects: yes for every remote but a local
        folder (where hard links cost less than any pack), unless ``pack: false``."""
        value = self.options.get("pack")
        if value is None:
            return self.protocol != "file"
        return value not in (False, "false", "no", "0", "off")


def check_committed(spec: RemoteSpec, committed: set[str]) -> None:
    """Refuse a remote whose URL or options (``committed``: the option names
    set by the committed config) a cloned repository could turn against this
    machine."""
    from tether.errors import ConfigError

    local = f"set it for this machine only: `tether remote modify --local {spec.name} OPTION VALUE`"
    if "url" in committed and (
        spec.protocol not in COMMITTED_PROTOCOLS or ("::" in spec.url and spec.protocol != "file")
    ):
        raise ConfigError(
            f".tether/config.yaml: remote {spec.name!r}: {spec.protocol}:// URLs (chained, "
            "caching or in-process filesystems) may not come from a committed file",
            local.replace("OPTION VALUE", "url URL"),
        )
    allowed = _OWN_OPTIONS | COMMITTED_PROTOCOLS.get(spec.protocol, set())
    refused = sorted(committed - allowed)
    if refused:
        raise ConfigError(
            f".tether/config.yaml: remote {spec.name!r}: option {refused[0]!r} may not come "
            "from a committed file (a clone could make it write on this machine)",
            local,
        )


def _needs(protocol: str) -> str:
    """What a protocol's fsspec filesystem needs installed, in fsspec's words."""
    from fsspec.registry import known_implementations

    err = known_implementations.get(protocol, {}).get("err")
    return str(err) if err else f"install the fsspec package for {protocol}://"


def object_key(digest: str) -> str:
    return f"objects/{digest[:2]}/{digest[2:]}"


class Remote:
    """What the transfer engine needs from a remote."""

    spec: RemoteSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        raise NotImplementedError

    def list_prefix(self, prefix: str) -> set[str]:
        raise NotImplementedError

    def exists(self, digest: str) -> bool:
        raise NotImplementedError

    def upload(self, digest: str, src: str, size: int) -> None:
        raise NotImplementedError

    def download(self, digest: str, size: int, writer: Writer) -> None:
        """Fetch one object into ``writer``, verified against ``digest``."""
        raise NotImplementedError

    def read_key(self, key: str) -> bytes | None:
        raise NotImplementedError

    def write_key(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def read_ranges(self, key: str, spans: list[tuple[int, int]]) -> list[bytes]:
        """The bytes ``[start, end)`` of each span of ``key``; FileNotFoundError
        if there is no such key. (This default reads the whole key once.)"""
        data = self.read_key(key)
        if data is None:
            raise FileNotFoundError(key)
        return [data[start:end] for start, end in spans]

    def close(self) -> None:
        """Publish what was written (a local remote flushes and renames)."""

    def probe(self) -> None:
        """One cheap request that fails the way the remote is broken, if it is."""


def _read_verified(src: str, digest: str) -> bytes:
    """A small cache object's bytes, refused if they do not hash to its name."""
    with open(src, "rb") as f:
        data = f.read()
    if hashing.hash_bytes(data) != digest:
        from tether.errors import CorruptObjectError

        raise CorruptObjectError(f"cache object {digest} is corrupt; not uploaded")
    return data


def _threads(fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)))
    try:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()
    finally:
        # on the first failure (or Ctrl-C) drop what has not started
        pool.shutdown(wait=True, cancel_futures=True)


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
        hardlink = spec.options.get("hardlink", True)
        self.link = hardlink not in (False, "false", "no", "0", "off")

    def _open_writer(self) -> Writer:
        if self._writer is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _local_error(self.spec, exc) from None
            self._writer = Writer(self.odb).__enter__()
        return self._writer

    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        _threads(fn, items, jobs)

    def list_prefix(self, prefix: str) -> set[str]:
        try:
            names = os.listdir(self.odb.objects / prefix)
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise _local_error(self.spec, exc) from None
        return {prefix + n for n in names if len(n) == 30 and not n.startswith(".")}

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
        try:
            writer.copy_verified(digest, src, f"object {digest} on remote {self.name!r}", self.link)
        except FileNotFoundError:
            raise FileNotFoundError(digest) from None

    def read_key(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def write_key(self, key: str, data: bytes) -> None:
        from tether.yamlio import write_atomic

        try:
            write_atomic(self.root / key, data)
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


def storage_options(spec: RemoteSpec) -> dict[str, Any]:
    """fsspec keyword arguments from the remote's options (secrets included:
    they are handed to the library, never printed)."""
    opts: dict[str, Any] = {}
    for key, value in spec.options.items():
        if key in _OWN_OPTIONS:
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
            {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 1}},
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
                f"({_first_line(str(exc))})",
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
                f"({_first_line(str(exc) or type(exc).__name__)})",
                _needs(spec.protocol),
            ) from None
        if hasattr(self.fs, "retries"):
            self.fs.retries = 1  # the transfer engine retries, with backoff
        self.is_async = bool(getattr(self.fs, "async_impl", False))
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
        _threads(fn, items, jobs)

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
            if len(base) == 30:
                out.add(prefix + base)
        return out

    def exists(self, digest: str) -> bool:
        return bool(self._call("exists", self._key(object_key(digest))))

    def upload(self, digest: str, src: str, size: int) -> None:
        final = self._key(object_key(digest))
        if size <= SMALL:
            data = _read_verified(src, digest)
            self._put_bytes(final, data)
            return
        target = final if self.atomic else self._key(f"tmp/{digest}.{os.getpid()}")
        self._call("put_file", src, target)
        if not self.atomic:
            self._call("mv", target, final)

    def _put_bytes(self, final: str, data: bytes) -> None:
        if self.atomic:
            self._call("pipe_file", final, data)
            return
        tmp = self._key(f"tmp/{final.rsplit('/', 1)[-1]}.{os.getpid()}")
        with contextlib.suppress(Exception):
            self._call("makedirs", self._key("tmp"), exist_ok=True)
        self._call("pipe_file", tmp, data)
        self._call("mv", tmp, final)

    def download(self, digest: str, size: int, writer: Writer) -> None:
        key = self._key(object_key(digest))
        what = f"object {digest} on remote {self.name!r}"
        if size <= SMALL:
            data = self._call("cat_file", key)
            writer.put_verified(digest, data, what)
            return
        with writer.temporary_path(digest) as tmp:
            self._call("get_file", key, tmp)
            writer.adopt_verified(digest, tmp, what)

    def read_key(self, key: str) -> bytes | None:
        try:
            data: bytes = self._call("cat_file", self._key(key))
        except FileNotFoundError as exc:
            if is_bucket_missing(exc):
                raise
            return None
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


def is_bucket_missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "specified bucket does not exist" in text or "nosuchbucket" in text


def open_remote(spec: RemoteSpec) -> Remote:
    if spec.protocol == "file":
        return LocalRemote(spec)
    if spec.protocol in ("s3", "s3a") and not spec.options.get("profile"):
        return S3Remote(spec)
    return FsspecRemote(spec)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:157] + "..."


def _has_credentials(spec: RemoteSpec) -> bool:
    """Whether any source of S3 credentials is configured that we can see (the
    remote's options, the environment, the AWS files); a machine role cannot be
    seen, so this only decides how an access denial is worded."""
    if spec.protocol != "s3":
        return True
    if any(spec.options.get(k) for k in ("access_key_id", "profile", "session_token")):
        return True
    env = (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    )
    if any(os.environ.get(k) for k in env):
        return True
    files = (
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )
    return any(Path(f).expanduser().is_file() for f in files)


def remote_full(spec: RemoteSpec) -> RemoteError:
    """The remote has no room left: nothing a local ``tether gc`` can help with."""
    return RemoteError(
        f"remote {spec.name!r} ({spec.url}) is full: no space left for the upload",
        "free space on the remote's storage (or raise its quota), then push again: "
        "only what is missing moves",
    )


_FULL = ("no space left", "storagefull", "quotaexceeded", "quota exceeded", "insufficient storage")


def classify(spec: RemoteSpec, exc: BaseException) -> RemoteError | TransientRemoteError:
    """A permanent :class:`RemoteError` with a hint, or a transient one to retry."""
    text = str(exc)
    if isinstance(exc, RemoteError):
        return exc
    # local writes name their own full disk (DiskFullError), so a full device here is the remote's
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return remote_full(spec)
    if not isinstance(exc, OSError) and any(w in text.lower() for w in _FULL):
        return remote_full(spec)  # an S3 service's "storage full" / quota answer
    where = f"remote {spec.name!r} ({spec.url})"
    fix_creds = (
        "check the credentials: `tether remote modify --local "
        f"{spec.name} access_key_id/secret_access_key`, AWS_* variables or profile"
    )
    kind = type(exc).__name__
    lowered = text.lower()
    denied = kind in ("PermissionDeniedError", "UnauthenticatedError") or (
        kind == "GenericError" and ("403 forbidden" in lowered or "accessdenied" in lowered)
    )  # obstore
    if (denied or isinstance(exc, PermissionError)) and not _has_credentials(spec):
        return RemoteError(
            f"{where}: access denied, and no credentials found "
            "(none in the remote's options, AWS_* variables or ~/.aws)",
            f"give them: `tether remote modify --local {spec.name} access_key_id KEY`, then "
            "the same for secret_access_key; or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if denied:
        creds = any(
            w in lowered
            for w in ("signature", "invalidaccesskeyid", "access key", "unauthenticated")
        )
        what = (
            "wrong credentials" if creds else "access denied (wrong credentials or no permission)"
        )
        return RemoteError(f"{where}: {what}", fix_creds)
    if is_bucket_missing(exc):
        return RemoteError(
            f"{where}: no such bucket",
            f"create it, or fix the url: `tether remote modify {spec.name} url s3://BUCKET/PREFIX`",
        )
    if kind == "GenericError":
        brief = _first_line(text.rsplit(" - ", maxsplit=1)[-1].split("Debug source", maxsplit=1)[0])
        if any(w in lowered for w in ("connect", "sending request", "timed out", "timeout")) or (
            re.search(r"status code: 5\d\d", lowered)
        ):
            return TransientRemoteError(
                f"{where}: endpoint unreachable ({brief})",
                "check the url/endpoint_url and that the server is running, then run it again",
            )
        return RemoteError(f"{where}: {brief}")
    if isinstance(exc, PermissionError):
        lowered = text.lower()
        if "signature" in lowered or "access key" in lowered or "credential" in lowered:
            return RemoteError(f"{where}: wrong credentials ({text})", fix_creds)
        return RemoteError(
            f"{where}: access denied ({text}): wrong credentials or no permission", fix_creds
        )
    if isinstance(exc, FileNotFoundError) and is_bucket_missing(exc):
        return RemoteError(
            f"{where}: no such bucket",
            f"create it, or fix the url: `tether remote modify {spec.name} url s3://BUCKET/PREFIX`",
        )
    name = type(exc).__name__
    if isinstance(exc, ConnectionError | TimeoutError) or any(  # asyncio's is TimeoutError
        word in name for word in ("Connect", "Timeout", "Endpoint", "ServerDisconnected")
    ):
        return TransientRemoteError(
            f"{where}: endpoint unreachable ({text or name})",
            "check the url/endpoint_url and that the server is running, then run it again",
        )
    if isinstance(exc, OSError):
        return TransientRemoteError(f"{where}: {text or name}")
    return RemoteError(f"{where}: {name}: {text}")


class S3Remote(Remote):
    """``s3://bucket/prefix`` through obstore (Rust's object_store): the same S3
    requests as s3fs at about a fifth of the client CPU per request, which is
    what bounds many small objects. The sync calls release the GIL, so a plain
    thread pool gives real concurrency. (A remote with ``profile`` set goes
    through s3fs instead: obstore reads keys, not profiles.)"""

    def __init__(self, spec: RemoteSpec) -> None:
        from urllib.parse import urlsplit

        from obstore.store import S3Store

        self.spec = spec
        parts = urlsplit(spec.url)
        bucket, prefix = parts.netloc, parts.path.strip("/")
        if not bucket:
            raise RemoteError(f"remote {spec.name!r}: {spec.url} names no bucket")
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        opts = spec.options
        config: dict[str, Any] = {}
        for ours, theirs in (
            ("access_key_id", "access_key_id"),
            ("secret_access_key", "secret_access_key"),
            ("session_token", "session_token"),
            ("region", "region"),
            ("endpoint_url", "endpoint"),
        ):
            if opts.get(ours):
                config[theirs] = str(opts[ours])
        endpoint = config.get("endpoint", "")
        if endpoint:
            config["virtual_hosted_style_request"] = False  # path style, as MinIO/SeaweedFS want
        if "region" not in config and not os.environ.get("AWS_REGION"):
            config["region"] = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        from datetime import timedelta

        try:
            self.store = S3Store(
                bucket,
                config=config,  # type: ignore[arg-type]
                client_options={
                    "allow_http": endpoint.startswith("http://"),
                    "connect_timeout": timedelta(seconds=5),
                    "timeout": timedelta(seconds=120),
                },
                retry_config={"max_retries": 1, "retry_timeout": timedelta(seconds=10)},
            )
        except Exception as exc:  # noqa: BLE001 - obstore's config errors have no common base
            raise RemoteError(f"remote {spec.name!r}: {exc}") from None

    def _key(self, key: str) -> str:
        return self.prefix + key

    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        _threads(fn, items, jobs)

    def probe(self) -> None:
        import obstore

        # a listing of the bucket's first key proves bucket and credentials
        stream = obstore.list(self.store, self.prefix or None, chunk_size=1)
        next(iter(stream), None)

    def list_prefix(self, prefix: str) -> set[str]:
        import obstore

        found = set()
        for page in obstore.list(self.store, self._key(f"objects/{prefix}/"), chunk_size=1000):
            for meta in page:
                name = meta["path"].rsplit("/", 1)[-1]
                if len(name) == 30:
                    found.add(prefix + name)
        return found

    def exists(self, digest: str) -> bool:
        import obstore

        try:
            obstore.head(self.store, self._key(object_key(digest)))
        except FileNotFoundError:
            return False
        return True

    def upload(self, digest: str, src: str, size: int) -> None:
        import obstore

        key = self._key(object_key(digest))
        if size <= SMALL:
            data = _read_verified(src, digest)
            obstore.put(self.store, key, data, use_multipart=False)
        else:  # streamed from the file in parts; atomic: S3 shows it only when complete
            obstore.put(self.store, key, Path(src), chunk_size=8 << 20, max_concurrency=2)

    def download(self, digest: str, size: int, writer: Writer) -> None:
        import obstore

        key = self._key(object_key(digest))
        what = f"object {digest} on remote {self.name!r}"
        result = obstore.get(self.store, key)
        if size <= SMALL:
            writer.put_verified(digest, bytes(result.bytes()), what)
            return
        with writer.temporary_path(digest) as tmp:
            with open(tmp, "wb") as f:
                for chunk in result.stream(min_chunk_size=8 << 20):
                    f.write(chunk)
            writer.adopt_verified(digest, tmp, what)

    def read_key(self, key: str) -> bytes | None:
        import obstore

        try:
            return bytes(obstore.get(self.store, self._key(key)).bytes())
        except FileNotFoundError:
            return None

    def write_key(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, self._key(key), data, use_multipart=False)

    def read_ranges(self, key: str, spans: list[tuple[int, int]]) -> list[bytes]:
        import obstore

        found = obstore.get_ranges(
            self.store, self._key(key), starts=[s for s, _ in spans], ends=[e for _, e in spans]
        )
        return [bytes(b) for b in found]

    def list_keys(self, prefix: str) -> list[str]:
        import obstore

        out = []
        for page in obstore.list(self.store, self._key(prefix.rstrip("/") + "/"), chunk_size=1000):
            out += [meta["path"][len(self.prefix) :] for meta in page]
        return sorted(out)
