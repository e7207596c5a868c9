"""The experiment queue: queue start/status/logs/remove/retry/stop
(items are added by `exp run --queue`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tether import jsonout, render
from tether.cli.pipeline import ExecutorOption, RayAddressOption, check_executor

if TYPE_CHECKING:
    from tether.experiments.queue import Item
    from tether.experiments.record import Note
    from tether.repo import Repo

queue_app = typer.Typer(
    help="Run queued experiments (`tether exp run --queue`) in parallel, and manage the queue.\n\n"
    "The queue lives in .tether/exps/queue/ and survives a crash or reboot.",
    no_args_is_help=True,
)

Names = Annotated[list[str] | None, typer.Argument(help="Queued experiments.", show_default=False)]


def _ended(item: Item, note: Note | None) -> None:
    from tether.cli.exp_cmd import _summary

    if note is not None:
        render.out(_summary(note) + (f"  ({item.reason})" if item.reason else ""))
    else:
        render.out(f"{item.name}: {item.state} ({item.reason}; log: {item.log})")


def _repo() -> Repo:
    from tether.repo import Repo

    return Repo.find()


@queue_app.command("start")
def start(
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="How many experiments run at once.")
    ] = 1,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
) -> None:
    """Run the queued experiments, JOBS at a time, each in its own work tree.

    Runs in the foreground until the queue has no queued item left, printing
    each experiment's end (name, state, metrics). Two `queue start` may run at
    once: no item runs twice. Ctrl-C (or SIGTERM) stops now: running
    experiments are stopped with their child processes, recorded as failed
    with their log, their items marked failed (`queue retry` queues them
    again), exit code 130. Exit code 1 when an experiment failed. With
    --executor ray each experiment's stages run as Ray tasks on the cluster
    (JOBS experiments at a time are sent from here).
    """
    import functools

    from tether.cli.exp_cmd import exec_main
    from tether.errors import EXIT_INTERRUPTED
    from tether.experiments import worker

    check_executor(executor, ray_address)
    repro = ("--executor", executor) + (("--ray-address", ray_address) if ray_address else ())
    # the modules a child runs: imported once, by the fork server
    preload = [f"tether.cli.{m}" for m in ("app", "exp_cmd", "data", "pipeline")]
    child = worker.Child(
        functools.partial(exec_main, repro),
        (*preload, "tether.pipeline.run", "tether.workspace.checkout"),
    )
    outcome = worker.start(_repo(), jobs, child, _ended)
    if outcome.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)  # the CLI root says "interrupted"
    if not outcome.ended:
        render.info("nothing queued")
    if outcome.failed:
        raise typer.Exit(1)


@queue_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each item: name, state (queued, running, done or failed), params set, start time.

    An item whose `queue start` died (killed, power loss) is marked failed
    here, its leftover work tree removed.
    """
    from tether.cli.exp_cmd import _params
    from tether.experiments import queue

    found = queue.status(_repo())
    if as_json:
        render.emit_json("queue-status", jsonout.queue_status(found))
        return
    if not found:
        render.info("the queue is empty")
        return
    headers = ["Experiment", "State", "Params", "Started"]
    rows = [[i.name, i.state, _params(i), i.started] for i in found]
    render.table(headers, rows, [False] * len(rows), False)


@queue_app.command("logs")
def logs(name: Annotated[str, typer.Argument(help="The queued experiment.")]) -> None:
    """Print an item's log (as far as it got, while it runs)."""
    import sys

    from tether.experiments import queue

    log = queue.log_of(_repo(), name)
    if log is None:
        render.info(f"{name} has no log yet (not started)")
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(log.read_bytes())
    sys.stdout.flush()


@queue_app.command("remove")
def remove(
    names: Names = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every item that is not running.")
    ] = False,
) -> None:
    """Take queued, failed or done items off the queue (a running one is refused).

    Recorded experiments stay (`tether exp remove` deletes those).
    """
    from tether.experiments import queue

    gone = queue.remove(_repo(), names or [], everything)
    render.info(f"removed {len(gone)} item(s) from the queue")


@queue_app.command("retry")
def retry(
    names: Names = None,
    everything: Annotated[bool, typer.Option("--all", help="Every failed item.")] = False,
) -> None:
    """Queue failed items again, from the same starting point and params.

    An item's failed experiment stays recorded until its new run records its
    own in its place.
    """
    from tether.experiments import queue

    again = queue.retry(_repo(), names or [], everything)
    render.info(f"queued again: {', '.join(again)}" if again else "no failed item to retry")


@queue_app.command("stop")
def stop() -> None:
    """Ask every running `queue start` to stop once its current items end.

    Running experiments finish and are recorded; nothing more is started.
    To stop them now, press Ctrl-C where `queue start` runs (or send it SIGTERM).
    """
    from tether.experiments import queue

    running = queue.request_stop(_repo())
    render.info(f"asked the queue's workers to stop after their current items ({running} running)")


def register(app: typer.Typer) -> None:
    app.add_typer(queue_app, name="queue")
