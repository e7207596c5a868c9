"""A remote as configured: its name, URL and options, and what tether makes
of the options it reads itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tether.errors import RemoteError

# The options tether reads itself; every other one goes to the storage library.
OWN_OPTIONS = {"url", "jobs", "hardlink", "pack"}


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
