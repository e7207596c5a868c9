"""Why a stage is stale: its command, a dependency's digest, a used param's
value, an output's digest differ from ``tether.lock``, or an output is missing.
Params are compared by the keys a stage names, so an unused key never matters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether import valuefiles
from tether.artifact import Artifact
from tether.errors import PipelineError
from tether.pipeline import lock, spec
from tether.pipeline.graph import Graph
from tether.pipeline.outputs import load
from tether.pipeline.spec import Stage
from tether.repo import Repo
from tether.workspace.hashpath import Memo, hash_path


@dataclass
class Staleness:
    """Whether one stage is stale: every reason it is, none when up to date."""

    name: str
    reasons: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.reasons)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def param_values(repo: Repo, stage: Stage) -> dict[str, dict[str, Any]]:
    """file -> key -> value for every param the stage names."""
    out: dict[str, dict[str, Any]] = {}
    docs: dict[str, Any] = {}
    for ref in stage.params:
        if ref.file not in docs:
            try:
                docs[ref.file] = valuefiles.read_params_file(repo.root, ref.file)
            except PipelineError as exc:
                raise PipelineError(f"stage {stage.name}: {exc.message}", exc.hint) from None
        if ref.key is None:  # the whole file: each of its keys, as DVC records them
            out.setdefault(ref.file, {}).update(docs[ref.file])
            continue
        try:
            value = valuefiles.get_key(docs[ref.file], ref.key)
        except KeyError:
            raise PipelineError(
                f"stage {stage.name}: params key {ref.key!r} is not in {ref.file}",
                f"add it to {ref.file} or remove it from the stage's params",
            ) from None
        out.setdefault(ref.file, {})[ref.key] = value
    return out


def dep_artifacts(
    repo: Repo, stage: Stage, memo: Memo | None = None
) -> tuple[list[Artifact], list[str]]:
    """Current digests of the stage's dependencies, and those that are missing."""
    found: list[Artifact] = []
    missing: list[str] = []
    for d in stage.deps:
        h = hash_path(repo, d, memo)
        if h is None:
            missing.append(d)
        else:
            found.append(h)
    return found, missing


def _param_changes(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], whole: set[str]
) -> list[str]:
    """What changed in the params a stage uses; ``whole``: files it uses every key
    of, where a key that is gone is a change too."""
    changes = []
    for file in sorted(set(old) | set(new)):
        before, after = old.get(file, {}), new.get(file, {})
        for key in sorted(set(before) | set(after)):
            if key not in after:
                if file in whole:
                    changes.append(f"{key} deleted")
                continue  # else no longer used: not a reason to run
            if key not in before:
                changes.append(f"{key} new")
            elif before[key] != after[key]:
                flat_old = valuefiles.flatten(before[key], key) or {key: before[key]}
                flat_new = valuefiles.flatten(after[key], key) or {key: after[key]}
                for k in sorted(set(flat_old) | set(flat_new)):
                    if flat_old.get(k) != flat_new.get(k):
                        changes.append(
                            f"{k} {_short(flat_old.get(k))} -> {_short(flat_new.get(k))}"
                        )
    return changes


def stage_staleness(
    repo: Repo,
    graph: Graph,
    stage: Stage,
    entry: lock.Entry | None,
    running: set[str],
    memo: Memo | None = None,
) -> Staleness:
    """``running``: upstream stages that will run (or ran) before this one."""
    st = Staleness(stage.name)
    ups = sorted(graph.upstream[stage.name] & running)
    if entry is None:
        st.reasons.append("never run")
    if stage.always_changed:
        st.reasons.append("always changed")
    if entry is not None and entry.cmd != stage.cmd_text:
        st.reasons.append("command changed")
    deps, missing = dep_artifacts(repo, stage, memo)
    for d in missing:
        producer = graph.producer(d)
        if producer is None:
            st.reasons.append(f"dependency missing: {d}")
        elif producer not in running:
            st.reasons.append(f"dependency missing: {d} (output of {producer})")
    if entry is not None:
        before = {a.path: a.digest for a in entry.deps}
        for a in deps:
            if a.path not in before:
                st.reasons.append(f"new dependency: {a.path}")
            elif before[a.path] != a.digest and graph.producer(a.path) not in running:
                st.reasons.append(f"dependency changed: {a.path}")
        whole = {ref.file for ref in stage.params if ref.key is None}
        changes = _param_changes(entry.params, param_values(repo, stage), whole)
        if changes:
            st.reasons.append(f"params changed ({', '.join(changes)})")
        recorded = {a.path: a for a in entry.outs}
        for o in stage.outs:
            h = hash_path(repo, o.path, memo)
            if h is None:
                st.reasons.append(f"output missing: {o.path}")
            elif o.path not in recorded:
                st.reasons.append(f"new output: {o.path}")
            elif recorded[o.path].digest != h.digest:
                st.reasons.append(f"output changed: {o.path}")
    else:
        param_values(repo, stage)  # a missing key is an error even before the first run
    st.reasons += [f"depends on {u}" for u in ups]
    return st


def stages_staleness(repo: Repo, graph: Graph, names: list[str]) -> list[Staleness]:
    """Each of ``names`` (in run order), a stage downstream of a stale one stale too."""
    entries = lock.load(repo.root)
    running: set[str] = set()
    memo = Memo()
    out = []
    for n in names:
        st = stage_staleness(repo, graph, graph.stages[n], entries.get(n), running, memo)
        if st.stale:
            running.add(n)
        out.append(st)
    return out


def workspace_staleness(repo: Repo) -> list[Staleness]:
    """Every stage of the workspace's tether.yaml, in order ([] without one)."""
    if not (repo.root / spec.FILE).is_file():
        return []
    graph = load(repo)
    try:
        return stages_staleness(repo, graph, graph.order())
    finally:
        repo.state.flush()
