"""A remote as configured: its name, URL and options, and what a committed
(so cloned, untrusted) config may set for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tether.errors import RemoteError

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
