"""Plots: plots show/diff/templates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tether import render

if TYPE_CHECKING:
    from tether.plots.make import Made

WORKSPACE = "workspace"  # the revision name of the workspace, as plots label it

plots_app = typer.Typer(
    help="Draw the plots tether.yaml declares, across revisions and experiments.",
    no_args_is_help=True,
)

Targets = Annotated[
    list[str] | None,
    typer.Option("--target", "-t", help="Only this plot (its id or a file; repeat)."),
]
Out = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder of the HTML page [default: tether_plots/]."),
]
Png = Annotated[
    Path | None, typer.Option("--png", help="Write one PNG per plot into this folder instead.")
]
Svg = Annotated[
    Path | None, typer.Option("--svg", help="Write one SVG per plot into this folder instead.")
]
Json = Annotated[bool, typer.Option("--json", help="Print specs and data instead (no files).")]


def _run(
    revs: list[str | None], targets: list[str] | None, out: Path | None,
    png: Path | None, svg: Path | None, as_json: bool,
) -> None:  # fmt: skip
    from tether.errors import UsageError
    from tether.plots.make import make
    from tether.repo import Repo

    chosen = [(f, p) for f, p in (("png", png), ("svg", svg)) if p is not None]
    if len(chosen) + bool(as_json) + (out is not None) > 1:
        raise UsageError("--out, --png, --svg and --json go one at a time")
    fmt, folder = chosen[0] if chosen else ("json" if as_json else "html", out)
    made = make(Repo.find(), revs, targets or [], fmt, folder)
    _report(made)


def _report(made: Made) -> None:
    for problem in made.result.problems:
        render.warn(str(problem))
    if made.specs is not None:
        from tether import jsonout

        render.emit_json("plots", jsonout.plots(made.result, made.specs))
    for path in made.written:
        render.out(str(path))
    if made.result.failed:
        raise typer.Exit(1)


@plots_app.command("show")
def show(
    targets: Targets = None,
    out: Out = None,
    png: Png = None,
    svg: Svg = None,
    as_json: Json = False,
) -> None:
    """Every plot of the workspace in one HTML page; prints the page's path.

    Plots are a stage's `plots:` files and tether.yaml's top-level `plots:`.
    A file that cannot be drawn (a missing column, a y that is not numeric,
    an empty file) is a warning naming the file; the other plots are still
    drawn, and the exit code is 1.
    """
    _run([None], targets, out, png, svg, as_json)


@plots_app.command("diff")
def diff(
    revisions: Annotated[
        list[str] | None,
        typer.Argument(
            help="Git revisions or experiment names [default: HEAD and the workspace].",
            show_default=False,
        ),
    ] = None,
    workspace: Annotated[
        bool, typer.Option("--workspace", "-w", help="Add the workspace after the revisions.")
    ] = False,
    targets: Targets = None,
    out: Out = None,
    png: Png = None,
    svg: Svg = None,
    as_json: Json = False,
) -> None:
    """The plots with one series per revision or experiment, in one HTML page.

    REVISIONS are git revisions or experiment names, in the order their series
    are drawn; `workspace` is the workspace (a branch of that name:
    heads/workspace). With no revision: HEAD against the workspace; with one: that
    revision against the workspace. A file absent at some revisions is a warning only;
    exit code 1 when a plot could not be drawn at all, or a file that is
    there could not be read as the plot needs.
    """
    revs: list[str | None] = [None if r == WORKSPACE else r for r in revisions or ["HEAD"]]
    if len(revs) < 2 or (workspace and None not in revs):
        revs.append(None)
    _run(revs, targets, out, png, svg, as_json)


@plots_app.command("templates")
def templates(
    name: Annotated[
        str | None, typer.Argument(help="Print this template's Vega-Lite spec.")
    ] = None,
) -> None:
    """List the built-in templates, or print one as Vega-Lite JSON."""
    import json

    from tether.errors import UsageError
    from tether.plots import templates as tpl

    if name is None:
        for n in tpl.names():
            render.out(n)
        return
    if name not in tpl.names():
        raise UsageError(f"no template {name!r}", f"one of {', '.join(tpl.names())}")
    render.out(json.dumps(tpl.body(name, "x", "y"), indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(plots_app, name="plots")
