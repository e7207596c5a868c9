"""``exp clean``: delete what experiments left behind, and nothing else.

A run that was killed can leave its work tree under ``.tether/exps/work/``
(registered with git or not) and its run lock; a log can outlive its
experiment; ``exp run`` writes a copy of the index under ``.tether/tmp/``;
an experiment's ref can name a commit that is gone. The log of a queue item,
whatever its state, is not left behind: ``queue logs`` reads it. Each is deleted only when
no run owns it (:func:`tether.experiments.running.is_running`), and under the
repository lock, which ``exp run`` holds while it writes its index copy. A
file whose name tether would not have given is never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tether import exprefs, gitscm
from tether.experiments import proc, queue, running
from tether.repo import Repo

LOGS = "exps/logs"
INDEX_PREFIX = "exp-index-"  # ``exp run``'s index copies in .tether/tmp/


class Kind(StrEnum):
    WORK_TREE = "work tree"
    RUN_LOCK = "run lock"
    LOG = "log"
    INDEX = "temporary index"
    REF = "ref"


@dataclass(frozen=True)
class Leftover:
    kind: Kind
    what: str  # a path from the repository root, or a ref's full name
    why: str


def _rel(repo: Repo, path: Path) -> str:
    return path.relative_to(repo.root).as_posix()


def _work_trees(repo: Repo, registered: dict[str, Path]) -> list[Leftover]:
    work = repo.dir / running.WORK
    names = set(registered)
    if work.is_dir():
        for entry in work.iterdir():
            if entry.is_symlink():
                continue  # tether makes none there: not its to delete
            name = entry.name.removesuffix(".lock") if entry.is_file() else entry.name
            if exprefs.NAME.fullmatch(name) and (entry.is_dir() or entry.suffix == ".lock"):
                names.add(name)
    found = []
    for name in sorted(names):
        if running.is_running(repo, name) or proc.works_in(work / name):
            continue  # a process still works there: a killed run's child, not ended yet
        tree, lock = work / name, running.lock_path(repo, name)
        if name in registered or (tree.is_dir() and not tree.is_symlink()):
            found.append(Leftover(Kind.WORK_TREE, _rel(repo, tree), "its run is not running"))
        elif lock.is_file():
            found.append(Leftover(Kind.RUN_LOCK, _rel(repo, lock), "its run is not running"))
    return found


def _logs(repo: Repo, experiments: set[str]) -> list[Leftover]:
    logs = repo.dir / LOGS
    if not logs.is_dir():
        return []
    return [
        Leftover(Kind.LOG, _rel(repo, p), f"no experiment {p.stem}")
        for p in sorted(logs.glob("*.log"))
        if p.is_file() and exprefs.NAME.fullmatch(p.stem) and p.stem not in experiments
        and not running.is_running(repo, p.stem)
    ]  # fmt: skip


def _indexes(repo: Repo) -> list[Leftover]:
    if not repo.tmp.is_dir():
        return []
    return [
        Leftover(Kind.INDEX, _rel(repo, p), "left by an `exp run` that did not finish")
        for p in sorted(repo.tmp.glob(f"{INDEX_PREFIX}*"))
        if p.is_file()
    ]


def _refs(repo: Repo) -> list[Leftover]:
    refs = gitscm.refs_under(repo.root, exprefs.PREFIX)
    objects = gitscm.read_objects(repo.root, sorted({sha for _, sha in refs}))
    return [
        Leftover(Kind.REF, ref, f"its commit {sha[:7]} is missing")
        for ref, sha in refs
        if objects.get(sha) is None
    ]


def _registered(repo: Repo) -> dict[str, Path]:
    """Work trees git knows of in ``.tether/exps/work/``, by name."""
    work = (repo.dir / running.WORK).resolve()
    return {p.name: p for p in gitscm.worktrees(repo.root) if p.resolve().parent == work}


def clean(repo: Repo, dry_run: bool = False) -> list[Leftover]:
    """Find the leftovers and, unless ``dry_run``, delete them; what was found."""
    with repo.lock("exp clean"):
        registered = _registered(repo)
        refs = _refs(repo)
        experiments = set(exprefs.all_refs(repo.root)) - {exprefs.split(r.what)[1] for r in refs}
        experiments |= queue.all_names(repo)  # a queue item's log is read by `queue logs`
        found = [
            *_work_trees(repo, registered), *_logs(repo, experiments), *_indexes(repo), *refs
        ]  # fmt: skip
        if not dry_run:
            for item in found:
                _remove(repo, item, registered)
    return found


def _remove(repo: Repo, item: Leftover, registered: dict[str, Path]) -> None:
    path = repo.root / item.what
    if item.kind is Kind.REF:
        gitscm.delete_refs(repo.root, [item.what])
    elif item.kind is Kind.WORK_TREE:
        if path.name in registered:
            gitscm.worktree_remove(repo.root, registered[path.name])
        shutil.rmtree(path, ignore_errors=True)
        running.lock_path(repo, path.name).unlink(missing_ok=True)
    else:
        path.unlink(missing_ok=True)
