"""What the transfer engine needs from a remote, and helpers every backend shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from tether.storage import safeio
from tether.storage.remotes.spec import RemoteSpec
from tether.storage.writer import Writer

T = TypeVar("T")
SMALL = 4 << 20  # objects up to this size move in one request, in memory
MAX_KEY = safeio.MAX_KEY


def object_key(digest: str) -> str:
    return f"objects/{digest[:2]}/{digest[2:]}"


class Remote(Protocol):
    """What the transfer engine needs from a remote. Backends subclass it
    to take the defaults of :attr:`name`, :meth:`close` and :meth:`probe`;
    every other method each backend provides.

    Keys are ``/``-separated paths under the remote's root (``objects/ab/…``,
    ``packs/…``, ``runs/…``). A missing key is ``None`` from :meth:`read_key`
    and FileNotFoundError elsewhere; any other failure is raised as the
    library raised it, for :func:`~tether.storage.remotes.classify.classify`.
    """

    spec: RemoteSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        """Call ``fn`` on every item, up to ``jobs`` at once; the first failure
        raises (and drops what has not started)."""
        ...

    def list_prefix(self, prefix: str) -> set[str]:
        """The digests of the loose objects whose names start with the two hex
        digits ``prefix``."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether the loose object ``digest`` is there."""
        ...

    def object_size(self, digest: str) -> int | None:
        """The size of the loose object ``digest``, None if it is not there
        (one request, like :meth:`exists`)."""
        ...

    def list_sizes(self, prefix: str) -> dict[str, int]:
        """Every key under the folder ``prefix`` with its size (a listing:
        one request per 1,000 keys on S3)."""
        ...

    def upload(self, digest: str, src: str, size: int) -> None:
        """Store the cache object file ``src`` (``size`` bytes) as ``digest``."""
        ...

    def replace(self, digest: str, src: str, size: int) -> None:
        """Like :meth:`upload`, over a damaged copy already there: atomically,
        so a reader sees the old bytes or the new, never a part. (A put
        replaces atomically on object stores; folders override this.)"""
        self.upload(digest, src, size)

    def download(self, digest: str, size: int, writer: Writer) -> None:
        """Fetch one object into ``writer``, verified against ``digest``."""
        ...

    def read_key(self, key: str) -> bytes | None:
        """The whole content of ``key``, or None if there is none."""
        ...

    def write_key(self, key: str, data: bytes) -> None:
        """Store ``data`` as ``key``, whole or not at all."""
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix``, sorted."""
        ...

    def read_ranges(self, key: str, spans: list[tuple[int, int]]) -> list[bytes]:
        """The bytes ``[start, end)`` of each span of ``key`` (and only those:
        a pack may be any size); FileNotFoundError if there is no such key."""
        ...

    def close(self) -> None:
        """Publish what was written (a local remote flushes and renames)."""
        return

    def probe(self) -> None:
        """One cheap request that fails the way the remote is broken, if it is."""
        return


def threads(fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            fn(item)
        return
    from concurrent.futures import ThreadPoolExecutor  # start-up: threads only when used

    pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)))
    try:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()
    finally:
        # on the first failure (or Ctrl-C) drop what has not started
        pool.shutdown(wait=True, cancel_futures=True)
