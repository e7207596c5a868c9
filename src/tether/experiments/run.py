"""``tether exp run``: one experiment per combination of ``-S`` values, each in
its own git work tree under ``.tether/exps/work/``.

The user's checkout is only read: the work tree starts from a commit of HEAD
plus the uncommitted changes to tracked files (written through a copy of the
index), its data comes from the shared cache by the cache's links, and the
pipeline runs there in a child ``tether`` whose output goes to the
experiment's log. Whatever the run ends with is committed (code, params,
tether.lock, pointers, metrics) on the experiment's ref; the work tree is
then removed, the outputs staying in the cache.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tether import config, exprefs, gitscm, metrics, yamlio
from tether.config import LOCAL
from tether.errors import TetherError, UsageError
from tether.experiments import logs, names, proc, record, running, setparams
from tether.repo import Repo
from tether.repolock import locked
from tether.storage import links

WORK = running.WORK
LOGS = "exps/logs"
QUEUE = "exps/queue"  # queued experiments, one <name>.json each (experiments.queue)
# runs the experiment's child (checkout, then repro) in its work tree with its
# output appended to the log; its exit code
Launch = Callable[[Path, Path], int]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def git_lock(repo: Repo) -> Iterator[None]:
    """Held around ``git worktree add/remove`` on the user's repository: the
    experiments running at once (a queue's workers) take turns there."""
    with locked(repo.tmp / "exps-git.lock", "exp: git worktree", wait=300):
        yield


def remove_work_tree(repo: Repo, path: Path) -> None:
    with git_lock(repo):
        gitscm.worktree_remove(repo.root, path)
    shutil.rmtree(path, ignore_errors=True)


def _prepare(repo: Repo, path: Path, start: str, overrides: list[setparams.Override]) -> Repo:
    """The experiment's work tree at ``path``, a tether project sharing this cache."""
    with git_lock(repo):
        gitscm.worktree_add(repo.root, path, start)
    # this machine's settings (remote credentials, ...), with the project's cache
    local = config.local_settings(repo.dir)
    local["cache"] = {
        **local.get("cache", {}),
        "dir": str(repo.cache_dir),
        "link": links.work_tree_order(repo.config.link),
    }
    (path / ".tether").mkdir(exist_ok=True)
    yamlio.dump_file(path / ".tether" / LOCAL, local)
    (path / ".tether" / LOCAL).chmod(0o600)  # it may hold secrets
    setparams.apply(path, overrides)
    return Repo(path)


def _launch(cwd: Path, log: Path) -> int:
    """``tether exp exec`` in a child process that dies with this one."""
    return proc.launch_child([sys.executable, "-m", "tether", "exp", "exec"], cwd, log)


def _values(wrepo: Repo, kind: str) -> dict[str, dict[str, object]]:
    try:
        return metrics.collect(wrepo, None, None, kind)
    except TetherError:  # a failed run may have left no metrics
        return {}


def run_one(
    repo: Repo,
    baseline: str,
    branch: str,
    start: str,
    name: str,
    overrides: list[setparams.Override],
    launch: Launch = _launch,
) -> record.Note:
    """Run one experiment to its end, recorded whatever happens. ``launch``
    runs the child (a queue's worker forks it, in a process group of its own)."""
    held = running.hold(repo, name)  # so that `exp clean` leaves this run alone
    path = repo.dir / WORK / name
    log = repo.dir / LOGS / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    started = _now()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        wrepo = _prepare(repo, path, start, overrides)
        code = launch(path, log)
        note = record.Note(
            name=name,
            baseline=baseline,
            branch=branch,
            changed={f"{f}:{k}": v for f, k, v in overrides},
            params=_values(wrepo, "params"),
            metrics=_values(wrepo, "metric"),
            state="done" if code == 0 else "failed",
            exit_code=code,
            started=started,
            finished=_now(),
            log=str(log.relative_to(repo.root)),
            log_digest=logs.store(repo, log),
        )
        commit = gitscm.commit_all(path, baseline, note.message())
        gitscm.set_ref(repo.root, exprefs.ref_of(baseline, name), commit)
        note.commit = commit
        return note
    finally:
        remove_work_tree(repo, path)
        held.release()


@dataclass
class Plan:
    """What ``exp run`` will run: where each experiment starts, and its name and values."""

    baseline: str  # HEAD's commit
    branch: str
    start: str  # a commit of HEAD plus the uncommitted changes to tracked files
    items: list[tuple[str, list[setparams.Override]]]


def plan(repo: Repo, sets: list[str], name: str | None = None) -> Plan:
    """Check the ``-S`` settings, name every combination, and snapshot the starting point."""
    settings = setparams.parse_all(sets)
    setparams.check(repo.root, settings)
    if not gitscm.has_commits(repo.root):
        raise UsageError("the repository has no commits yet", "commit first (`git commit`)")
    combos = setparams.grid(settings)
    taken = set(exprefs.all_refs(repo.root)) | {p.stem for p in (repo.dir / QUEUE).glob("*.json")}
    if name is None:
        wanted: list[str] = []
    elif len(combos) == 1:
        wanted = [name]
    else:
        wanted = [f"{name}-{i}" for i in range(1, len(combos) + 1)]
    for w in wanted:
        names.check(repo.root, w)
    clash = sorted(set(wanted) & taken)
    if clash:
        raise UsageError(
            f"an experiment named {clash[0]} exists",
            "pick another --name, or `tether exp remove` it (`tether queue remove` if queued)",
        )
    baseline = gitscm.rev_parse(repo.root, "HEAD")
    branch = gitscm.current_branch(repo.root)
    with repo.lock("exp run"):  # the snapshot is read while nothing else writes
        tmp = repo.dir / "tmp"
        tmp.mkdir(exist_ok=True)
        index = tmp / f"exp-index-{_now().replace(':', '')}"
        try:
            tree = gitscm.snapshot_tree(repo.root, index)
        finally:
            index.unlink(missing_ok=True)
            Path(f"{index}.lock").unlink(missing_ok=True)
    start = gitscm.commit_tree(repo.root, tree, baseline, "tether experiment: starting point\n")
    items = []
    for i, combo in enumerate(combos):
        exp_name = wanted[i] if wanted else names.generate(taken)
        taken.add(exp_name)
        items.append((exp_name, combo))
    return Plan(baseline, branch, start, items)


def run(
    repo: Repo,
    sets: list[str],
    name: str | None = None,
    on_start: Callable[[str, list[setparams.Override]], None] | None = None,
) -> list[record.Note]:
    """Run one experiment per combination of ``sets``, one after another."""
    p = plan(repo, sets, name)
    notes = []
    for exp_name, combo in p.items:
        if on_start is not None:
            on_start(exp_name, combo)
        notes.append(run_one(repo, p.baseline, p.branch, p.start, exp_name, combo))
    return notes
