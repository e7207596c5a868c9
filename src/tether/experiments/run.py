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

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tether import config, exprefs, gitscm, metrics, yamlio
from tether.config import LOCAL
from tether.errors import TetherError, UsageError
from tether.experiments import names, record, setparams
from tether.repo import Repo
from tether.storage import links

WORK = "exps/work"  # below .tether/: the work trees of running experiments
LOGS = "exps/logs"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _prepare(repo: Repo, path: Path, start: str, overrides: list[setparams.Override]) -> Repo:
    """The experiment's work tree at ``path``, a tether project sharing this cache."""
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


def _tether(args: list[str], cwd: Path, log: Path) -> int:
    with log.open("ab") as out:
        out.write(f"$ tether {' '.join(args)}\n".encode())
        out.flush()
        cmd = [sys.executable, "-m", "tether", *args]
        return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=out, check=False).returncode


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
) -> record.Note:
    """Run one experiment to its end, recorded whatever happens."""
    path = repo.dir / WORK / name
    log = repo.dir / LOGS / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    started = _now()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        wrepo = _prepare(repo, path, start, overrides)
        code = _tether(["checkout"], path, log) or _tether(["repro"], path, log)
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
        )
        commit = gitscm.commit_all(path, baseline, note.message())
        gitscm.set_ref(repo.root, exprefs.ref_of(baseline, name), commit)
        note.commit = commit
        return note
    finally:
        gitscm.worktree_remove(repo.root, path)
        shutil.rmtree(path, ignore_errors=True)


def run(
    repo: Repo,
    sets: list[str],
    name: str | None = None,
    on_start: Callable[[str, list[setparams.Override]], None] | None = None,
) -> list[record.Note]:
    """Run one experiment per combination of ``sets``, one after another."""
    settings = [setparams.parse(s) for s in sets]
    setparams.check(repo.root, settings)
    if name is not None and not exprefs.NAME.fullmatch(name):
        raise UsageError(
            f"--name {name!r}: not a valid experiment name",
            "use letters, digits, '.', '_' and '-' (up to 64)",
        )
    if not gitscm.has_commits(repo.root):
        raise UsageError("the repository has no commits yet", "commit first (`git commit`)")
    combos = setparams.grid(settings)
    taken = set(exprefs.all_refs(repo.root))
    if name is None:
        wanted: list[str] = []
    elif len(combos) == 1:
        wanted = [name]
    else:
        wanted = [f"{name}-{i}" for i in range(1, len(combos) + 1)]
    clash = sorted(set(wanted) & taken)
    if clash:
        raise UsageError(
            f"an experiment named {clash[0]} exists",
            "pick another --name, or `tether exp remove` it",
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
    notes = []
    for i, combo in enumerate(combos):
        exp_name = wanted[i] if wanted else names.generate(taken)
        taken.add(exp_name)
        if on_start is not None:
            on_start(exp_name, combo)
        notes.append(run_one(repo, baseline, branch, start, exp_name, combo))
    return notes
