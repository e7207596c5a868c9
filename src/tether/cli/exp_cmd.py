"""Experiments: exp run/show/diff/remove/clean/apply/branch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tether import jsonout, render

if TYPE_CHECKING:
    from tether.experiments.queue import Item
    from tether.experiments.record import Note
    from tether.experiments.share import Shared
    from tether.experiments.show import Table
    from tether.repo import Repo

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


def _params(item: Item) -> str:
    return ", ".join(f"{k}={render.number(v, 5)}" for _, k, v in item.changed)


def enqueue(repo: Repo, sets: list[str], name: str | None, as_json: bool) -> None:
    """`exp run --queue`: print the names of the items queued."""
    from tether.experiments import queue

    added = queue.enqueue(repo, sets, name)
    if as_json:
        render.emit_json("queue-status", jsonout.queue_status(added))
        return
    for item in added:
        render.out(f"queued {item.name}" + (f" ({_params(item)})" if item.changed else ""))
    render.info("run them with `tether queue start`")


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
        typer.Option(
            "--sort-by", help="Order experiments by this metric or param (KEY or FILE:KEY)."
        ),
    ] = None,
    only_changed: Annotated[
        bool, typer.Option("--only-changed", help="Only metrics that differ between rows.")
    ] = False,
    all_baselines: Annotated[
        bool, typer.Option("--all", "-a", help="Experiments of every baseline, not only HEAD's.")
    ] = False,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep", metavar="GLOB", help="Only these param/metric columns (FILE:KEY or KEY)."
        ),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", metavar="GLOB", help="Hide these param/metric columns."),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", help="Only experiments in this state (done, failed, queued, running)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, help="Only the N newest experiments.")
    ] = None,
) -> None:
    """Table of the baseline (HEAD) and its experiments: params that differ, metrics, state.

    --keep and --drop take shell patterns (*, ?, [...]) matched against FILE:KEY
    or KEY, and may be repeated. --keep alone shows only the columns it
    matches (even a param that does not differ); with --drop, a column --keep
    matches is shown although --drop hides it.
    """
    from tether.experiments.show import show as build
    from tether.repo import Repo

    table = build(
        Repo.find(),
        all_baselines=all_baselines,
        sort_by=sort_by,
        only_changed=only_changed,
        keep=keep or [],
        drop=drop or [],
        state=state,
        limit=limit,
    )
    if as_json:
        render.emit_json("exp-show", jsonout.exp_show(table))
    else:
        _table(table, md, as_csv)


@exp_app.command("remove")
def remove(
    names: Annotated[list[str] | None, typer.Argument(help="Experiments to remove.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Remove every experiment.")] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", help="Only those started longer ago (30m, 12h, 30d, 2w)."
        ),
    ] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="Only those in this state (done, failed).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Print what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Delete experiments (their refs and logs; outputs stay in the cache until gc).

    --older-than and --state narrow the experiments named, or every experiment
    when none is named.
    """
    from tether.experiments import manage
    from tether.repo import Repo

    age = None if older_than is None else _duration("--older-than", older_than)
    gone = manage.remove(
        Repo.find(), names or [], everything, older_than=age, state=state, dry_run=dry_run
    )
    for name in gone:
        render.out(f"{'would remove' if dry_run else 'removed'} {name}")
    if not dry_run:
        render.info(f"removed {len(gone)} experiment(s)")
    elif not gone:
        render.info("no experiment to remove")


def _duration(flag: str, text: str) -> int:
    from tether import units
    from tether.errors import UsageError

    found = units.seconds(text)
    if found is None:
        raise UsageError(
            f"{flag} {text!r} is no duration", "give a number and a unit: 30m, 12h, 30d, 2w"
        )
    return found


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


GitRemote = Annotated[
    str, typer.Argument(help="The git remote (a name from `git remote -v`, or a URL).")
]
Names = Annotated[list[str] | None, typer.Argument(help="Experiments (default: see below).")]
DataRemote = Annotated[
    str | None,
    typer.Option("--remote", "-r", help="Data remote for the outputs (default: core.remote)."),
]
ShareJobs = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, help="Parallel transfers (default: the remote's jobs)."),
]


def _shared(kind: str, shared: Shared, as_json: bool) -> None:
    if as_json:
        render.emit_json(kind, jsonout.exp_share(shared))
        return
    push = kind == "exp-push"
    if not shared.moved and not shared.current:
        render.info(
            "no experiments of HEAD to push (`--all`: every baseline's)"
            if push
            else f"git remote {shared.git_remote} has no experiments"
        )
        return
    verb = "pushed to" if push else "fetched from"
    if shared.stats.remote:
        render.info(shared.stats.summary())
    if shared.moved:
        render.info(f"{verb} {shared.git_remote}: {', '.join(shared.moved)}")
    if shared.current:
        render.info(f"already up to date: {', '.join(shared.current)}")


@exp_app.command("push")
def push(
    git_remote: GitRemote,
    names: Names = None,
    remote: DataRemote = None,
    jobs: ShareJobs = None,
    all_baselines: Annotated[
        bool, typer.Option("--all", "-a", help="Experiments of every baseline, not only HEAD's.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an experiment of the same name there.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Share experiments: upload their data, then push their refs to GIT_REMOTE.

    Default: the experiments `exp show` lists (HEAD's). Their outputs, pointed-to
    data and logs go to the data remote first (only what it lacks); the refs
    (refs/tether/exps/...) go to the git remote only once all of it is there.
    """
    from tether.experiments import share
    from tether.repo import Repo

    shared = share.push(
        Repo.find(), git_remote, names or [],
        all_baselines=all_baselines, data_remote=remote, jobs=jobs, force=force,
    )  # fmt: skip
    _shared("exp-push", shared, as_json)


@exp_app.command("pull")
def pull(
    git_remote: GitRemote,
    names: Names = None,
    remote: DataRemote = None,
    jobs: ShareJobs = None,
    force: Annotated[
        bool,
        typer.Option("--force", "-f", help="Replace an experiment of the same name here."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Fetch experiments from GIT_REMOTE (default: all it has), and their data
    into the cache.

    Then `exp show`, `exp apply`, `exp logs` and `metrics diff NAME` work here.
    The workspace is not touched. An experiment here with the same name and
    another commit is refused unless --force.
    """
    from tether.experiments import share
    from tether.repo import Repo

    shared = share.pull(
        Repo.find(), git_remote, names or [], data_remote=remote, jobs=jobs, force=force
    )
    _shared("exp-pull", shared, as_json)


@exp_app.command("logs")
def logs(name: Annotated[str, typer.Argument(help="The experiment.")]) -> None:
    """Print an experiment's log (this clone's file, else the copy pulled with it)."""
    import sys

    from tether.experiments import manage
    from tether.repo import Repo

    data = manage.log(Repo.find(), name)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@exp_app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="An experiment or any git revision (the old side).")],
    b: Annotated[
        str | None,
        typer.Argument(help="The new side (default: A is new, the commit A started from old)."),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Include unchanged rows.")] = False,
    as_json: Json = False,
    md: Annotated[bool, typer.Option("--md", help="Markdown tables.")] = False,
    precision: Annotated[
        int, typer.Option("--precision", min=0, max=15, help="Digits after the point.")
    ] = 5,
) -> None:
    """Params and metrics of two experiments or revisions side by side: old, new, change.

    With only A, an experiment is compared with its baseline (the commit it
    started from; for a revision, its parent): what the experiment changed.
    """
    from tether.experiments import compare
    from tether.repo import Repo

    result = compare.diff(Repo.find(), a, b, show_all)
    if as_json:
        render.emit_json("exp-diff", jsonout.exp_diff(result))
        return
    for note in result.notes:
        render.warn(note)
    if not result.params and not result.metrics:
        render.info(f"no params or metrics differ between {result.old} and {result.new}")
        return
    sides = (result.old, result.new)
    for rows, key in ((result.params, "Param"), (result.metrics, "Metric")):
        if rows:
            render.value_diff(rows, sides, key, md, precision)
            if key == "Param" and result.metrics:
                render.out("")


@exp_app.command("clean")
def clean(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Print what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Delete what experiments left behind: work trees and run locks of runs that
    were killed, logs of removed experiments, exp run's temporary index files,
    and experiment refs whose commit is gone. A running experiment and files
    tether did not name are left alone; safe to run at any time."""
    from tether.experiments import clean as core
    from tether.repo import Repo

    found = core.clean(Repo.find(), dry_run)
    for item in found:
        verb = "would remove" if dry_run else "removed"
        render.out(f"{verb} {item.kind} {item.what} ({item.why})")
    if not found:
        render.info("nothing to clean")


def exec_main(repro: tuple[str, ...] = ()) -> int:
    """Check out the data and run the pipeline here, as `tether checkout` and
    `tether repro REPRO…` would: what an experiment's child runs in its work tree."""
    import sys

    from tether.cli.app import invoke

    for args in (["checkout"], ["repro", *repro]):
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
    from tether.experiments import proc

    proc.child_started()
    code = exec_main()
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.add_typer(exp_app, name="exp")
