"""Metrics, params and data across git revisions: metrics show/diff/check,
params show/diff, diff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tether import jsonout, render

if TYPE_CHECKING:
    from tether.metrics import Files, Row

metrics_app = typer.Typer(
    help="Show, diff and check metrics across git revisions.", no_args_is_help=True
)
params_app = typer.Typer(help="Show and diff params across git revisions.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Md = Annotated[bool, typer.Option("--md", help="A Markdown table (CI summaries, PR comments).")]
Precision = Annotated[
    int, typer.Option("--precision", min=0, max=15, help="Digits after the point.")
]
AllRows = Annotated[bool, typer.Option("--all", "-a", help="Include unchanged rows.")]
Targets = Annotated[
    list[str] | None,
    typer.Option("--file", "-f", help="Only these files (default: tether.yaml's)."),
]
OldRev = Annotated[str, typer.Argument(help="Old side: any git revision (HEAD~1, main, v1.0…).")]
NewRev = Annotated[str | None, typer.Argument(help="New side (default: the workspace).")]


def _show(kind: str, files: dict[str, Files], as_json: bool, md: bool, precision: int) -> None:
    if as_json:
        render.emit_json(f"{kind}-show", jsonout.values_show(files))
        return
    many = len(files) > 1
    headers = (["Revision"] if many else []) + ["Path", "Key", "Value"]
    rows = []
    for rev, by_file in files.items():
        for f in sorted(by_file):
            for k in sorted(by_file[f]):
                value = render.number(by_file[f][k], precision)
                rows.append(([rev] if many else []) + [f, k, value])
    if not rows:
        render.info(f"no {kind} found")
        return
    render.table(headers, rows, [False] * len(rows), md)


def _diff_out(kind: str, rows: list[Row], old: str, new: str, opts: tuple[bool, bool, int]) -> None:
    as_json, md, precision = opts
    if as_json:
        render.emit_json(f"{kind}-diff", jsonout.values_diff(rows, old, new))
        return
    if not rows:
        render.info(f"no {kind} changed between {old} and {new}")
        return
    render.value_diff(rows, (old, new), "Key", md, precision)


def _compare(
    kind: str, old: str, new: str | None, files: list[str] | None, all_: bool
) -> list[Row]:
    from tether import metrics
    from tether.repo import Repo

    notes: list[str] = []
    rows = metrics.compare(Repo.find(), old, new, files, kind, all_, notes)
    for note in notes:
        render.warn(note)
    return rows


@metrics_app.command("show")
def metrics_show(
    all_refs: Annotated[
        bool, typer.Option("--all-branches", "-A", help="Every branch and tag, and the workspace.")
    ] = False,
    files: Targets = None,
    as_json: Json = False,
    md: Md = False,
    precision: Precision = 5,
) -> None:
    """The metrics files of the workspace (tether.yaml `metrics:`), as a table."""
    _show("metrics", _at_refs("metric", files, all_refs), as_json, md, precision)


def _at_refs(kind: str, files: list[str] | None, all_refs: bool) -> dict[str, Files]:
    from tether import metrics
    from tether.repo import Repo

    notes: list[str] = []
    found = metrics.collect_refs(Repo.find(), files, kind, all_refs, notes)
    for note in notes:
        render.warn(note)
    return found


@metrics_app.command("diff")
def metrics_diff(
    old: OldRev = "HEAD",
    new: NewRev = None,
    files: Targets = None,
    show_all: AllRows = False,
    as_json: Json = False,
    md: Md = False,
    precision: Precision = 5,
) -> None:
    """Old value, new value and change for each metric that differs."""
    rows = _compare("metric", old, new, files, show_all)
    _diff_out("metrics", rows, old, new or "workspace", (as_json, md, precision))


@metrics_app.command("check")
def metrics_check(
    baseline: Annotated[
        str | None, typer.Argument(help="Compare with this revision (rules then apply to change).")
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option("--rule", "-r", help="METRIC OP NUMBER, e.g. 'accuracy >= -0.01' (repeat)."),
    ] = None,
    files: Targets = None,
    as_json: Json = False,
) -> None:
    """Fail (exit 1) when a metric breaks a rule: a CI gate.

    Without BASELINE a rule bounds the workspace value ('accuracy >= 0.7').
    With BASELINE it bounds the change against it ('accuracy >= -0.01': at most
    0.01 worse; 'loss <= 0.05'). Prefix a rule with 'change ' to force that
    reading. Rules come from --rule, else from `checks:` in tether.yaml.
    Exit codes: 0 all rules hold, 1 a rule is broken or its metric is missing,
    2 a rule cannot be read.
    """
    from tether import metrics
    from tether.repo import Repo

    verdicts = metrics.check_workspace(Repo.find(), baseline, rules or [], files)
    if as_json:
        render.emit_json("metrics-check", jsonout.metrics_check(verdicts))
    else:
        for v in verdicts:
            render.out(render.verdict(v))
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)


@params_app.command("show")
def params_show(
    all_refs: Annotated[
        bool, typer.Option("--all-branches", "-A", help="Every branch and tag, and the workspace.")
    ] = False,
    files: Targets = None,
    as_json: Json = False,
    md: Md = False,
    precision: Precision = 5,
) -> None:
    """The params the pipeline uses (params.yaml by default)."""
    _show("params", _at_refs("params", files, all_refs), as_json, md, precision)


@params_app.command("diff")
def params_diff(
    old: OldRev = "HEAD",
    new: NewRev = None,
    files: Targets = None,
    show_all: AllRows = False,
    as_json: Json = False,
    md: Md = False,
    precision: Precision = 5,
) -> None:
    """Which params changed between two revisions (default: HEAD vs the workspace)."""
    rows = _compare("params", old, new, files, show_all)
    _diff_out("params", rows, old, new or "workspace", (as_json, md, precision))


def diff(
    old: OldRev = "HEAD",
    new: NewRev = None,
    as_json: Json = False,
    md: Md = False,
) -> None:
    """Tracked data that changed: added / modified / deleted paths, with sizes,
    down to files inside tracked folders. Cached stage outputs recorded in
    tether.lock count as tracked data and name their stage."""
    from tether import diff as core
    from tether.repo import Repo

    result = core.diff(Repo.find(), old, new)
    if as_json:
        render.emit_json("diff", jsonout.diff(result))
        return
    for note in result.notes:
        render.warn(note)
    if not result.changes:
        render.info(f"no tracked data changed between {result.old} and {result.new}")
        return
    rows = [
        [c.change, c.path + (f" (stage {c.stage})" if c.stage else ""),
         _size(c.old_size), _size(c.new_size)]
        for c in result.changes
    ]  # fmt: skip
    render.table(["Change", "Path", "Old size", "New size"], rows, [True] * len(rows), md)
    counts = {
        k: sum(1 for c in result.changes if c.change == k) for k in ("added", "modified", "deleted")
    }
    render.info(", ".join(f"{n} {k}" for k, n in counts.items()))


def _size(n: int | None) -> str:
    return "-" if n is None else render.size(n)


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
    app.add_typer(params_app, name="params")
    app.command("diff")(diff)
