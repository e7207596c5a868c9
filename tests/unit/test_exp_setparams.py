"""``exp run -S``: parsing values with their YAML types, and the grid."""

from __future__ import annotations

import pytest

from tether.errors import UsageError
from tether.experiments.setparams import Setting, grid, parse


def test_values_keep_their_yaml_types() -> None:
    assert parse("train.lr=0.1") == Setting("params.yaml", "train.lr", (0.1,))
    assert parse("a=1,true,x,null").values == (1, True, "x", None)
    assert parse("cfg/p.yaml:a.b=[1, 2]").values == ([1, 2],)  # a YAML list is one value
    assert parse("p.json:a=2").file == "p.json"


@pytest.mark.parametrize("bad", ["a", "=1", ":a=1", "a=[1,", "a={x"])
def test_malformed_settings_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError, match="-S"):
        parse(bad)


def test_grid_is_the_cartesian_product_in_order() -> None:
    combos = grid([parse("a=1,2"), parse("b=x,y,z")])
    assert len(combos) == 6
    assert combos[0] == [("params.yaml", "a", 1), ("params.yaml", "b", "x")]
    assert combos[-1] == [("params.yaml", "a", 2), ("params.yaml", "b", "z")]
    assert grid([]) == [[]]  # no -S: one run of the pipeline as it is
