"""A remote held in memory: the transfer engine's behaviour (what a push sends,
what a fetch asks for, packs) observed without a disk or a server. Not
reachable from a config (``memory://`` URLs go to fsspec, and only from
config.local.yaml); the unit tests build it directly."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tether.storage.remotes import source
from tether.storage.remotes.base import Remote, T, object_key
from tether.storage.remotes.spec import RemoteSpec
from tether.storage.writer import Writer


class MemoryRemote(Remote):
    """Keys and their bytes in a dict. Every request is logged in
    :attr:`requests` as ``(method, argument)``, in the order it was made
    (one at a time: :meth:`run_all` runs its items in order)."""

    def __init__(self, spec: RemoteSpec | None = None) -> None:
        self.spec = spec or RemoteSpec("memory", "memory://", {})
        self.keys: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []

    def objects(self) -> set[str]:
        """The digests of the loose objects held."""
        return {k[8:10] + k[11:] for k in self.keys if k.startswith("objects/")}

    def run_all(self, fn: Callable[[T], Any], items: Iterable[T], jobs: int) -> None:
        for item in items:
            fn(item)

    def list_prefix(self, prefix: str) -> set[str]:
        self.requests.append(("list_prefix", prefix))
        return {d for d in self.objects() if d.startswith(prefix)}

    def exists(self, digest: str) -> bool:
        self.requests.append(("exists", digest))
        return object_key(digest) in self.keys

    def object_size(self, digest: str) -> int | None:
        self.requests.append(("object_size", digest))
        data = self.keys.get(object_key(digest))
        return None if data is None else len(data)

    def list_sizes(self, prefix: str) -> dict[str, int]:
        self.requests.append(("list_sizes", prefix))
        top = prefix.rstrip("/") + "/"
        return {k: len(v) for k, v in sorted(self.keys.items()) if k.startswith(top)}

    def upload(self, digest: str, src: str, size: int) -> None:
        self.requests.append(("upload", digest))
        self.keys[object_key(digest)] = source.read(src, digest, size)

    def download(self, digest: str, size: int, writer: Writer) -> None:
        self.requests.append(("download", digest))
        data = self.keys.get(object_key(digest))
        if data is None:
            raise FileNotFoundError(digest)
        writer.put_verified(digest, data, f"object {digest} on remote {self.name!r}")

    def read_key(self, key: str) -> bytes | None:
        self.requests.append(("read_key", key))
        return self.keys.get(key)

    def write_key(self, key: str, data: bytes) -> None:
        self.requests.append(("write_key", key))
        self.keys[key] = bytes(data)

    def list_keys(self, prefix: str) -> list[str]:
        self.requests.append(("list_keys", prefix))
        top = prefix.rstrip("/") + "/"
        return sorted(k for k in self.keys if k.startswith(top))

    def read_ranges(self, key: str, spans: list[tuple[int, int]]) -> list[bytes]:
        self.requests.append(("read_ranges", key))
        data = self.keys.get(key)
        if data is None:
            raise FileNotFoundError(key)
        return [data[start:end] for start, end in spans]
