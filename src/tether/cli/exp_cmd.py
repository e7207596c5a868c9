"""Experiments: exp run/show/remove/apply/branch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tether import jsonout, render

if TYPE_CHECKING:
    from tether.experiments.record import Note
    from tether.experiments.show import Table

exp_app = typer.Typer(
    help="Run variants of the pipeline in isolation, compare and keep them.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _values(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={render.number(v, 5)}" for k, v in values.items())


def _summary(note: Note) -> str:
    found = {f"{k}" if len(note.metrics) == 1 else f"{f}:{k}": v
             for f, keys in note.metrics.items() for k, v in keys.items()}  # fmt: skip
    line = f"{note.name}: {note.state}"
    if note.state == "failed":
        line += f" (exit code {note.exit_code}; log: {note.log})"
    return line + (f"  {_values(found)}" if found else "")


@exp_app.command("run")
def run(
    set_param: Annotated[
        list[str] | None,
        typer.Option(
            "--set-param",
            "-S",
            help="[FILE:]KEY=VALUE (default file params.yaml); VALUE,VALUE… runs a grid.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="The experiment's name (default: generated).")
    ] = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue", help="Queue the experiments for `tether queue start`; run nothing."
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Run the pipeline in an isolated work tree with changed params; record the result.

    The experiment starts from HEAD plus your uncommitted changes to tracked
    files; your checkout, index and untracked files are never touched. Exit
    code 1 when any experiment failed (it is recorded, with its log). With
    --queue the starting point is taken now and the experiments wait in the
    queue (`tether queue --help`).
    """
    from tether.experiments import run as exprun
    from tether.repo import Repo

    if queue:
        from tether.cli.queue_cmd import enqueue

        enqueue(Repo.find(), set_param or [], name, as_json)
        return
    say = render.info_err if as_json else render.info

    def started(exp: str, combo: list[tuple[str, str, object]]) -> None:
        say(f"running experiment {exp}" + (f" ({_values({k: v for _, k, v in combo})})"
                                           if combo else ""))  # fmt: skip

    notes = exprun.run(Repo.find(), set_param or [], name, started)
    if as_json:
        render.emit_json("exp-run", jsonout.exp_run(notes))
    else:
        for note in notes:
            render.out(_summary(note))
    if any(n.state != "done" for n in notes):
        raise typer.Exit(1)


def _cell(value: object) -> str:
    return "" if value is None else render.number(value, 5)


def _csv(headers: list[str], rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    render.out(buf.getvalue().rstrip("\n"))


def _table(table: Table, md: bool, as_csv: bool) -> None:
    headers = ["Experiment", "Baseline", *table.params, *table.metrics, "State", "Created"]
    rows = [
        [r.name, r.baseline[:7], *(_cell(r.params.get(k)) for k in table.params),
         *(_cell(r.metrics.get(k)) for k in table.metrics), r.state, r.created]
        for r in table.rows
    ]  # fmt: skip
    if as_csv:
        _csv(headers, rows)
    else:
        render.table(headers, rows, [False] * len(rows), md)


@exp_app.command("show")
def show(
    as_json: Json = False,
    md: Annotated[bool, typer.Option("--md", help="A Markdown table.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Comma-separated values.")] = False,
    sort_by: Annotated[
        str | None,
        typer.Option("--sort-by", help="Order experiments by this metric (KEY or FILE:KEY)."),
    ] = None,
    only_changed: Annotated[
        bool, typer.Option("--only-changed", help="Only metrics that differ between rows.")
    ] = False,
    all_baselines: Annotated[
        bool, typer.Option("--all", "-a", help="Experiments of every baseline, not only HEAD's.")
    ] = False,
) -> None:
    """Table of the baseline (HEAD) and its experiments: params that differ, metrics, state."""
    from tether.experiments.show import show as build
    from tether.repo import Repo

    table = build(
        Repo.find(), all_baselines=all_baselines, sort_by=sort_by, only_changed=only_changed
    )
    if as_json:
        render.emit_json("exp-show", jsonout.exp_show(table))
    else:
        _table(table, md, as_csv)


@exp_app.command("remove")
def remove(
    names: Annotated[list[str] | None, typer.Argument(help="Experiments to remove.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Remove every experiment.")] = False,
) -> None:
    """Delete experiments (their refs and logs; outputs stay in the cache until gc)."""
    from tether.experiments import manage
    from tether.repo import Repo

    gone = manage.remove(Repo.find(), names or [], everything)
    render.info(f"removed {len(gone)} experiment(s)")


@exp_app.command("apply")
def apply(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite uncommitted changes.")
    ] = False,
) -> None:
    """Bring an experiment's params, code, lock and outputs into the workspace."""
    from tether.experiments import manage
    from tether.repo import Repo

    paths = manage.apply(Repo.find(), name, force)
    render.info(f"applied {name}: {len(paths)} file(s) changed; commit them to keep it")


@exp_app.command("branch")
def branch(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    new_branch: Annotated[str, typer.Argument(help="The branch to create.")],
) -> None:
    """Create a git branch at an experiment's commit."""
    from tether.experiments import manage
    from tether.repo import Repo

    commit = manage.branch(Repo.find(), name, new_branch)
    render.info(f"created branch {new_branch} at {commit[:7]} (experiment {name})")


def exec_main() -> int:
    """Check out the data and run the pipeline here, as `tether checkout` and
    `tether repro` would: what an experiment's child runs in its work tree."""
    import sys

    from tether.cli.app import invoke

    for args in (["checkout"], ["repro"]):
        render.out(f"$ tether {' '.join(args)}")
        sys.stdout.flush()
        code = invoke(args)
        sys.stdout.flush()
        sys.stderr.flush()
        if code:
            return code
    return 0


@exp_app.command("exec", hidden=True)
def exec_() -> None:
    """Check out the data and run the pipeline here (an experiment's child process)."""
    code = exec_main()
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.add_typer(exp_app, name="exp")
