"""Which names on a remote are a writer's temporaries: the one place that knows.

Writers that cannot make a file appear whole in one step write it under a
temporary name first and rename it once complete; a writer that is killed
leaves the temporary behind. ``tether gc --remote`` deletes those older than
a day (no living push takes that long over one file), recognising them only
by name, so every backend's naming is listed here:

* a local folder remote uses the cache's writer: ``objects/<2>/.tmp-<pid>-<hex>-<n>``
  beside the final name, ``tmp/<pid>-<hex>-<n>`` for files hashed while copied;
* small atomic writes there (packs, indexes, run-cache entries, manifests)
  go through ``atomicfile.write``: ``.<12 hex>.tether-tmp`` beside the final name;
* other fsspec filesystems without atomic puts: ``tmp/<pid>-<hex>-<n>`` too
  (``tmp/<name>.<pid>`` from earlier versions);
* S3 puts are atomic and leave nothing.
"""

from __future__ import annotations

import re

from tether import tempfiles

STALE_AFTER = 24 * 3600  # seconds: a temporary this old belongs to a writer that died

_BESIDE = re.compile(r"\.tmp-\d+-[0-9a-f]+-\d+")  # the writer's, beside final names
_IN_TMP = re.compile(
    r"\d+-[0-9a-f]+-\d+"  # the writer's, hashed while copied
    r"|[0-9a-zA-Z._-]+\.\d+"  # fsspec_remote: <final name>.<pid>
)


def is_temporary(key: str) -> bool:
    """Whether the remote key ``key`` (``/``-separated, from the remote's root)
    is a temporary some tether writer makes."""
    folder, _, name = key.rpartition("/")
    if tempfiles.is_temporary(name):
        return True
    if folder == "tmp":
        return _IN_TMP.fullmatch(name) is not None
    return folder.startswith("objects/") and _BESIDE.fullmatch(name) is not None


def is_stale_temporary(key: str, age: float) -> bool:
    """A temporary (see :func:`is_temporary`) ``age`` seconds old that no living
    writer still owns."""
    return age > STALE_AFTER and is_temporary(key)
