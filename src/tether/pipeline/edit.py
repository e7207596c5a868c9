"""``tether stage add``: declare a stage in tether.yaml (created when missing), and
stage the file in git (core.autostage)."""

from __future__ import annotations

from typing import Any

from tether import atomicfile, gitscm, yamlio
from tether.errors import PipelineError
from tether.pipeline import graph, spec
from tether.pipeline.outputs import declared_in
from tether.repo import Repo
from tether.workspace import tracked


def add_stage(
    repo: Repo,
    name: str,
    cmd: str,
    deps: list[str],
    params: list[str],
    outs: list[str],
    outs_no_cache: list[str],
    metrics: list[str],
    plots: list[str],
    wdir: str | None,
    force: bool,
) -> None:
    root = repo.root
    path = root / spec.FILE
    doc: dict[str, Any] = {"schema": 1, "stages": {}}
    if path.exists():
        loaded = yamlio.load_file(path, spec.FILE) or {}
        if not isinstance(loaded, dict):
            raise PipelineError(f"{spec.FILE}: expected a mapping with `stages:`")
        doc = loaded
        doc.setdefault("stages", {})
    if name in (doc.get("stages") or {}) and not force:
        raise PipelineError(f"stage {name!r} already exists", "pass --force to replace it")
    body: dict[str, Any] = {"cmd": cmd}
    if wdir:
        body["wdir"] = wdir
    if deps:
        body["deps"] = deps
    if params:
        keys: list[Any] = []
        for p in params:
            if ":" in p:
                file, _, names = p.partition(":")
                keys.append({file: names.split(",") if names else None})  # FILE: every key
            else:
                keys += p.split(",")
        body["params"] = keys
    all_outs: list[Any] = list(outs) + [{o: {"cache": False}} for o in outs_no_cache]
    if all_outs:
        body["outs"] = all_outs
    if metrics:
        body["metrics"] = metrics
    if plots:
        body["plots"] = plots
    doc["stages"][name] = body
    text = yamlio.dumps(doc)
    pipeline = spec.parse(root, text)
    graph.build(pipeline)  # refuse a stage that breaks the pipeline
    tracked.check_overlap(tracked.all_pointers(repo), declared_in(pipeline))
    atomicfile.write(path, text)
    if repo.config.autostage:
        gitscm.stage(root, [spec.FILE])
