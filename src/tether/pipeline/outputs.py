"""The pipeline's side of tracked data: the outputs stages declare (tether.yaml)
and record (tether.lock), given to the workspace as artifacts; and the stage
graph, loaded and checked against the paths pointer files track."""

from __future__ import annotations

from tether import gitscm, untrusted
from tether.errors import PipelineError, TetherError
from tether.pipeline import graph, lock, spec
from tether.pointer import Pointer
from tether.repo import Repo
from tether.workspace import tracked
from tether.workspace.tracked import Declared


def declared_in(pipeline: spec.Pipeline) -> list[Declared]:
    return [Declared(stage, o.path, o.cache) for stage, o in pipeline.outputs()]


def _recorded(text: str, cached: set[str] | None) -> list[Pointer]:
    """Stage outputs recorded in a tether.lock, as pointers (source ``tether.lock``)."""
    out = []
    for entry in lock.parse(text).values():
        for a in entry.outs:
            if cached is None or a.path in cached:
                out.append(Pointer.of(a, lock.FILE))
    return out


def _cached_paths(pipeline: spec.Pipeline) -> set[str]:
    return {
        o.path
        for s in pipeline.stages.values()
        for o in s.outs
        if o.cache and o.inside is None  # a file inside a cached folder comes with the folder
    }


def cached_at(repo: Repo, commit: str) -> list[Pointer]:
    """The cached stage outputs ``commit`` records: what ``checkout`` would
    write once its tether.yaml and tether.lock are in the workspace."""
    files = gitscm.read_at(repo.root, commit, [spec.FILE, lock.FILE])
    text, lock_text = files[spec.FILE], files[lock.FILE]
    if text is None or lock_text is None:
        return []

    def read(rel: str) -> bytes | None:
        return gitscm.read_at(repo.root, commit, [rel])[rel]

    pipeline = spec.parse(repo.root, text.decode("utf-8", "replace"), read)
    return _recorded(lock_text.decode("utf-8", "replace"), _cached_paths(pipeline))


class _FromFiles:
    """Stage outputs as tether.yaml and tether.lock say (see tracked.StageOutputs)."""

    def declared(self, repo: Repo) -> list[Declared]:
        # ``repro`` reports a tether.yaml it cannot read, and checks overlaps itself
        try:
            pipeline = spec.load(repo.root)
        except TetherError:
            return []
        return [] if pipeline is None else declared_in(pipeline)

    def cached(self, repo: Repo) -> list[Pointer]:
        try:
            text = untrusted.read_text_in(repo.root, lock.FILE)
        except (FileNotFoundError, IsADirectoryError):
            return []
        pipeline = spec.load(repo.root)
        if pipeline is None:
            return []
        return _recorded(text, _cached_paths(pipeline))

    def recorded(self, lock_text: str) -> list[Pointer]:
        return _recorded(lock_text, None)


STAGE_OUTPUTS: tracked.StageOutputs = _FromFiles()


def load(repo: Repo, pointers: list[Pointer] | None = None) -> graph.Graph:
    """The stage graph, checked; ``pointers``: the workspace's (read when not given),
    none of which may track a stage's output."""
    pipeline = spec.load(repo.root)
    if pipeline is None:
        raise PipelineError(
            f"no {spec.FILE} in {repo.root}", "declare a stage with `tether stage add`"
        )
    stages = graph.build(pipeline)
    tracked.check_overlap(
        tracked.all_pointers(repo) if pointers is None else pointers, declared_in(pipeline)
    )
    return stages
