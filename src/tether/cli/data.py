"""Commands on tracked data: init, add, status, checkout, remove."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tether import jsonout, pipeline, render
from tether.artifact import Kind

if TYPE_CHECKING:
    from tether.repo import Repo

Paths = Annotated[list[str], typer.Argument(help="Files or folders, relative to here.")]
OptPaths = Annotated[
    list[str] | None, typer.Argument(help="Limit to these tracked paths (default: all).")
]


def init(
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Rewrite an existing config.")
    ] = False,
) -> None:
    """Make this git repository a tether project (creates .tether/)."""
    from tether.repo import Repo

    repo, created = Repo.init(force=force)
    render.info(f"{'initialised' if created else 'already initialised'}: {repo.dir}")


def add(
    paths: Paths,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes that read and store files (default: one per CPU, at most 8).",
        ),
    ] = None,
) -> None:
    """Hash paths into the cache and write PATH.tether pointer files for git.

    The paths are added to .gitignore; the pointer files and .gitignore are
    staged in git (core.autostage). Commit them to pin this version. Only
    files whose size, modification or change time changed since tether last saw them
    are read again; many files are stored by several processes at once.
    """
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.repo import Repo
    from tether.workspace import add as core
    from tether.workspace import tracked

    repo = Repo.find()
    for r in core.add(repo, tracked.targets(repo, paths) or [], jobs, outputs=STAGE_OUTPUTS):
        p = r.pointer
        what = f"{p.files} files, " if p.kind is Kind.DIR else ""
        verb = "added" if r.changed else "unchanged"
        render.info(
            f"{verb}: {p.path} ({what}{render.size(p.size)}, "
            f"{r.new_objects} new object(s)) -> {p.source}"
        )


def status(
    targets: OptPaths = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when anything differs (for CI).")
    ] = False,
    remote: Annotated[
        bool,
        typer.Option("--remote", help="Compare the cache with a remote instead of the workspace."),
    ] = False,
    remote_name: Annotated[
        str | None, typer.Option("-r", help="Remote for --remote (default: core.remote).")
    ] = None,
) -> None:
    """Show how tracked data differs from its pointer files, file by file.

    With --remote: how many objects of each tracked path are missing in the
    cache and on the remote (what `push` / `pull` would move).
    """
    from tether.repo import Repo
    from tether.workspace import status as core
    from tether.workspace import tracked

    repo = Repo.find()
    if remote or remote_name:
        _remote_status(repo, tracked.targets(repo, targets), remote_name, as_json, exit_code)
        return
    results = core.status(repo, tracked.targets(repo, targets))
    stages = []
    if not targets and (repo.root / pipeline.FILE).is_file():  # else skip the pipeline imports
        from tether.pipeline.staleness import workspace_staleness

        stages = workspace_staleness(repo)
    clean = all(r.clean for r in results) and not any(s.stale for s in stages)
    if as_json:
        render.emit_json("status", jsonout.status(results, stages, clean))
    else:
        if results or not stages:
            render.status(results)
        for s in stages:
            if s.stale:
                render.out(f"{s.name}: {'; '.join(s.reasons)}")
        if stages and not any(s.stale for s in stages):
            render.info(f"pipeline up to date: {len(stages)} stage(s)")
    bad = [r for r in results if r.state is core.PathState.BROKEN]
    if bad:  # the other paths are reported above; these make it an error
        from tether.errors import MetadataError

        raise MetadataError("; ".join(r.note for r in bad))
    if exit_code and not clean:
        raise typer.Exit(1)


def _remote_status(
    repo: Repo, targets: list[str] | None, name: str | None, as_json: bool, exit_code: bool
) -> None:
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.workspace import sync

    report = sync.remote_report(repo, targets, name, outputs=STAGE_OUTPUTS)
    paths, clean = report["paths"], report["clean"]
    if as_json:
        render.emit_json("remote-status", jsonout.remote_status(report))
    else:
        for path, v in paths.items():
            if not v["missing_in_cache"] and not v["missing_on_remote"]:
                continue
            tree_note = "" if v["tree_in_cache"] else " (tree not in cache: fetch to see its files)"
            render.out(
                f"{path}: {v['missing_on_remote']} of {v['objects']} object(s) missing on "
                f"{report['remote']}, {v['missing_in_cache']} missing in the cache{tree_note}"
            )
        if clean:
            render.info(f"up to date: cache and {report['remote']} hold every tracked object")
    if exit_code and not clean:
        raise typer.Exit(1)


def checkout(
    targets: OptPaths = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite changes that are not in the cache.")
    ] = False,
) -> None:
    """Make tracked paths and cached stage outputs match their pointer files and
    tether.lock (after `git checkout`)."""
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.repo import Repo
    from tether.workspace import checkout as core
    from tether.workspace import tracked

    repo = Repo.find()
    results = core.checkout(repo, tracked.targets(repo, targets), force, outputs=STAGE_OUTPUTS)
    changed = [r for r in results if r.changed]
    for r in changed:
        render.info(f"{r.path}: {r.added} added, {r.modified} modified, {r.deleted} deleted")
    if not changed:
        render.info(f"up to date: {len(results)} tracked path(s)")


def remove(targets: Paths) -> None:
    """Stop tracking paths: delete their pointer files, keep the data."""
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.repo import Repo
    from tether.workspace import remove as core
    from tether.workspace import tracked

    repo = Repo.find()
    for p in core.remove(repo, tracked.targets(repo, targets) or [], outputs=STAGE_OUTPUTS):
        render.info(f"untracked: {p.path} (data kept; {p.source} removed)")


def register(app: typer.Typer) -> None:
    for fn in (init, add, status, checkout, remove):
        app.command(fn.__name__)(fn)
