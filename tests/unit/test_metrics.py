"""metrics.py: `metrics check` rules read, matched and held to values or changes."""

from __future__ import annotations

from typing import Any

import pytest

from tether import metrics
from tether.errors import UsageError
from tether.metrics import Row, Rule, Verdict


@pytest.mark.parametrize(
    ("text", "baseline", "rule"),
    [
        ("acc >= 0.7", False, Rule("acc >= 0.7", False, "acc", ">=", 0.7)),
        ("acc>=-0.01", True, Rule("acc>=-0.01", True, "acc", ">=", -0.01)),
        ("change loss <= 0.05", False, Rule("change loss <= 0.05", True, "loss", "<=", 0.05)),
        ("Δ m.json:f1 != 1e-3", False, Rule("Δ m.json:f1 != 1e-3", True, "m.json:f1", "!=", 1e-3)),
    ],
)
def test_parse_rule(text: str, baseline: bool, rule: Rule) -> None:
    assert metrics.parse_rule(text, baseline) == rule


@pytest.mark.parametrize("text", ["acc", "acc => 1", "acc >= high", "acc >= 1.2.3"])
def test_unreadable_rules(text: str) -> None:
    with pytest.raises(UsageError, match="rule"):
        metrics.parse_rule(text, False)


NEW: dict[str, dict[str, Any]] = {
    "m.json": {"acc": 0.8, "eval.f1": 0.6, "name": "x"},
    "n.json": {"acc": 0.4},
}
OLD: dict[str, dict[str, Any]] = {"m.json": {"acc": 0.75, "eval.f1": 0.7}}


def check(text: str, baseline: bool = False) -> list[Verdict]:
    return metrics.check(OLD if baseline else None, NEW, [metrics.parse_rule(text, baseline)])


def test_a_value_rule_holds_for_every_file_with_the_metric() -> None:
    assert check("acc >= 0.5") == [
        Verdict("acc >= 0.5", "m.json", "acc", 0.8, True),
        Verdict("acc >= 0.5", "n.json", "acc", 0.4, False),
    ]
    assert [v.file for v in check("n.json:acc >= 0.5")] == ["n.json"]
    assert [v.metric for v in check("f1 > 0")] == ["eval.f1"]  # the last part of a dotted key


def test_a_change_rule_bounds_the_difference() -> None:
    (v,) = check("eval.f1 >= -0.05", baseline=True)
    assert (v.ok, v.old, v.new) == (False, 0.7, 0.6)
    assert v.value == pytest.approx(-0.1)
    assert check("m.json:acc >= 0", baseline=True)[0].ok


def test_what_cannot_be_checked_fails_with_a_note() -> None:
    assert check("recall > 0")[0] == Verdict(
        "recall > 0", "", "recall", None, False, "metric not found"
    )
    assert check("name > 0")[0].note == "not a number"
    assert check("n.json:acc >= 0", baseline=True)[0].note == "no baseline value"


def test_rows_compute_change_only_for_numbers() -> None:
    assert Row("m", "acc", 0.5, 0.75).change == 0.25
    assert Row("m", "acc", 0.5, 0.75).changed
    assert Row("m", "name", "a", "b").change is None
    assert not Row("m", "acc", 1, 1).changed
