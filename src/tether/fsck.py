"""``tether fsck``: re-hash every cache object; move corrupt ones to quarantine."""

from __future__ import annotations

from dataclasses import dataclass, field

from tether import progress
from tether.repo import Repo
from tether.storage import hashing


@dataclass
class Report:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    quarantine: str = ""


def fsck(repo: Repo) -> Report:
    report = Report(quarantine=str(repo.cache_dir / "quarantine"))
    with repo.lock("tether fsck"):
        digests = list(repo.odb.all())
        with progress.task("checking objects", total=len(digests)) as bar:
            for digest in digests:
                actual, _ = hashing.hash_file(repo.odb.path(digest))
                report.checked += 1
                if actual != digest:
                    repo.odb.quarantine(digest)
                    report.corrupt.append(digest)
                bar.advance()
    return report
