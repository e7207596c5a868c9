"""Choosing experiments and columns: ``exp remove --older-than/--state`` and
``exp show --keep/--drop/--state/--limit``.

A column is named ``FILE:key``; a pattern (``fnmatch``: ``*``, ``?``,
``[…]``) matches it whole, or its key alone, so ``train.*`` and
``params.yaml:train.*`` both pick ``params.yaml:train.lr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from tether.errors import UsageError
from tether.experiments import record

STATES = ("done", "failed")  # what a recorded experiment ended as


def check_state(state: str | None, known: Iterable[str] = STATES) -> None:
    choices = sorted(set(known))
    if state is not None and state not in choices:
        raise UsageError(f"--state {state!r}: no such state", f"one of: {', '.join(choices)}")


def _age(note: record.Note, now: datetime) -> float | None:
    """Seconds since the experiment started; None when its record has no readable time."""
    try:
        started = datetime.fromisoformat(note.started)
    except ValueError:
        return None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return (now - started).total_seconds()


def pick(
    notes: Iterable[record.Note], older_than: int | None, state: str | None
) -> list[record.Note]:
    """The experiments that started more than ``older_than`` seconds ago and
    ended as ``state`` (each only when given)."""
    now = datetime.now(UTC)
    found = []
    for n in notes:
        age = _age(n, now)
        if older_than is not None and (age is None or age <= older_than):
            continue
        if state is not None and n.state != state:
            continue
        found.append(n)
    return found


def matches(column: str, patterns: Sequence[str]) -> bool:
    key = column.split(":", 1)[-1]
    return any(fnmatchcase(column, p) or fnmatchcase(key, p) for p in patterns)


def columns(
    every: Iterable[str], default: Iterable[str], keep: Sequence[str], drop: Sequence[str]
) -> list[str]:
    """The columns to show: those of ``default`` not matching ``drop``, and any
    of ``every`` matching ``keep`` (shown even where ``default`` leaves it out).
    ``keep`` without ``drop`` shows only what it matches."""
    shown = set(default)
    return [
        c
        for c in sorted(set(every))
        if matches(c, keep) or (c in shown and not matches(c, drop) and (drop or not keep))
    ]
