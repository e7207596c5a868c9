"""``exp diff``: the params and metrics of two experiments or revisions, side by
side, through the same comparison as ``params diff`` and ``metrics diff``.

Either side is an experiment's name or any git revision. Without a second
one, an experiment is compared with the commit it started from (its
baseline, the parent of its commit): old is the baseline, new the
experiment, so the change column reads as what the experiment changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tether import exprefs, gitscm, metrics
from tether.errors import GitError, UsageError
from tether.repo import Repo


@dataclass
class ExpDiff:
    old: str  # as named, or the baseline's short commit
    new: str
    old_commit: str
    new_commit: str
    params: list[metrics.Row]
    metrics: list[metrics.Row]
    notes: list[str] = field(default_factory=list)


def _commit(repo: Repo, rev: str) -> str:
    """The commit an experiment's name or a revision names; one usage error when none."""
    try:
        return gitscm.rev_parse(repo.root, exprefs.resolve(repo.root, rev))
    except GitError as exc:
        raise UsageError(
            f"no experiment or revision named {rev!r}",
            "see `tether exp show --all` or `git log --oneline`"
            if gitscm.has_commits(repo.root)
            else exc.hint,
        ) from None


def _baseline(repo: Repo, name: str, commit: str) -> str:
    try:
        return gitscm.rev_parse(repo.root, f"{commit}^")
    except GitError:
        raise UsageError(
            f"{name} has no parent commit to compare it with", "name the other side too"
        ) from None


def diff(repo: Repo, a: str, b: str | None, show_all: bool) -> ExpDiff:
    """``exp diff A B``: A old, B new; ``exp diff A``: A's baseline old, A new."""
    first = _commit(repo, a)
    if b is None:
        old_commit, new_commit = _baseline(repo, a, first), first
        old, new = old_commit[:7], a
    else:
        old_commit, new_commit, old, new = first, _commit(repo, b), a, b
    notes: list[str] = []
    params = metrics.compare(repo, old_commit, new_commit, None, "params", show_all, notes)
    values = metrics.compare(repo, old_commit, new_commit, None, "metric", show_all, notes)
    return ExpDiff(old, new, old_commit, new_commit, params, values, notes)
