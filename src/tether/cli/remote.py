"""Sharing data: remote add/list/remove/default/modify, push, fetch, pull, install-hooks."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tether import jsonout, render

remote_app = typer.Typer(
    help="Manage remotes: where push and pull move objects (a path or any fsspec URL).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Remote name.")]
Local = Annotated[
    bool,
    typer.Option("--local", help="Write to .tether/config.local.yaml (not committed)."),
]
OptPaths = Annotated[
    list[str] | None, typer.Argument(help="Limit to these tracked paths (default: all).")
]
RemoteOpt = Annotated[
    str | None, typer.Option("--remote", "-r", help="Remote name (default: core.remote).")
]
Jobs = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, help="Parallel transfers (default: 1 local path, 32 S3)."),
]
AllCommits = Annotated[
    bool,
    typer.Option("--all-commits", "-A", help="Everything any commit of any branch or tag uses."),
]
RunCache = Annotated[
    bool, typer.Option("--run-cache", help="Also move the run-cache (pipeline results).")
]


@remote_app.command("add")
def remote_add(
    name: Name,
    url: Annotated[str, typer.Argument(help="A folder path or fsspec URL (s3://bucket/prefix).")],
    default: Annotated[bool, typer.Option("--default", "-d", help="Make it the default.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing one.")] = False,
    local: Local = False,
    mkdir: Annotated[
        bool,
        typer.Option("--mkdir", help="Create a folder remote's missing parent folders too."),
    ] = False,
) -> None:
    """Add a remote. Its options go to .tether/config.yaml (or --local). A folder
    that does not exist is created when its parent exists (--mkdir: in any case)."""
    from tether.remotes_service import add
    from tether.repo import Repo

    missing = add(Repo.find(), name, url, default, local, force, mkdir)
    render.info(f"remote {name} -> {url}{' (default)' if default else ''}")
    if missing is not None:
        render.warn(
            f"folder {missing} does not exist and was not created: push and pull refuse "
            "it until it does (check the path; `tether remote add --force --mkdir` creates "
            "missing parents too)"
        )


@remote_app.command("list")
def remote_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List remotes and their options; secrets are shown as ***."""
    from tether.config import masked
    from tether.repo import Repo

    cfg = Repo.find().config
    rows: dict[str, dict[str, Any]] = {}
    for name in sorted(cfg.remotes):
        opts = {k: masked(k, v) for k, v in sorted(cfg.remotes[name].items())}
        rows[name] = {**opts, "default": name == cfg.remote}
    if as_json:
        render.emit_json("remotes", jsonout.remotes(rows))
        return
    if not rows:
        render.info("no remotes — add one with `tether remote add NAME URL --default`")
    for name, opts in rows.items():
        extra = " ".join(
            f"{k}={render.config_value(v)}" for k, v in opts.items() if k not in ("url", "default")
        )
        mark = " (default)" if opts["default"] else ""
        render.out(f"{name}\t{opts['url']}{mark}{'  ' + extra if extra else ''}")


@remote_app.command("remove")
def remote_remove(name: Name) -> None:
    """Forget a remote (its data stays where it is)."""
    from tether import config
    from tether.repo import Repo

    repo = Repo.find()
    config.remote_remove(repo.dir, name)
    render.info(f"removed remote {name}")


@remote_app.command("default")
def remote_default(
    name: Annotated[str | None, typer.Argument(help="Remote to make default.")] = None,
    unset: Annotated[
        bool, typer.Option("--unset", help="Have no default (with --local: drop only yours).")
    ] = False,
    local: Local = False,
) -> None:
    """Print the default remote, or set it (--local: for this clone only)."""
    from tether import config
    from tether.repo import Repo

    repo = Repo.find()
    if unset:
        config.remote_default(repo.dir, None, local)
        now = Repo.find().config.remote
        render.info(f"default remote: {now}" if now else "no default remote")
    elif name is None:
        if not repo.config.remote:
            raise typer.Exit(1)
        render.out(repo.config.remote)
    else:
        config.remote_default(repo.dir, name, local)
        render.info(f"default remote: {name}{' (local)' if local else ''}")


@remote_app.command("modify")
def remote_modify(
    name: Name,
    option: Annotated[
        str,
        typer.Argument(
            help="url, endpoint_url, region, profile, jobs, hardlink (local folders: share one "
            "copy with the cache; off), "
            "pack (small objects in packs: true/false; on except for local folders), "
            "connect_timeout, read_timeout (seconds; S3), "
            "access_key_id, secret_access_key, session_token, or (with --local) any "
            "fsspec option."
        ),
    ],
    value: Annotated[str | None, typer.Argument(help="New value.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the option.")] = False,
    local: Local = False,
) -> None:
    """Set one option of a remote. Secrets, and options a cloned repository could
    turn against this machine (cache_storage, target_protocol…), are refused
    unless --local."""
    from tether import config
    from tether.errors import UsageError
    from tether.repo import Repo

    if (value is None) != unset:
        raise UsageError("give a VALUE, or --unset")
    repo = Repo.find()
    config.remote_modify(repo.dir, name, option, value, local)
    shown = config.masked(option, value)
    render.info(f"{name}.{option} {'unset' if unset else '= ' + str(shown)}")


@remote_app.command("verify")
def remote_verify(
    name: Annotated[str | None, typer.Argument(help="Remote name (default: core.remote).")] = None,
    all_commits: AllCommits = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="Download and hash every object (reads all the data).")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Upload what is missing or damaged from the local cache."),
    ] = False,
    run_cache: Annotated[
        bool,
        typer.Option(
            "--run-cache",
            help="Also this cache's run-cache entries (compared with this cache's copies)"
            " and the outputs they name.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check that the remote holds, whole, everything the workspace references
    (-A: every commit). Exit 1 when something is missing or damaged (with
    --repair: when something could not be put back)."""
    from tether import verify
    from tether.repo import Repo

    report = verify.verify(Repo.find(), name, all_commits, deep, repair, run_cache)
    if as_json:
        render.emit_json("remote-verify", jsonout.remote_verify(report))
    else:
        _verify_text(report)
    if not report.whole:
        raise typer.Exit(1)


def _verify_text(report: Any) -> None:
    for line in report.unreadable:
        render.warn(f"pointer file does not parse, not checked: {line}")
    for h in report.holes:
        name = {"tree": f"{h.path} (tree)", "run-cache": f"run-cache entry {h.digest}"}
        what = f"{name.get(h.kind, h.path)}: {h.problem} on {report.remote} ({h.reason})"
        if h.repaired:
            what += ", repaired"
        elif h.repaired is False:
            what += f", NOT repaired: {h.repair_error}"
        render.out(what)
    how = "downloaded and hashed" if report.deep else "listed"
    counts = f"{report.objects} object(s) {how}, {len(report.holes)} missing or damaged"
    if report.repair and report.holes:
        fixed = sum(1 for h in report.holes if h.repaired)
        counts += f", {fixed} repaired"
    render.info(f"verify {report.remote}: {counts}")


def _run_cache(repo: Any, remote: str | None, direction: str) -> None:
    from tether.pipeline import runcache_remote

    n = (
        runcache_remote.push(repo, remote)
        if direction == "push"
        else runcache_remote.pull(repo, remote)
    )
    verb = "uploaded" if direction == "push" else "downloaded"
    render.info(f"run-cache: {n} entr{'y' if n == 1 else 'ies'} {verb}")


def _report(stats: Any) -> None:
    render.info(stats.summary())
    from tether.remotes_service import raise_failures

    raise_failures(stats)


def push(
    targets: OptPaths = None,
    remote: RemoteOpt = None,
    jobs: Jobs = None,
    all_commits: AllCommits = False,
    run_cache: RunCache = False,
) -> None:
    """Upload what the remote lacks of the data the pointer files and tether.lock name."""
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.repo import Repo
    from tether.storage.transfer import Direction
    from tether.workspace import sync, tracked

    repo = Repo.find()
    chosen = tracked.targets(repo, targets)
    stats = sync.do_transfer(
        repo, Direction.PUSH, chosen, remote, jobs, all_commits, outputs=STAGE_OUTPUTS
    )
    if run_cache:
        _run_cache(repo, remote, "push")
    _report(stats)


def fetch(
    targets: OptPaths = None,
    remote: RemoteOpt = None,
    jobs: Jobs = None,
    all_commits: AllCommits = False,
    run_cache: RunCache = False,
) -> None:
    """Download missing objects of tracked data and stage outputs into the cache
    (the workspace is not touched)."""
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.repo import Repo
    from tether.storage.transfer import Direction
    from tether.workspace import sync, tracked

    repo = Repo.find()
    if run_cache:
        _run_cache(repo, remote, "pull")
    chosen = tracked.targets(repo, targets)
    stats = sync.do_transfer(
        repo, Direction.FETCH, chosen, remote, jobs, all_commits, outputs=STAGE_OUTPUTS
    )
    _report(stats)


def pull(
    targets: OptPaths = None,
    remote: RemoteOpt = None,
    jobs: Jobs = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite changes that are not in the cache.")
    ] = False,
    run_cache: RunCache = False,
) -> None:
    """Fetch, then check out: the workspace holds the data of this commit."""
    from tether.pipeline.outputs import STAGE_OUTPUTS
    from tether.repo import Repo
    from tether.workspace import sync, tracked

    repo = Repo.find()
    if run_cache:
        _run_cache(repo, remote, "pull")
    chosen = tracked.targets(repo, targets)
    stats, results = sync.do_pull(repo, chosen, remote, jobs, force, outputs=STAGE_OUTPUTS)
    for r in results:
        if r.changed:
            render.info(f"{r.path}: {r.added} added, {r.modified} modified, {r.deleted} deleted")
    _report(stats)


def install_hooks(
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace hooks that tether did not write.")
    ] = False,
) -> None:
    """Install git hooks: post-checkout runs `tether checkout`, pre-push runs `tether push`."""
    from tether.repo import Repo

    for path in Repo.find().install_hooks(force):
        render.info(f"installed {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(remote_app, name="remote")
    for fn in (push, fetch, pull):
        app.command(fn.__name__)(fn)
    app.command("install-hooks")(install_hooks)
