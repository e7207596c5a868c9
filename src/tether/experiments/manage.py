"""``exp remove``, ``exp apply``, ``exp branch``: what to do with a recorded experiment."""

from __future__ import annotations

from pathlib import Path

from tether import exprefs, gitscm
from tether.errors import TetherError, UsageError, WorkspaceError
from tether.experiments import filters, logs, queue, record
from tether.experiments.run import LOGS
from tether.pipeline import lock, outputs
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.repo import Repo
from tether.workspace import tracked
from tether.workspace.checkout import check, checkout


def _find(repo: Repo, name: str) -> tuple[str, str]:
    found = exprefs.all_refs(repo.root).get(name)
    if found is None:
        raise UsageError(f"no experiment named {name!r}", "see `tether exp show --all`")
    return found


def remove(
    repo: Repo,
    names: list[str],
    everything: bool,
    *,
    older_than: int | None = None,
    state: str | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete experiments' refs and logs; their outputs stay in the cache until gc.
    ``names`` or ``everything`` pick experiments (every one when only filters are
    given); ``older_than`` (seconds since it started) and ``state`` narrow them."""
    filtered = older_than is not None or state is not None
    if everything and names:
        raise UsageError(
            "name experiments or pass --all, not both", "see `tether exp remove --help`"
        )
    filters.check_state(state)
    refs = exprefs.all_refs(repo.root)
    if everything or (filtered and not names):
        names = sorted(refs)
    elif not names:
        raise UsageError("name the experiments to remove", "or pass --all, --older-than or --state")
    names = sorted(set(names))
    for n in names:
        if n not in refs:
            _find(repo, n)  # the error
    if filtered:
        wanted = set(names)
        notes = [n for n in record.read_all(repo.root) if n.name in wanted]
        names = sorted(n.name for n in filters.pick(notes, older_than, state))
    if not dry_run:
        gitscm.delete_refs(repo.root, [refs[n][0] for n in names])
        for n in names:
            (repo.dir / LOGS / f"{n}.log").unlink(missing_ok=True)
    return names


def _already(repo: Repo, commit: str, paths: list[str]) -> set[str]:
    """Those of ``paths`` whose file in the workspace is already as in ``commit``
    (or absent from both): applying changes nothing there."""
    found = gitscm.read_at(repo.root, commit, paths)
    same = set()
    for p, data in found.items():
        full = repo.root / p
        if full.is_symlink() or full.is_dir():
            continue
        if data is None:
            if not full.exists():
                same.add(p)
        elif full.is_file() and full.read_bytes() == data:
            same.add(p)
    return same


def apply(repo: Repo, name: str, force: bool) -> list[str]:
    """Write the experiment's files (params, code, tether.lock, pointers) into the
    workspace and check out its outputs. Files with uncommitted changes are
    refused unless ``force``, and so is data whose changes are in no cache:
    everything is checked before the first file is written. The index is left
    alone: the changes show as unstaged, for the user to commit or drop. The
    files changed (those already as in the experiment are not)."""
    _, commit = _find(repo, name)
    head = gitscm.rev_parse(repo.root, "HEAD")
    differ = gitscm.changed_between(repo.root, head, commit)
    same = _already(repo, commit, differ)
    paths = [p for p in differ if p not in same]
    dirty = gitscm.changed_paths(repo.root, paths)
    if dirty and not force:
        raise WorkspaceError(
            f"exp apply {name} would overwrite uncommitted changes to {', '.join(dirty[:3])}"
            + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else ""),
            "commit them, or pass --force to overwrite them",
        )
    with repo.lock("exp apply"):
        try:
            pointers = tracked.at_commit(repo, commit, STAGE_OUTPUTS, strict=True)
            pointers = [p for p in pointers if p.source != lock.FILE]
            check(repo, pointers + outputs.cached_at(repo, commit), force)
        except TetherError as exc:
            exc.message = f"exp apply {name}: {exc.message.removesuffix('; nothing was changed')}"
            exc.message += "; nothing was changed"
            raise
        gitscm.restore_worktree(repo.root, commit, paths)
    checkout(repo, None, force, outputs=STAGE_OUTPUTS)
    return paths


def branch(repo: Repo, name: str, new_branch: str) -> str:
    """A git branch at the experiment's commit (its parent is the baseline)."""
    _, commit = _find(repo, name)
    if new_branch in gitscm.ref_names(repo.root):
        raise UsageError(f"a branch or tag named {new_branch} exists", "pick another name")
    if not gitscm.valid_branch_name(repo.root, new_branch):
        raise UsageError(f"{new_branch!r} is not a valid branch name", "see `git check-ref-format`")
    gitscm.create_branch(repo.root, new_branch, commit)
    return commit


def log_file(repo: Repo, name: str) -> Path:
    """Where this clone keeps the log of experiment ``name`` (a valid name)."""
    return repo.dir / LOGS / f"{name}.log"


def log(repo: Repo, name: str) -> bytes:
    """``exp logs NAME``: the experiment's log, from this clone's file or the cache."""
    for note in record.read_all(repo.root):
        if note.name == name:
            return logs.read(repo, note, log_file(repo, name))
    if name in queue.all_names(repo):  # not recorded (yet, or its worker died)
        found = queue.log_of(repo, name)
        if found is not None:
            return found.read_bytes()
        raise UsageError(f"{name} has no log yet (not started)", "see `tether queue status`")
    raise UsageError(f"no experiment named {name!r}", "see `tether exp show --all`")
