"""pipeline/graph.py: stages linked through the paths they write and read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import PipelineError
from tether.pipeline import graph, spec


def build(root: Path, stages: str) -> graph.Graph:
    return graph.build(spec.parse(root, "schema: 1\nstages:\n" + stages))


CHAIN = """  prepare:
    cmd: p
    deps: [raw]
    outs: [data/prepared]
  train:
    cmd: t
    deps: [data/prepared/part.txt]
    outs: [model]
  evaluate:
    cmd: e
    deps: [model]
    params: [{report/params.yaml: }]
    metrics: [m.json]
  report:
    cmd: r
    outs: [report]
  alone:
    cmd: a
"""


def test_upstream_comes_from_deps_and_params_files(tmp_path: Path) -> None:
    g = build(tmp_path, CHAIN)
    assert g.upstream == {
        "prepare": set(),
        "train": {"prepare"},  # a file inside an output folder
        "evaluate": {"train", "report"},  # a params file another stage writes
        "report": set(),
        "alone": set(),
    }
    assert g.upstream_of("evaluate") == {"train", "prepare", "report"}
    assert g.downstream_of("prepare") == {"train", "evaluate"}
    assert g.producer("data/prepared/x") == "prepare" and g.producer("raw") is None


def test_order_is_topological_with_ties_by_name(tmp_path: Path) -> None:
    g = build(tmp_path, CHAIN)
    # depth first from each stage by name, upstream first
    assert g.order() == ["alone", "report", "prepare", "train", "evaluate"]
    assert g.order({"evaluate", "prepare"}) == ["prepare", "evaluate"]


def test_a_cycle_is_named(tmp_path: Path) -> None:
    stages = """  a:
    cmd: a
    deps: [y]
    outs: [x]
  b:
    cmd: b
    deps: [x]
    outs: [y]
"""
    with pytest.raises(PipelineError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        build(tmp_path, stages)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("  a:\n    cmd: a\n    outs: [o]\n  b:\n    cmd: b\n    outs: [o/x]\n", "both a and b"),
        ("  a:\n    cmd: a\n    deps: [o]\n    outs: [o]\n", "both a dependency and an output"),
        ("  a:\n    cmd: a\n    outs: [o, o/x]\n", "lies in its output folder o"),
    ],
)
def test_overlapping_paths_are_refused(tmp_path: Path, stages: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        build(tmp_path, stages)


def test_renderings_list_every_edge(tmp_path: Path) -> None:
    g = build(tmp_path, CHAIN)
    assert graph.render_text(g).splitlines()[-2:] == [
        "train  <- prepare",
        "evaluate  <- report, train",
    ]
    dot = graph.render_dot(g)
    for edge in ('"prepare" -> "train"', '"report" -> "evaluate"', '"train" -> "evaluate"'):
        assert edge in dot
    assert graph.render_mermaid(g).count(" --> ") == 3
