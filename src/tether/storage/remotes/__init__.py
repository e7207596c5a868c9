"""Remotes: where objects go to be shared. A remote holds the cache's objects
under ``objects/`` (same fan-out), small ones possibly in ``packs/`` (see
:mod:`tether.storage.packs`), plus ``runs/`` for the run-cache.

Backends behind one small interface (:class:`Remote`, in ``base``), one
module each:

* ``local`` (:class:`LocalRemote`) — a path on this machine (or ``file://``).
* ``s3`` (:class:`S3Remote`) — ``s3://bucket/prefix`` through obstore.
* ``fsspec_remote`` (:class:`FsspecRemote`) — any other fsspec URL
  (``s3://`` with a profile, through s3fs; ``ssh://``, ``gs://``…).
* ``memory`` (:class:`MemoryRemote`) — a dict, for unit tests of the
  transfer engine.

``spec`` holds a remote's configuration (:class:`RemoteSpec`); what a
committed config may set for a remote is :mod:`tether.config`'s to decide.

Every call that fails is classified (``classify``): permanent failures (no such bucket,
bad credentials, no permission, unreachable endpoint after retries) raise a
:class:`~tether.errors.RemoteError` naming the remote and what to fix;
transient ones are retried with backoff by the transfer engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tether.storage.remotes.base import SMALL, Remote, object_key
from tether.storage.remotes.classify import classify, is_bucket_missing, remote_full
from tether.storage.remotes.spec import RemoteSpec

if TYPE_CHECKING:
    from tether.storage.remotes.fsspec_remote import FsspecRemote, storage_options
    from tether.storage.remotes.local import LocalRemote
    from tether.storage.remotes.memory import MemoryRemote
    from tether.storage.remotes.s3 import S3Remote

__all__ = [
    "SMALL",
    "FsspecRemote",
    "LocalRemote",
    "MemoryRemote",
    "Remote",
    "RemoteSpec",
    "S3Remote",
    "classify",
    "is_bucket_missing",
    "object_key",
    "open_remote",
    "remote_full",
    "storage_options",
]

# The backends are imported when first used, not with this package: every
# command that may reach a remote (repro, for its run-cache) imports it, and the
# backends' own imports (sqlite3 for a folder's object database, threads, ...)
# cost a no-op `repro` ~10 ms.
_BACKENDS = {
    "FsspecRemote": "fsspec_remote",
    "storage_options": "fsspec_remote",
    "LocalRemote": "local",
    "MemoryRemote": "memory",
    "S3Remote": "s3",
}


def __getattr__(name: str) -> Any:
    module = _BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def open_remote(spec: RemoteSpec) -> Remote:
    if spec.protocol == "file":
        from tether.storage.remotes.local import LocalRemote  # see _BACKENDS

        return LocalRemote(spec)
    if spec.protocol in ("s3", "s3a") and not spec.options.get("profile"):
        from tether.storage.remotes.s3 import S3Remote

        return S3Remote(spec)
    from tether.storage.remotes.fsspec_remote import FsspecRemote

    return FsspecRemote(spec)
