"""The run-cache: (command, dependency digests, param values, output paths) ->
the outputs that run produced. Entries live in the cache beside the objects::

    <cache>/runs/<first 2 hex>/<remaining 62 hex>     (canonical JSON)

and on a remote under ``runs/`` with the same names. An entry is written
only after its outputs are in the cache, so an entry never names an object
that was not stored. Entries read back are validated like any clone input.
"""

from __future__ import annotations

import json
from typing import Any

from tether import atomicfile, ownfiles
from tether.artifact import Artifact
from tether.errors import CorruptObjectError, MetadataError
from tether.pipeline.lock import artifact_dict, parse_artifact
from tether.pipeline.spec import Stage
from tether.repo import Repo
from tether.storage import hashing, safeio


def key(stage: Stage, deps: list[Artifact], params: dict[str, dict[str, Any]]) -> str:
    doc = {
        "cmd": stage.cmd_text,
        "deps": sorted([a.path, a.digest] for a in deps),
        "params": params,
        "outs": sorted(o.path for o in stage.outs),
        "wdir": stage.wdir,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashing.hash_bytes(text.encode("utf-8"))


def rel(k: str) -> str:
    """Where entry ``k`` lies, in the cache and on a remote."""
    return f"runs/{k[:2]}/{k[2:]}"


def _encode(outs: list[Artifact]) -> bytes:
    doc = {"schema": 1, "outs": [artifact_dict(a) for a in sorted(outs, key=lambda a: a.path)]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _decode(data: bytes, where: str) -> list[Artifact]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MetadataError(f"{where}: run-cache entry is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != 1 or not isinstance(doc.get("outs"), list):
        raise MetadataError(f"{where}: run-cache entry has no schema 1 outs list")
    return [parse_artifact(a, where) for a in doc["outs"]]


def save(repo: Repo, k: str, outs: list[Artifact]) -> None:
    path = repo.cache_dir / rel(k)
    atomicfile.write(
        ownfiles.real_dir(path.parent, repo.cache_dir) / path.name, _encode(outs), 0o444
    )


def decode(data: bytes, where: str) -> list[Artifact]:
    """The outputs a run-cache entry (from a remote: untrusted) names."""
    return _decode(data, where)


def get(repo: Repo, k: str) -> list[Artifact] | None:
    """The outputs recorded under ``k``; None when there is no entry. A damaged
    entry raises MetadataError (the caller treats it as a miss and says so: it is
    never a wrong restore)."""
    path = repo.cache_dir / rel(k)
    try:
        data = safeio.read(path, f"run-cache {k}", safeio.MAX_KEY)
    except FileNotFoundError:
        return None
    except CorruptObjectError as exc:  # not a file, or too large: damaged like bad content
        raise MetadataError(exc.message) from None
    return _decode(data, f"run-cache {k}")


def local_keys(repo: Repo) -> list[str]:
    top = repo.cache_dir / "runs"
    if not top.is_dir():
        return []
    out = []
    for sub in sorted(top.iterdir()):
        for f in sorted(sub.iterdir()) if sub.is_dir() else []:
            if hashing.is_digest(sub.name + f.name):
                out.append(sub.name + f.name)
    return out


def outputs_of_local(repo: Repo) -> list[Artifact]:
    """The outputs every readable entry of this cache names."""
    out: list[Artifact] = []
    for k in local_keys(repo):
        try:
            out += get(repo, k) or []
        except MetadataError:
            continue
    return out
