"""Sizes as people read them, one way everywhere (decimal units, like the
progress bars): ``add``, ``push``, ``gc`` and ``diff`` print the same text for
the same number of bytes."""

from __future__ import annotations


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def seconds(text: str) -> int | None:
    """A duration as people type it (``30m``, ``12h``, ``3d``, ``2w``, or ``0``) in
    seconds; None when it is none."""
    import re

    m = re.fullmatch(r"([0-9]{1,6})([smhdw]?)", text.strip())
    if m is None or (not m.group(2) and m.group(1) != "0"):
        return None
    return int(m.group(1)) * _SECONDS[m.group(2) or "s"]
