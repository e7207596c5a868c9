"""Cache upkeep: gc, fsck, migrate, cache dir."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tether import jsonout, render
from tether.errors import UsageError

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
    remote: Annotated[
        str | None,
        typer.Option("--remote", "-r", help="Shrink this remote instead of the cache (see below)."),
    ] = None,
    grace: Annotated[
        str,
        typer.Option(
            "--grace", help="With --remote: keep what changed more recently (30m, 12h, 3d, 0)."
        ),
    ] = "3d",
    keep_last: Annotated[
        int | None,
        typer.Option(
            "--keep-last", min=1, help="With --remote: keep only the last N commits of each ref."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="With --remote: keep only commits since DATE (2026-01-31)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --remote: machine-readable output.")
    ] = False,
) -> None:
    """Delete cache objects that nothing references any more.

    Kept: what the workspace, the tip of every branch and tag, the last 10
    commits of HEAD, and every commit a reflog or `git stash` still names use.
    Objects used only by older commits are deleted: pass -A/--all-commits to
    keep all history. gc stops, deleting nothing, when it cannot read a
    pointer or lock file of one of those commits.

    With --remote NAME: delete from the remote what no repository pushing to it
    needs (every commit of every branch and tag each of them pushed, unless
    --keep-last or --since narrows it), nothing younger than --grace; repack
    packs mostly dead; delete temporaries of writers that died. Safe while
    others push.
    """
    from tether import gc as core
    from tether.repo import Repo

    if remote is not None:
        if workspace or all_commits:
            raise UsageError("-w and -A are for the cache, not with --remote", "drop them")
        _gc_remote(remote, grace, keep_last, since, as_json, dry_run=dry_run, force=force)
        return
    if as_json or keep_last is not None or since is not None or grace != "3d":
        raise UsageError(
            "--json, --grace, --keep-last and --since are for a remote",
            "add --remote NAME",
        )

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
    stale = f" and {len(plan.stale)} temporary file(s)" if plan.stale else ""
    removed = f"removed {len(plan.drop)} object(s){stale}, {render.size(done.freed)} freed"
    _say_gc(plan.empty, dry_run, done.removed, plan.summary, removed)


def _seconds(text: str) -> int:
    """``30m``, ``12h``, ``3d`` or ``0`` as seconds."""
    from tether import units

    found = units.seconds(text)
    if found is None:
        raise UsageError(
            f"--grace {text!r} is no duration", "give a number and a unit: 30m, 12h, 3d, or 0"
        )
    return found


def _date(text: str) -> int:
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is no date", "give one as 2026-01-31 (or 2026-01-31T12:00)"
        ) from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _gc_remote(
    name: str,
    grace: str,
    keep_last: int | None,
    since: str | None,
    as_json: bool,
    *,
    dry_run: bool,
    force: bool,
) -> None:
    from tether import gc_remote as core
    from tether.repo import Repo

    def ask(plan: core.RemotePlan) -> bool:
        return typer.confirm(f"remove {plan.summary} from {plan.remote}?")

    narrowing = core.Narrowing(keep_last, _date(since) if since else None)
    done = core.collect(
        Repo.find(),
        name,
        grace=_seconds(grace),
        narrowing=narrowing,
        dry_run=dry_run,
        force=force,
        confirm=ask if sys.stdin.isatty() and not as_json else None,
    )
    plan = done.plan
    if as_json:
        render.emit_json("gc-remote", jsonout.gc_remote(done, dry_run))
        return
    render.info(f"{plan.remote}: keeping what {plan.clones} clone(s) need of {plan.scope}")
    removed = f"removed {plan.summary}; {render.size(done.freed)} freed"
    _say_gc(plan.empty, dry_run, done.removed, plan.summary, removed)


def _say_gc(empty: bool, dry_run: bool, removed: bool, summary: str, done_line: str) -> None:
    """How a gc of the cache or of a remote ended, in the same words."""
    if empty:
        render.out("nothing to remove")
    elif dry_run:
        render.out(f"would remove {summary}")
    elif not removed:
        render.info("nothing removed")
    else:
        render.info(done_line)


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
