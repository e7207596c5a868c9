"""Choosing ``exp show`` columns by pattern, and ages as people type them."""

from __future__ import annotations

import pytest

from tether import units
from tether.experiments.filters import columns

EVERY = ["m.json:acc", "m.json:loss", "p.yaml:train.lr", "p.yaml:train.seed"]
DEFAULT = ["m.json:acc", "m.json:loss", "p.yaml:train.lr"]  # seed is the same everywhere


@pytest.mark.parametrize(
    ("keep", "drop", "shown"),
    [
        ([], [], DEFAULT),
        (["acc"], [], ["m.json:acc"]),
        (["train.*"], [], ["p.yaml:train.lr", "p.yaml:train.seed"]),  # kept though unchanged
        ([], ["m.json:*"], ["p.yaml:train.lr"]),
        ([], ["l*"], ["m.json:acc", "p.yaml:train.lr"]),
        (["loss"], ["m.json:*"], ["m.json:loss", "p.yaml:train.lr"]),
        (["nope"], [], []),
    ],
)
def test_columns(keep: list[str], drop: list[str], shown: list[str]) -> None:
    assert columns(EVERY, DEFAULT, keep, drop) == shown


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("45s", 45), ("30m", 1800), ("12h", 43200), ("30d", 2592000), ("2w", 1209600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert units.seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "3", "3x", "-1d", "1.5h", "d", "1 d 2h"])
def test_not_durations(text: str) -> None:
    assert units.seconds(text) is None
