"""``exp push`` and ``exp pull``: experiments shared between clones.

An experiment is a ref (its commit, whose parent is the baseline) and data:
every object its commit's pointer files and tether.lock name, and its log.
Refs go through git (``GITREMOTE``), data through a data remote. A push moves
the data first and the refs only once all of it arrived, so a ref on a git
remote never names data its data remote lacks; a pull fetches the refs, then
their data into the cache (the workspace is not touched).

Refs read from a git remote are untrusted: only those :func:`exprefs.valid`
accepts are listed or fetched, and a note's paths are never opened.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tether import exprefs, gitscm
from tether.artifact import Artifact, Kind
from tether.errors import UsageError
from tether.experiments import manage, record, show
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.remotes_service import open_for, raise_failures, roots
from tether.repo import Repo
from tether.storage.transfer import Direction, Stats
from tether.workspace import sync, tracked


@dataclass
class Shared:
    """What ``exp push``/``exp pull`` did: the experiments whose refs moved,
    those the other side already had, and the data transfer."""

    git_remote: str
    stats: Stats
    moved: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)


def _notes(repo: Repo, names: list[str], all_baselines: bool) -> list[record.Note]:
    """The experiments named, or those ``exp show`` lists (``all_baselines``: all)."""
    found = {n.name: n for n in record.read_all(repo.root)}
    if names:
        unknown = sorted(set(names) - found.keys())
        if unknown:
            raise UsageError(f"no experiment named {unknown[0]!r}", "see `tether exp show --all`")
        return [found[n] for n in sorted(set(names))]
    if all_baselines:
        return list(found.values())
    head = gitscm.rev_parse(repo.root, "HEAD")
    branch = gitscm.current_branch(repo.root)
    return [n for n in found.values() if show.of_head(n, head, branch)]


def _data(repo: Repo, notes: list[record.Note], sized: bool) -> list[Artifact]:
    """Every root object the experiments need: their pointers, cached stage
    outputs and logs (``sized``: a push, with each log's size in this cache;
    else a fetch, of the logs the cache lacks)."""
    found: list[Artifact] = []
    for n in notes:
        found += tracked.at_commit(repo, n.commit, STAGE_OUTPUTS)
        size = repo.odb.size(n.log_digest) if n.log_digest else None
        if n.log_digest and (sized or size is None):  # a fetch of an unknown size: if absent
            name = f"log of experiment {n.name}"
            found.append(Artifact(name, Kind.FILE, n.log_digest, size or 0))
    return roots(found)


def _theirs(repo: Repo, git_remote: str) -> dict[str, list[tuple[str, str]]]:
    """The experiments on a git remote: name -> [(ref, commit)], valid refs only."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for ref, sha in gitscm.remote_refs(repo.root, git_remote, exprefs.PREFIX):
        if exprefs.valid(ref) and exprefs.BASELINE.fullmatch(sha):
            found[exprefs.split(ref)[1]].append((ref, sha))
    return dict(found)


def push(
    repo: Repo,
    git_remote: str,
    names: list[str],
    *,
    all_baselines: bool = False,
    data_remote: str | None = None,
    jobs: int | None = None,
    force: bool = False,
) -> Shared:
    """Upload the experiments' data to the data remote, then push their refs to
    ``git_remote``. An experiment of the same name with another commit there is
    refused unless ``force`` (which replaces it)."""
    notes = _notes(repo, names, all_baselines)
    if not notes:
        return Shared(git_remote, Stats(Direction.PUSH, ""))
    mine = exprefs.all_refs(repo.root)
    theirs = _theirs(repo, git_remote)  # reaches the git remote before any data moves
    specs, current, moved = [], [], []
    for n in notes:
        ref = mine[n.name][0]
        others = [r for r, sha in theirs.get(n.name, []) if (r, sha) != (ref, n.commit)]
        if others and not force:
            raise UsageError(
                f"git remote {git_remote!r} has another experiment named {n.name}",
                "pass --force to replace it there with yours",
            )
        if not others and theirs.get(n.name):
            current.append(n.name)
            continue
        specs += [f":{r}" for r in others if r != ref]
        specs.append(f"{'+' if force else ''}{ref}:{ref}")
        moved.append(n.name)
    remote = open_for(repo, data_remote)
    # a failed run's lock may name outputs it never made: it shares what it has
    wanted = _data(repo, [n for n in notes if n.state == "done"], sized=True)
    partial = _data(repo, [n for n in notes if n.state != "done"], sized=True)
    wanted += [a for a in partial if repo.odb.exists(a.digest)]
    with repo.lock("exp push"):
        stats = sync.move(repo, Direction.PUSH, remote, roots(wanted), jobs, outputs=STAGE_OUTPUTS)
    raise_failures(stats)  # no ref goes up before all its data did
    gitscm.push_refs(repo.root, git_remote, specs)
    return Shared(git_remote, stats, sorted(moved), sorted(current))


def _merge(stats: Stats, more: Stats) -> Stats:
    stats.moved += more.moved
    stats.present += more.present
    stats.bytes += more.bytes
    stats.seconds += more.seconds
    stats.failed.update(more.failed)
    return stats


def pull(
    repo: Repo,
    git_remote: str,
    names: list[str],
    *,
    data_remote: str | None = None,
    jobs: int | None = None,
    force: bool = False,
) -> Shared:
    """Fetch the experiments' refs from ``git_remote`` (all, or ``names``), then
    their data from the data remote into the cache. An experiment here of the
    same name with another commit is refused unless ``force`` (which replaces it)."""
    for n in names:
        if not exprefs.well_formed(n):
            raise UsageError(
                f"{n!r} is not a valid experiment name", "see `tether exp show --all` there"
            )
    theirs = _theirs(repo, git_remote)
    for n in names:
        if n not in theirs:
            raise UsageError(
                f"git remote {git_remote!r} has no experiment named {n!r}",
                f"list them with `git ls-remote {git_remote} '{exprefs.PREFIX}*'`",
            )
    wanted = sorted(set(names)) if names else sorted(theirs)
    if not wanted:
        return Shared(git_remote, Stats(Direction.FETCH, ""))
    for n in wanted:
        if len(theirs[n]) > 1:
            raise UsageError(
                f"git remote {git_remote!r} has {len(theirs[n])} experiments named {n}",
                "delete all but one there (`git push GITREMOTE :REF`)",
            )
    mine = exprefs.all_refs(repo.root)
    specs, replaced, current, moved = [], [], [], []
    for n in wanted:
        ref, sha = theirs[n][0]
        if n in mine and mine[n][1] == sha:
            current.append(n)
            continue
        if n in mine and not force:
            raise UsageError(
                f"experiment {n} exists here with another commit "
                f"({mine[n][1][:7]}; git remote {git_remote!r} has {sha[:7]})",
                "pass --force to replace yours, or `tether exp remove` it first",
            )
        if n in mine:
            replaced.append(n)
        specs.append(f"+{ref}:{ref}")
        moved.append(n)
    remote = open_for(repo, data_remote)  # a data remote that is not set fails before git moves
    gitscm.fetch_refs(repo.root, git_remote, specs)
    stale = [mine[n][0] for n in replaced if mine[n][0] != theirs[n][0][0]]
    gitscm.delete_refs(repo.root, stale)
    for n in replaced:  # its log was of the experiment replaced
        manage.log_file(repo, n).unlink(missing_ok=True)
    notes = [n for n in record.read_all(repo.root) if n.name in set(wanted)]
    done = _data(repo, [n for n in notes if n.state == "done"], sized=False)
    partial = _data(repo, [n for n in notes if n.state != "done"], sized=False)
    partial = [a for a in partial if a.digest not in {d.digest for d in done}]
    with repo.lock("exp pull"):
        stats = sync.move(repo, Direction.FETCH, remote, done, jobs, outputs=STAGE_OUTPUTS)
        if partial:  # a failed run shared what it had made: the rest is absent
            more = sync.move(repo, Direction.FETCH, remote, partial, jobs, outputs=STAGE_OUTPUTS)
            more.failed = {k: v for k, v in more.failed.items() if k not in more.absent}
            stats = _merge(stats, more)
    raise_failures(stats)
    return Shared(git_remote, stats, moved, current)
