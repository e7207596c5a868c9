"""The published ``--json`` formats, one function per output.

Each function builds its document key by key from a result object, so a
format changes only when this module does — renaming a field of an internal
class cannot change what scripts read. docs/json.md describes every key;
tests/func/test_json_output.py holds each output against a stored example.
The result objects are read by attribute only: this module imports nothing
at run time, so any layer's results can be turned into JSON here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.diff import DataDiff
    from tether.experiments.compare import ExpDiff
    from tether.experiments.queue import Item
    from tether.experiments.record import Note
    from tether.experiments.share import Shared
    from tether.experiments.show import Table
    from tether.gc_remote import RemoteOutcome
    from tether.metrics import Files, Row, Verdict
    from tether.pipeline.run import Outcome
    from tether.pipeline.staleness import Staleness
    from tether.plots.collect import Result as PlotsResult
    from tether.verify import Report as VerifyReport
    from tether.workspace.status import PathStatus

Doc = dict[str, Any]


def status(paths: Iterable[PathStatus], stages: Iterable[Staleness], clean: bool) -> Doc:
    """``tether status --json``: tracked paths against their pointer files, and stale stages."""
    return {
        "paths": [
            {
                "path": p.path,
                "source": p.source,
                "kind": "unknown" if p.kind is None else str(p.kind),
                "state": str(p.state),
                "changes": [{"path": c.path, "change": str(c.change)} for c in p.changes],
                "note": p.note,
            }
            for p in paths
        ],
        "stages": [{"name": s.name, "reasons": list(s.reasons)} for s in stages],
        "clean": clean,
    }


def remote_status(report: Mapping[str, Any]) -> Doc:
    """``tether status --remote --json``: objects missing in the cache and on the remote."""
    return {
        "remote": report["remote"],
        "paths": {
            path: {
                "objects": v["objects"],
                "missing_in_cache": v["missing_in_cache"],
                "missing_on_remote": v["missing_on_remote"],
                "tree_in_cache": v["tree_in_cache"],
            }
            for path, v in report["paths"].items()
        },
        "clean": report["clean"],
    }


def remote_verify(report: VerifyReport) -> Doc:
    """``tether remote verify --json``: each object missing or damaged on the remote."""
    return {
        "remote": report.remote,
        "deep": report.deep,
        "repair": report.repair,
        "objects": report.objects,
        "holes": [
            {
                "path": h.path,
                "digest": h.digest,
                "object": h.kind,
                "problem": str(h.problem),
                "reason": h.reason,
                "repaired": h.repaired,
                "repair_error": h.repair_error,
            }
            for h in report.holes
        ],
        "unreadable": list(report.unreadable),
        "whole": report.whole,
    }


def remotes(rows: Mapping[str, Mapping[str, Any]]) -> Doc:
    """``tether remote list --json``: each remote's options (secrets masked) and ``default``."""
    return {name: dict(opts) for name, opts in rows.items()}


def repro(outcomes: Iterable[Outcome]) -> list[Doc]:
    """``tether repro --json``: what happened to each stage, in run order."""
    return [
        {
            "name": o.name,
            "action": str(o.action),
            "reasons": list(o.reasons),
            "seconds": o.seconds,
        }
        for o in outcomes
    ]


def diff(result: DataDiff) -> Doc:
    """``tether diff --json``: tracked data added, modified or deleted between two revisions."""
    return {
        "old": result.old,
        "new": result.new,
        "changes": [
            {
                "path": c.path,
                "change": str(c.change),
                "old_size": c.old_size,
                "new_size": c.new_size,
                "stage": c.stage,
            }
            for c in result.changes
        ],
        "notes": list(result.notes),
    }


def values_show(files: Mapping[str, Files]) -> Doc:
    """``tether metrics show --json`` / ``params show --json``: revision -> file -> key -> value."""
    return {
        rev: {f: dict(values) for f, values in by_file.items()} for rev, by_file in files.items()
    }


def values_diff(rows: Iterable[Row], old: str, new: str) -> Doc:
    """``tether metrics diff --json`` / ``params diff --json``: old, new and change per key."""
    return {"old": old, "new": new, "files": _by_file(rows)}


def _by_file(rows: Iterable[Row]) -> dict[str, dict[str, Doc]]:
    """file -> key -> old, new and change (numbers only, else null)."""
    data: dict[str, dict[str, Doc]] = {}
    for r in rows:
        change = None if r.change is None else round(r.change, 12)
        data.setdefault(r.file, {})[r.key] = {"old": r.old, "new": r.new, "change": change}
    return data


def metrics_check(verdicts: list[Verdict]) -> Doc:
    """``tether metrics check --json``: each rule, the value it was held to, and the verdict."""
    return {
        "ok": all(v.ok for v in verdicts),
        "rules": [
            {
                "rule": v.rule,
                "file": v.file,
                "metric": v.metric,
                "value": v.value,
                "ok": v.ok,
                "note": v.note,
                "old": v.old,
                "new": v.new,
            }
            for v in verdicts
        ],
    }


def gc_remote(done: RemoteOutcome, dry_run: bool) -> Doc:
    """``tether gc --remote NAME --json``: what gc removes (or would, with --dry-run)."""
    p = done.plan

    def count(keys: Iterable[str], nbytes: int) -> Doc:
        return {"count": len(list(keys)), "bytes": nbytes}

    return {
        "remote": p.remote,
        "dry_run": dry_run,
        "removed": done.removed,
        "grace_seconds": p.grace,
        "scope": p.scope,
        "clones": p.clones,
        "objects": count(p.objects, sum(p.objects.values())),
        "dead_packs": count([k for k in p.packs if k.endswith(".pack")], sum(p.packs.values())),
        "repacked_packs": count(p.repack, sum(r.freed for r in p.repack.values())),
        "temporaries": count(p.leftovers, sum(p.leftovers.values())),
        "bytes": p.bytes,
        "freed": done.freed,
    }


def exp_run(notes: Iterable[Note]) -> list[Doc]:
    """``tether exp run --json``: each experiment run, in order."""
    return [
        {
            "name": n.name,
            "commit": n.commit,
            "baseline": n.baseline,
            "changed": dict(n.changed),
            "metrics": {f: dict(keys) for f, keys in n.metrics.items()},
            "state": n.state,
            "exit_code": n.exit_code,
            "started": n.started,
            "finished": n.finished,
            "log": n.log,
        }
        for n in notes
    ]


def exp_show(table: Table) -> Doc:
    """``tether exp show --json``: the baseline, then its experiments."""
    return {
        "params": list(table.params),
        "metrics": list(table.metrics),
        "rows": [
            {
                "name": r.name,
                "baseline": r.baseline,
                "commit": r.commit,
                "params": {k: r.params.get(k) for k in table.params},
                "metrics": {k: r.metrics.get(k) for k in table.metrics},
                "state": r.state,
                "created": r.created or None,
            }
            for r in table.rows
        ],
    }


def exp_share(shared: Shared) -> Doc:
    """``tether exp push --json`` and ``exp pull --json``: refs and data moved."""
    return {
        "git_remote": shared.git_remote,
        "experiments": list(shared.moved),
        "up_to_date": list(shared.current),
        "remote": shared.stats.remote or None,
        "objects": {"moved": shared.stats.moved, "present": shared.stats.present},
        "bytes": shared.stats.bytes,
    }


def exp_diff(result: ExpDiff) -> Doc:
    """``tether exp diff --json``: each param and metric, old, new and change."""
    return {
        "old": {"name": result.old, "commit": result.old_commit},
        "new": {"name": result.new, "commit": result.new_commit},
        "params": _by_file(result.params),
        "metrics": _by_file(result.metrics),
        "notes": list(result.notes),
    }


def plots(result: PlotsResult, specs: Mapping[str, Doc]) -> Doc:
    """``tether plots show/diff --json``: each plot's Vega-Lite spec with its data
    inline (``specs``: by plot id), an image plot's files as data URIs."""
    import base64

    def uri(mime: str, content: bytes) -> str:
        return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"

    return {
        "revisions": list(result.revisions),
        "failed": result.failed,
        "plots": [
            {
                "id": p.id,
                "title": p.title,
                "template": p.template,
                "spec": specs.get(p.id),
                "images": [
                    {"revision": i.rev, "path": i.path, "src": uri(i.mime, i.content)}
                    for i in p.images
                ],
                "problems": [
                    {"file": q.file, "revision": q.rev, "message": q.message, "absent": q.absent}
                    for q in p.problems
                ],
            }
            for p in result.plots
        ],
    }


def queue_status(items: Iterable[Item]) -> list[Doc]:
    """``tether queue status --json`` and ``exp run --queue --json``: each item, in order."""
    return [
        {
            "name": i.name,
            "state": i.state,
            "changed": {f"{f}:{k}": v for f, k, v in i.changed},
            "baseline": i.baseline,
            "queued": i.queued,
            "started": i.started or None,
            "finished": i.finished or None,
            "exit_code": i.exit_code,
            "reason": i.reason,
            "commit": i.commit or None,
            "log": i.log,
        }
        for i in items
    ]
