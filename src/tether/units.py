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
