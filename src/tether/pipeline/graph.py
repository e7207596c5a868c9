"""The stage graph: which stage produces what each stage depends on, checked
for overlapping outputs and cycles, in a stable dependency order."""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import PipelineError
from tether.paths import overlaps as _overlaps
from tether.pipeline.spec import Out, Pipeline, Stage


@dataclass
class Graph:
    stages: dict[str, Stage]
    upstream: dict[str, set[str]]  # stage -> stages it depends on

    def downstream_of(self, name: str) -> set[str]:
        out: set[str] = set()
        todo = [name]
        while todo:
            cur = todo.pop()
            for s, ups in self.upstream.items():
                if cur in ups and s not in out:
                    out.add(s)
                    todo.append(s)
        return out

    def upstream_of(self, name: str) -> set[str]:
        out: set[str] = set()
        todo = [name]
        while todo:
            for up in self.upstream[todo.pop()]:
                if up not in out:
                    out.add(up)
                    todo.append(up)
        return out

    def order(self, names: set[str] | None = None) -> list[str]:
        """Topological order (ties by name) of ``names`` (default: all)."""
        wanted = set(self.stages) if names is None else names
        done: list[str] = []
        seen: set[str] = set()

        def visit(n: str) -> None:
            if n in seen:
                return
            seen.add(n)
            for up in sorted(self.upstream[n]):
                visit(up)
            if n in wanted:
                done.append(n)

        for n in sorted(self.stages):
            visit(n)
        return done

    def producer(self, path: str) -> str | None:
        for s in self.stages.values():
            if any(_overlaps(path, o.path) for o in s.outs):
                return s.name
        return None


def build(pipeline: Pipeline) -> Graph:
    stages = pipeline.stages
    owners: list[tuple[str, str]] = []  # (out path, stage)
    for s in stages.values():
        for o in s.outs:
            for path, owner in owners:
                if _overlaps(path, o.path):
                    _check_overlap(s, o, path, owner)
            owners.append((o.path, s.name))
        for d in s.deps:
            for o in s.outs:
                if _overlaps(d, o.path):
                    raise PipelineError(
                        f"stage {s.name}: {d} is both a dependency and an output",
                        "a stage cannot read what it writes; split it into two stages",
                    )
    upstream: dict[str, set[str]] = {name: set() for name in stages}
    for s in stages.values():
        for d in s.deps:
            for path, owner in owners:
                if _overlaps(d, path) and owner != s.name:
                    upstream[s.name].add(owner)
        for p in s.params:
            for path, owner in owners:
                if _overlaps(p.file, path) and owner != s.name:
                    upstream[s.name].add(owner)
    graph = Graph(stages, upstream)
    _check_cycles(graph)
    return graph


def _check_overlap(stage: Stage, out: Out, path: str, owner: str) -> None:
    """``out`` of ``stage`` overlaps ``path``, an output of ``owner``: allowed only
    for a metrics or plots file inside an output folder of the same stage."""
    if owner != stage.name:
        where = "" if path == out.path else f" (overlapping {path})"
        raise PipelineError(
            f"output {out.path}{where} is declared by both {owner} and {stage.name}",
            "each path is produced by one stage only",
        )
    if path == out.path:
        raise PipelineError(f"stage {stage.name}: output {out.path} is declared twice")
    other = next(o for o in stage.outs if o.path == path)
    inner, outer = (out, other) if len(out.path) > len(path) else (other, out)
    if inner.inside == outer.path:
        return
    raise PipelineError(
        f"stage {stage.name}: output {inner.path} lies in its output folder {outer.path}",
        "a folder output is stored whole: declare it once; only metrics and plots files "
        "may be named inside it",
    )


def _check_cycles(graph: Graph) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for up in sorted(graph.upstream[n]):
            if state.get(up) == 1:
                cycle = [*stack[stack.index(up) :], up]
                raise PipelineError(
                    f"the stages form a cycle: {' -> '.join(reversed(cycle))}",
                    "remove one of those dependencies",
                )
            if state.get(up) is None:
                visit(up)
        stack.pop()
        state[n] = 2

    for n in sorted(graph.stages):
        if n not in state:
            visit(n)


def render_text(graph: Graph) -> str:
    lines = []
    for n in graph.order():
        ups = sorted(graph.upstream[n])
        lines.append(f"{n}" + (f"  <- {', '.join(ups)}" if ups else ""))
    return "\n".join(lines)


def render_mermaid(graph: Graph) -> str:
    ids = {n: f"s{i}" for i, n in enumerate(graph.order())}
    lines = ["flowchart TD"]
    lines += [f'    {ids[n]}["{n}"]' for n in graph.order()]
    for n in graph.order():
        lines += [f"    {ids[up]} --> {ids[n]}" for up in sorted(graph.upstream[n])]
    return "\n".join(lines)


def render_dot(graph: Graph) -> str:
    lines = ["digraph pipeline {", "    rankdir=TB;"]
    lines += [f'    "{n}";' for n in graph.order()]
    for n in graph.order():
        lines += [f'    "{up}" -> "{n}";' for up in sorted(graph.upstream[n])]
    lines.append("}")
    return "\n".join(lines)
