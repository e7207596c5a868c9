"""``tether fsck``: re-hash every cache object; move corrupt ones to quarantine."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tether import progress
from tether.repo import Repo
from tether.storage import hashing


@dataclass
class Report:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    quarantine: str = ""


def _digest_of(path: Path) -> str | None:
    """The digest of an object's content; None when it is no readable file
    (a folder, a fifo or a link in its place, an I/O error)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return hashing.hash_file(path)[0]
    except OSError:
        return None


def fsck(repo: Repo) -> Report:
    report = Report(quarantine=str(repo.cache_dir / "quarantine"))
    with repo.lock("tether fsck"):
        digests = list(repo.odb.all(misplaced=True))
        with progress.task("checking objects", total=len(digests)) as bar:
            for digest in digests:
                report.checked += 1
                if _digest_of(repo.odb.path(digest)) != digest:
                    repo.odb.quarantine(digest)
                    report.corrupt.append(digest)
                bar.advance()
    return report
