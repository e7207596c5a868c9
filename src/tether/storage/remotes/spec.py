"""A remote as configured: its name, URL and options, and what tether makes
of the options it reads itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tether.errors import RemoteError

# The options tether reads itself; every other one goes to the storage library.
OWN_OPTIONS = {"url", "jobs", "hardlink", "pack", "connect_timeout", "read_timeout"}
# How options are typed when a user sets them (`tether remote modify`); the
# rest are kept as written.
COUNT_OPTIONS = {"jobs"}
SWITCH_OPTIONS = {"use_ssl", "anon", "hardlink", "pack"}
SECONDS_OPTIONS = {"connect_timeout", "read_timeout"}
# Seconds to wait for a connection, and for each answer (or the next bytes of
# one) once connected: a server that accepts and never answers fails the
# request after read_timeout, never hangs a command.
TIMEOUTS = {"connect_timeout": 10.0, "read_timeout": 60.0}
_OFF = (False, "false", "no", "0", "off")


def count(value: Any) -> int:
    """A count of at least 1 (``jobs``), from a config file or a command line;
    ValueError says what is wrong with it."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if n < 1:
        raise ValueError("must be at least 1")
    return n


def seconds(value: Any) -> float:
    """A duration in seconds above 0 (a timeout), from a config file or a
    command line; ValueError says what is wrong with it."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of seconds, got {value!r}") from None
    if not 0 < n < 1e6:
        raise ValueError("must be more than 0 and less than 1,000,000 seconds")
    return n


def switch(value: Any, default: bool) -> bool:
    """An on/off option as configured: ``default`` when unset, off only when
    set to false (a YAML boolean or one of the words for it)."""
    if value is None:
        return default
    return value not in _OFF


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
                return count(configured)
            except ValueError as exc:
                raise RemoteError(f"remote {self.name!r}: jobs {exc}") from None
        # Local disks: threads measured slower than one (GIL, directory locks).
        return 1 if self.protocol == "file" else 32

    @property
    def packs(self) -> bool:
        """Whether a push packs small objects: yes for every remote but a local
        folder (a local disk has no cost per request), unless ``pack: false``."""
        return switch(self.options.get("pack"), self.protocol != "file")

    @property
    def hardlink(self) -> bool:
        """Whether a local folder takes hard links of the cache's objects when
        it can (``hardlink: true``), so that it shares one copy with the cache:
        off by default, as a remote is an independent copy."""
        return switch(self.options.get("hardlink"), False)

    def timeout(self, option: str) -> float:
        """``connect_timeout`` or ``read_timeout`` in seconds (see :data:`TIMEOUTS`)."""
        configured = self.options.get(option)
        if configured is None:
            return TIMEOUTS[option]
        try:
            return seconds(configured)
        except ValueError as exc:
            raise RemoteError(f"remote {self.name!r}: {option} {exc}") from None
