"""Pipelines: stage add/list, repro, dag."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from tether import jsonout, render
from tether.errors import UsageError

stage_app = typer.Typer(
    help="Declare and list pipeline stages (tether.yaml).", no_args_is_help=True
)

Multi = list[str] | None


@stage_app.command("add")
def stage_add(
    name: Annotated[str, typer.Argument(help="Stage name.")],
    command: Annotated[
        list[str], typer.Argument(help="The command (quote it, or put it after --).")
    ],
    deps: Annotated[Multi, typer.Option("--deps", "-d", help="A dependency (repeat).")] = None,
    params: Annotated[
        Multi,
        typer.Option(
            "--params",
            "-p",
            help="Params keys: a.b,c or FILE:key1,key2 (default params.yaml); FILE: every key.",
        ),
    ] = None,
    outs: Annotated[Multi, typer.Option("--outs", "-o", help="An output, cached.")] = None,
    outs_no_cache: Annotated[
        Multi, typer.Option("--outs-no-cache", "-O", help="An output kept in git.")
    ] = None,
    metrics: Annotated[
        Multi, typer.Option("--metrics", "-M", help="A metrics file (kept in git).")
    ] = None,
    plots: Annotated[Multi, typer.Option("--plots", help="A plots file (kept in git).")] = None,
    wdir: Annotated[str | None, typer.Option("--wdir", "-w", help="Run the command here.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace a stage.")] = False,
) -> None:
    """Add a stage to tether.yaml; `tether repro` runs it."""
    from tether.pipeline.edit import add_stage
    from tether.repo import Repo

    repo = Repo.find()
    add_stage(
        repo,
        name,
        " ".join(command),
        deps or [],
        params or [],
        outs or [],
        outs_no_cache or [],
        metrics or [],
        plots or [],
        wdir,
        force,
    )
    render.info(f"added stage {name} to tether.yaml")


# --executor and --ray-address, of `repro` and `queue start`
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where stages run: local, or ray (a Ray cluster; data moves through the "
        "default remote).",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="The Ray cluster (default: ray.address, RAY_ADDRESS, local)."
    ),
]


def check_executor(executor: str, ray_address: str | None) -> None:
    """``--executor`` and ``--ray-address`` of `repro` and `queue start`."""
    if executor not in ("local", "ray"):
        raise UsageError(f"unknown executor {executor!r}", "use --executor local or ray")
    if ray_address and executor != "ray":
        raise UsageError("--ray-address needs --executor ray")


@stage_app.command("list")
def stage_list() -> None:
    """List the stages with their commands, in run order."""
    from tether.pipeline.outputs import load
    from tether.repo import Repo

    g = load(Repo.find())
    for n in g.order():
        render.out(f"{n}\t{g.stages[n].cmd_text}")


def repro(
    targets: Annotated[list[str] | None, typer.Argument(help="Stages (default: all).")] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Run even if nothing changed.")
    ] = False,
    dry: Annotated[bool, typer.Option("--dry", help="Say what would run and why.")] = False,
    single_item: Annotated[
        bool, typer.Option("--single-item", "-s", help="Only the named stages, not upstream.")
    ] = False,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="The named stages and all that depend on them.")
    ] = False,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", "-k", help="Go on with independent stages on failure.")
    ] = False,
    pull: Annotated[
        bool,
        typer.Option("--pull", help="First fetch data, outputs and run-cache from the remote."),
    ] = False,
    no_run_cache: Annotated[
        bool, typer.Option("--no-run-cache", help="Run stages even if a run is cached.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=1, help="Run up to N independent stages side by side."),
    ] = 1,
    cpus: Annotated[
        int | None,
        typer.Option("--cpus", min=1, help="CPUs the stages' resources.cpus share (default: all)."),
    ] = None,
) -> None:
    """Run the stages whose command, dependencies, params or outputs changed.

    Stages run in dependency order with their output streaming live; each
    completed stage is recorded in tether.lock. A configuration already run
    is restored from the run-cache instead of running again.

    With -j N, a stage starts once the stages it depends on finished and its
    resources (tether.yaml: resources: {cpus, gpus, memory}, mutex: [names])
    are free; each line it prints is prefixed with its name and its full
    output kept in .tether/logs/STAGE.log. GPUs come from CUDA_VISIBLE_DEVICES
    or nvidia-smi; memory is advisory, never enforced.
    """
    from tether.pipeline import run
    from tether.repo import Repo

    check_executor(executor, ray_address)
    repo = Repo.find()
    if pull:
        from tether.pipeline.prefetch import prefetch

        render.info(prefetch(repo, render.warn))

    say = render.info_err if as_json else render.info  # with --json stdout holds only the JSON

    def started(name: str, reasons: list[str]) -> None:
        say(f"running {name} ({'; '.join(reasons)})")

    def summary(outcomes: list[run.Outcome]) -> None:
        if as_json:
            render.emit_json("repro", jsonout.repro(outcomes))
            return
        for o in outcomes:
            if o.action is run.Action.WOULD_RUN:
                render.out(f"would run {o.name}: {'; '.join(o.reasons)}")
            elif o.action is run.Action.RESTORED:
                render.info(f"restored {o.name} from the run-cache ({'; '.join(o.reasons)})")
            elif o.action is run.Action.RAN:
                render.info(f"ran {o.name} in {o.seconds:.1f} s")
            elif o.action is run.Action.BLOCKED:
                render.info(f"did not run {o.name}: {'; '.join(o.reasons)}")

    with contextlib.ExitStack() as stack:
        executor_obj = None
        if executor == "ray" and not dry:
            from tether.pipeline import ray_exec

            executor_obj = stack.enter_context(ray_exec.executor(repo, ray_address))
        outcomes = run.repro(
            repo,
            targets,
            force=force,
            dry=dry,
            single_item=single_item,
            downstream=downstream,
            keep_going=keep_going,
            use_run_cache=not no_run_cache,
            on_start=started,
            on_note=say,
            on_warn=render.warn,
            stage_output_to_stderr=as_json,
            jobs=jobs,
            cpus=cpus,
            executor=executor_obj,
            on_done=summary,  # also when a stage failed
        )
    if not as_json and all(o.action is run.Action.SKIPPED for o in outcomes):
        render.info(f"up to date: {len(outcomes)} stage(s), nothing to run")


def dag(
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Mermaid flowchart.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Graphviz dot.")] = False,
) -> None:
    """Show the stage graph (each stage with the stages it depends on)."""
    from tether.pipeline import graph
    from tether.pipeline.outputs import load
    from tether.repo import Repo

    g = load(Repo.find())
    if mermaid:
        render.out(graph.render_mermaid(g))
    elif dot:
        render.out(graph.render_dot(g))
    else:
        render.out(graph.render_text(g))


def register(app: typer.Typer) -> None:
    app.add_typer(stage_app, name="stage")
    app.command("repro")(repro)
    app.command("dag")(dag)
