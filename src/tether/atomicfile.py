"""Whole-file writes that readers see as the old or the new content, never a
mix: the bytes go to a temporary beside the final name (:mod:`tempfiles`),
are flushed to disk, and renamed over it. Used for every small file tether
writes in one piece: YAML and JSON metadata, pack indexes, .gitignore files,
run-cache entries, the cache's layout marker."""

from __future__ import annotations

import os
from pathlib import Path

from tether import tempfiles
from tether.errors import raise_if_disk_full


def write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (``str`` is written as UTF-8), made durable
    before the rename; a full disk is a DiskFullError naming ``path``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfiles.claim(str(path))  # short: fits beside the longest legal name
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise_if_disk_full(exc, path)
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        tempfiles.release(tmp)
