"""``tether exp show``: the baseline (HEAD) and its experiments as rows.

An experiment belongs to HEAD when it started from HEAD's commit, or from
the branch HEAD is on: after a rebase or an amend the baseline commit is
another, but the experiments are still listed, with the commit they started
from in their ``baseline`` column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether import gitscm, metrics
from tether.errors import TetherError, UsageError
from tether.experiments import record
from tether.repo import Repo


@dataclass
class Row:
    name: str  # the experiment's, or the baseline's ("HEAD")
    baseline: str
    commit: str
    params: dict[str, Any]  # "file:key" -> value
    metrics: dict[str, Any]  # "file:key" -> value
    state: str  # baseline | done | failed
    created: str


@dataclass
class Table:
    rows: list[Row]
    params: list[str]  # the columns shown
    metrics: list[str]


def _flat(files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{f}:{k}": v for f, keys in files.items() for k, v in keys.items()}


def _baseline(repo: Repo, head: str) -> Row:
    def values(kind: str) -> dict[str, Any]:
        try:
            # "HEAD", which ``head`` was read from: a commit's name would first be
            # looked up among the experiments' names
            return _flat(metrics.collect(repo, "HEAD", None, kind))
        except TetherError:
            return {}

    return Row("HEAD", head, head, values("params"), values("metric"), "baseline", "")


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) and not isinstance(value, bool) else (1, 0)


def _resolve_metric(names: list[str], wanted: str) -> str:
    found = [m for m in names if m == wanted or m.split(":", 1)[1] == wanted]
    if len(found) != 1:
        raise UsageError(
            f"--sort-by {wanted}: {'no such metric' if not found else 'ambiguous'}",
            f"one of: {', '.join(names) or 'no metrics recorded'}",
        )
    return found[0]


def show(
    repo: Repo, *, all_baselines: bool = False, sort_by: str | None = None, only_changed: bool
) -> Table:
    head = gitscm.rev_parse(repo.root, "HEAD")
    branch = gitscm.current_branch(repo.root)
    notes = [
        n
        for n in record.read_all(repo.root)
        if all_baselines or n.baseline == head or (branch and n.branch == branch)
    ]
    base = _baseline(repo, head)
    rows = [base] + [
        Row(n.name, n.baseline, n.commit, _flat(n.params), _flat(n.metrics), n.state, n.started)
        for n in notes
    ]
    param_cols = sorted({k for r in rows for k in r.params})
    metric_cols = sorted({k for r in rows for k in r.metrics})
    # params: those that differ from the baseline somewhere; metrics: all, or with
    # --only-changed those whose value is not the same in every row
    param_cols = [k for k in param_cols if len({repr(r.params.get(k)) for r in rows}) > 1]
    if only_changed:
        metric_cols = [k for k in metric_cols if len({repr(r.metrics.get(k)) for r in rows}) > 1]
    if sort_by is not None:
        key = _resolve_metric(sorted({k for r in rows for k in r.metrics}), sort_by)
        rows[1:] = sorted(rows[1:], key=lambda r: _sort_key(r.metrics.get(key)))
    return Table(rows, param_cols, metric_cols)
