"""Cache upkeep: gc, fsck, migrate, cache dir."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tether import render

cache_app = typer.Typer(help="Inspect or move the cache.", no_args_is_help=True)


def gc(
    workspace: Annotated[
        bool, typer.Option("--workspace", "-w", help="Keep only what the workspace uses.")
    ] = False,
    all_commits: Annotated[
        bool,
        typer.Option(
            "--all-commits", "-A", help="Also keep what every older commit uses (all history)."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only say what would go.")
    ] = False,
) -> None:
    """Delete cache objects that nothing references any more.

    Kept: what the workspace, the tip of every branch and tag, the last 10
    commits of HEAD, and every commit a reflog or `git stash` still names use.
    Objects used only by older commits are deleted: pass -A/--all-commits to
    keep all history. gc stops, deleting nothing, when it cannot read a
    pointer or lock file of one of those commits.
    """
    from tether import gc as core
    from tether.repo import Repo

    def ask(plan: core.Plan) -> bool:
        return typer.confirm(f"remove {plan.summary}?")

    done = core.collect(
        Repo.find(),
        workspace,
        all_commits,
        dry_run=dry_run,
        force=force,
        confirm=ask if sys.stdin.isatty() else None,
        on_plan=lambda plan: render.info(f"keeping objects used by {plan.scope}"),
    )
    plan = done.plan
    if plan.empty:
        render.out("nothing to remove")
    elif dry_run:
        render.out(f"would remove {plan.summary}")
    elif not done.removed:
        render.info("nothing removed")
    else:
        stale = f" and {len(plan.stale)} temporary file(s)" if plan.stale else ""
        render.info(f"removed {len(plan.drop)} object(s){stale}, {render.size(done.freed)} freed")


def fsck() -> None:
    """Re-hash every cache object; quarantine the corrupt ones (exit 1 if any)."""
    from tether.fsck import fsck as core
    from tether.repo import Repo

    report = core(Repo.find())
    for d in report.corrupt:
        render.out(f"corrupt: {d} (moved to {report.quarantine})")
    render.info(f"checked {report.checked} object(s), {len(report.corrupt)} corrupt")
    if report.corrupt:
        raise typer.Exit(1)


def migrate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Read and check everything, write nothing.")
    ] = False,
    drop_old: Annotated[
        bool,
        typer.Option("--drop-old", help="Then delete the old objects and run-cache entries."),
    ] = False,
) -> None:
    """Rehash pointer files, tether.lock and the run-cache written with the older hash."""
    from tether.migrate import migrate as core
    from tether.repo import Repo

    report = core(Repo.find(), dry_run=dry_run, drop_old=drop_old)
    verb = "would rehash" if dry_run else "rehashed"
    render.info(
        f"{verb} {len(report.pointers)} pointer file(s) and {len(report.stages)} stage(s) "
        f"of tether.lock; {report.objects} object(s) written, "
        f"{report.run_cache} run-cache entr{'y' if report.run_cache == 1 else 'ies'}"
    )
    for what in report.stale:
        render.info(f"stage {what}: its data is gone or changed, the stage runs again")
    if report.dropped:
        render.info(f"removed {report.dropped} old object(s) and run-cache entries")


@cache_app.command("dir")
def cache_dir(
    path: Annotated[str | None, typer.Argument(help="New cache folder (omit to print).")] = None,
    local: Annotated[bool, typer.Option("--local", help="Set it for this machine only.")] = False,
) -> None:
    """Print the cache folder, or move future objects to PATH (cache.dir)."""
    from tether import config
    from tether.repo import Repo

    repo = Repo.find()
    if path is None:
        render.out(str(repo.cache_dir))
        return
    config.set_value(repo.dir, "cache.dir", path, local)
    render.info(f"cache.dir = {path} (existing objects stay where they are)")


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)
    app.command("fsck")(fsck)
    app.command("migrate")(migrate)
    app.add_typer(cache_app, name="cache")
