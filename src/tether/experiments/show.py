"""``tether exp show``: the baseline (HEAD) and its experiments as rows.

An experiment belongs to HEAD when it started from HEAD's commit, or from
the branch HEAD is on: after a rebase or an amend the baseline commit is
another, but the experiments are still listed, with the commit they started
from in their ``baseline`` column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tether import gitscm, metrics
from tether.errors import TetherError, UsageError
from tether.experiments import filters, queue, record
from tether.repo import Repo


@dataclass
class Row:
    name: str  # the experiment's, or the baseline's ("HEAD")
    baseline: str
    commit: str
    params: dict[str, Any]  # "file:key" -> value
    metrics: dict[str, Any]  # "file:key" -> value
    state: str  # baseline | done | failed | queued | running
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


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers first (by value), then anything else by its text (strings,
    booleans, lists), then rows without the value."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value, "")
    if value is None:
        return (2, 0, "")
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return (1, 0, text)


def _resolve(names: list[str], wanted: str) -> str:
    found = [m for m in names if m == wanted or m.split(":", 1)[1] == wanted]
    if len(found) != 1:
        raise UsageError(
            f"--sort-by {wanted}: {'no such param or metric' if not found else 'ambiguous'}",
            f"one of: {', '.join(found or names) or 'no params or metrics recorded'}",
        )
    return found[0]


def of_head(note: record.Note, head: str, branch: str) -> bool:
    """Whether ``exp show`` lists the experiment under HEAD (commit ``head``, on ``branch``)."""
    return note.baseline == head or bool(branch and note.branch == branch)


def show(
    repo: Repo,
    *,
    all_baselines: bool = False,
    sort_by: str | None = None,
    only_changed: bool,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    state: str | None = None,
    limit: int | None = None,
) -> Table:
    head = gitscm.rev_parse(repo.root, "HEAD")
    branch = gitscm.current_branch(repo.root)
    every = record.read_all(repo.root)
    notes = [n for n in every if all_baselines or of_head(n, head, branch)]
    base = _baseline(repo, head)
    rows = [base] + [
        Row(n.name, n.baseline, n.commit, _flat(n.params), _flat(n.metrics), n.state, n.started)
        for n in notes
    ]
    rows += [
        Row(i.name, i.baseline, "", {**base.params, **i.params}, {}, i.state, i.started or i.queued)
        for i in queue.listed(repo, {n.name for n in every})
        if all_baselines or i.baseline == head or (branch and i.branch == branch)
    ]
    rows[1:] = _chosen(rows[1:], state, limit)
    all_params = sorted({k for r in rows for k in r.params})
    all_metrics = sorted({k for r in rows for k in r.metrics})
    # params: those that differ from the baseline somewhere; metrics: all, or with
    # --only-changed those whose value is not the same in every row
    param_cols = [k for k in all_params if len({repr(r.params.get(k)) for r in rows}) > 1]
    metric_cols = all_metrics
    if only_changed:
        metric_cols = [k for k in metric_cols if len({repr(r.metrics.get(k)) for r in rows}) > 1]
    param_cols = filters.columns(all_params, param_cols, keep, drop)
    metric_cols = filters.columns(all_metrics, metric_cols, keep, drop)
    if sort_by is not None:
        key = _resolve(all_metrics + all_params, sort_by)
        rows[1:] = sorted(rows[1:], key=lambda r: _sort_key({**r.params, **r.metrics}.get(key)))
    return Table(rows, param_cols, metric_cols)


def _chosen(rows: list[Row], state: str | None, limit: int | None) -> list[Row]:
    """The experiments' rows in ``state``, then the ``limit`` newest of them."""
    filters.check_state(state, [*filters.STATES, "queued", "running", *(r.state for r in rows)])
    if state is not None:
        rows = [r for r in rows if r.state == state]
    if limit is not None:
        newest = {id(r) for r in sorted(rows, key=lambda r: r.created)[max(0, len(rows) - limit) :]}
        rows = [r for r in rows if id(r) in newest]
    return rows
