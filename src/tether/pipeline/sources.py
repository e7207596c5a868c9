"""What a stage reads must exist somewhere tether can bring it back from.

- A dependency tracked by a pointer file (a data source) whose data changed
  since the pointer was written is stored in the cache and its pointer file
  updated before any stage runs, as ``tether add`` would (DVC verifies its data
  sources the same way). Otherwise tether.lock would record digests of data
  that is in no cache and on no remote, and a clone would pair old data with
  outputs built from new data.
- A dependency that is an output of a stage that does not run now must hold
  what tether.lock records for that stage: an output edited by hand is in no
  cache either, so a stage is not run on it.
"""

from __future__ import annotations

from dataclasses import replace

from tether import gitscm, pointer
from tether.errors import PipelineError
from tether.paths import overlaps
from tether.pipeline import lock
from tether.pipeline.graph import Graph
from tether.pipeline.spec import Stage
from tether.pointer import Pointer
from tether.repo import Repo
from tether.workspace.add import relink, store_path
from tether.workspace.hashpath import Memo, hash_path


def changed(repo: Repo, pointers: list[Pointer], stages: list[Stage], memo: Memo) -> list[Pointer]:
    """The pointers that a dependency of ``stages`` overlaps and whose data differs
    from what the pointer records (a missing path is the stage's own error)."""
    out = []
    for p in pointers:
        if not any(overlaps(d, p.path) for s in stages for d in s.deps):
            continue
        h = hash_path(repo, p.path, memo)
        if h is not None and h.digest != p.digest:
            out.append(p)
    return out


def store(repo: Repo, pointers: list[Pointer]) -> list[Pointer]:
    """Store the current data of ``pointers`` and rewrite their pointer files."""
    stored = []
    for p in pointers:
        with repo.odb.writer() as writer:
            new = replace(store_path(repo, p.path, writer), source=p.source)
        pointer.write(repo.root, new)  # the data is in the cache before the pointer names it
        relink(repo, new)
        stored.append(new)
    if stored and repo.config.autostage:
        gitscm.stage(repo.root, [p.source for p in stored])
    return stored


def check_upstream(
    repo: Repo,
    graph: Graph,
    stage: Stage,
    entries: dict[str, lock.Entry],
    running: set[str],
    memo: Memo,
) -> None:
    """Refuse to run ``stage`` on an output of a stage that does not run now and
    no longer holds what tether.lock records for it."""
    for d in stage.deps:
        producer = graph.producer(d)
        if producer is None or producer == stage.name or producer in running:
            continue
        recorded = {a.path: a.digest for a in entries[producer].outs} if producer in entries else {}
        for o in graph.stages[producer].outs:
            if not overlaps(d, o.path):
                continue
            h = hash_path(repo, o.path, memo)
            if h is None or recorded.get(o.path) == h.digest:
                continue  # a missing dependency is reported by the caller
            if o.path in recorded:
                why, hint = "differs from", f", or `tether checkout -f {o.path}` to restore it"
            else:
                why, hint = "is not in", ""
            raise PipelineError(
                f"stage {stage.name} reads {o.path}, an output of {producer} that {why} "
                f"what {lock.FILE} records (changed by hand?), and {producer} does not run now",
                f"run `tether repro {producer}` to rebuild it{hint}",
            )
