"""Vega-Lite specs for each template. A spec's data holds one record per
series: ``series`` (its label: colour, facets), ``rev``, ``file``, ``field``
(the y column), and the lists ``x`` and ``y``, which the spec's first
transform (``flatten``) turns into one row per point. ``tether plots templates
NAME`` prints one, with no data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tether.pipeline.spec import PLOT_TEMPLATES

if TYPE_CHECKING:
    from tether.plots.collect import Series

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # the version vl-convert 1.x bundles
WIDTH, HEIGHT = 640, 320
SMOOTH_FRAME = 10  # the moving average of `smooth`: at most this many points either side
LEGEND_COLUMNS = 3  # series a bottom legend lists in one row, each label up to its share


def smooth_frame(series: Sequence[Series]) -> int:
    """Points either side that `smooth` averages: a tenth of the shortest series
    (so a short series still shows its shape), at most ``SMOOTH_FRAME``."""
    shortest = min((len(s.y) for s in series), default=0)
    return max(0, min(SMOOTH_FRAME, shortest // 10))


Spec = dict[str, Any]


def _x_type(series: Sequence[Series]) -> str:
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for s in series for v in s.x
    )
    return "quantitative" if numbers else "ordinal"


def values(series: Sequence[Series]) -> list[dict[str, Any]]:
    """The spec's data: one record per series, its points as two lists."""
    return [
        {"series": s.label, "rev": s.rev, "file": s.file, "field": s.field, "x": s.x, "y": s.y}
        for s in series
    ]


def _color() -> dict[str, Any]:
    return {
        "field": "series",
        "type": "nominal",
        "title": None,
        "legend": {
            "orient": "bottom",
            "symbolOpacity": 1,
            "columns": LEGEND_COLUMNS,  # many series wrap onto more rows, none cut off
            "labelLimit": WIDTH // LEGEND_COLUMNS - 30,
        },
    }


def _xy(mark: str | dict[str, Any], x_title: str, y_title: str | None, xt: str) -> Spec:
    return {
        "mark": mark,
        "encoding": {
            "x": {"field": "x", "type": xt, "title": x_title},
            "y": {"field": "y", "type": "quantitative", "title": y_title, "scale": {"zero": False}},
            "color": _color(),
        },
    }


def body(
    template: str,
    x_title: str,
    y_title: str | None,
    xt: str = "quantitative",
    frame: int = SMOOTH_FRAME,
) -> Spec:
    """The spec of a template, without data, title or size; ``frame``: points
    either side of `smooth`'s moving average."""
    if template == "linear":
        return _xy({"type": "line", "tooltip": True}, x_title, y_title, xt)
    if template == "scatter":
        return _xy({"type": "point", "tooltip": True, "filled": True}, x_title, y_title, xt)
    if template == "smooth":
        raw = _xy({"type": "line", "opacity": 0.25}, x_title, y_title, xt)
        smooth = _xy({"type": "line", "tooltip": True}, x_title, y_title, xt)
        smooth["transform"] = [
            {
                "window": [{"op": "mean", "field": "y", "as": "smoothed"}],
                "frame": [-frame, frame],
                "groupby": ["series"],
                "sort": [{"field": "x"}],
            }
        ]
        smooth["encoding"]["y"] = {**smooth["encoding"]["y"], "field": "smoothed"}
        return {"layer": [raw, smooth]}
    if template == "bar_horizontal":
        return {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "x", "type": "nominal", "title": x_title, "sort": None},
                "x": {"field": "y", "type": "quantitative", "title": y_title},
                "yOffset": {"field": "series"},
                "color": _color(),
            },
        }
    if template in ("confusion", "confusion_normalized"):
        return _confusion(template == "confusion_normalized", x_title, y_title)
    raise ValueError(template)


def _confusion(normalized: bool, x_title: str, y_title: str | None) -> Spec:
    value = "share" if normalized else "count"
    transform: list[dict[str, Any]] = [
        {"aggregate": [{"op": "count", "as": "count"}], "groupby": ["series", "x", "y"]},
    ]
    if normalized:
        transform += [
            {"joinaggregate": [{"op": "sum", "field": "count", "as": "total"}],
             "groupby": ["series", "x"]},
            {"calculate": "datum.count / datum.total", "as": "share"},
        ]  # fmt: skip
    text_format = ".2f" if normalized else "d"
    enc = {
        "x": {"field": "x", "type": "nominal", "title": x_title},
        "y": {"field": "y", "type": "nominal", "title": y_title},
    }
    return {
        "transform": transform,
        "layer": [
            {
                "mark": {"type": "rect", "tooltip": True},
                "encoding": {
                    **enc,
                    "color": {"field": value, "type": "quantitative", "title": value},
                },
            },
            {
                "mark": {"type": "text"},
                "encoding": {
                    **enc,
                    "text": {"field": value, "type": "quantitative", "format": text_format},
                },
            },
        ],
    }


def spec(
    template: str,
    series: Sequence[Series],
    title: str,
    x_title: str,
    y_title: str | None,
) -> Spec:
    """A whole Vega-Lite spec: the template, its data inline, title and size. A
    confusion matrix of several series is drawn once per series, side by side."""
    xt = _x_type(series) if series else "quantitative"
    inner = body(template, x_title, y_title, xt, smooth_frame(series))
    order = list(dict.fromkeys(s.label for s in series))  # as given: revisions in order
    for part in [inner, *inner.get("layer", [])]:
        color = part.get("encoding", {}).get("color")
        if color is not None and color["field"] == "series":
            color["scale"] = {"domain": order}
    top: Spec = {
        "$schema": SCHEMA,
        "title": title,
        "data": {"values": values(series)},
        "transform": [{"flatten": ["x", "y"]}],
    }
    if template.startswith("confusion") and len(order) > 1:
        column = {"field": "series", "title": None, "sort": order}
        return {**top, "facet": {"column": column}, "spec": inner}
    size: Spec = {"width": WIDTH, "height": HEIGHT}
    if template.startswith("confusion"):
        size = {"width": {"step": 48}, "height": {"step": 48}}
    else:
        size["autosize"] = {"type": "fit", "contains": "padding"}
    steps = inner.pop("transform", [])
    return {**top, **size, **inner, "transform": [*top["transform"], *steps]}


def names() -> tuple[str, ...]:
    return PLOT_TEMPLATES
