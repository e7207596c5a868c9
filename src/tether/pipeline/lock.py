"""``tether.lock``: what each stage ran with and produced, committed to git.

Deterministic: stages sorted by name, deps and outs by path, params by file
and key, so the same inputs give a byte-identical file::

    schema: 1
    stages:
      train:
        cmd: python src/train.py
        deps:
        - {path: src/train.py, hash: blake3, digest: …, size: 1234}
        params:
          params.yaml: {train.lr: 0.01}
        outs:
        - {path: models/model.safetensors, kind: file, hash: blake3, digest: …, size: …}

Untrusted input like every file from a clone: validated on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether import atomicfile, untrusted, yamlio
from tether.artifact import Artifact, Kind
from tether.errors import LockFileError, PathError
from tether.paths import overlaps, tree_entry
from tether.storage import hashing

FILE = "tether.lock"
_TOP_KEYS = ("schema", "stages")
_ENTRY_KEYS = ("cmd", "deps", "params", "outs")
_ARTIFACT_KEYS = ("path", "kind", "hash", "digest", "size", "files")


def artifact_dict(a: Artifact) -> dict[str, Any]:
    """How tether.lock (and a run-cache entry) stores an artifact."""
    d: dict[str, Any] = {
        "path": a.path,
        "kind": a.kind.value,
        "hash": hashing.ALGORITHM,
        "digest": a.digest,
        "size": a.size,
    }
    if a.files is not None:
        d["files"] = a.files
    return d


@dataclass(frozen=True)
class Entry:
    cmd: str
    deps: tuple[Artifact, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: tuple[Artifact, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"cmd": self.cmd}
        d["deps"] = [artifact_dict(a) for a in sorted(self.deps, key=lambda a: a.path)]
        if self.params:
            d["params"] = {
                f: {k: self.params[f][k] for k in sorted(self.params[f])}
                for f in sorted(self.params)
            }
        d["outs"] = [artifact_dict(a) for a in sorted(self.outs, key=lambda a: a.path)]
        return d


def _unknown(raw: dict[Any, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise LockFileError(
            f"{where}: unknown key(s) {', '.join(unknown)} (expected {', '.join(known)})"
        )


def parse_artifact(raw: Any, where: str) -> Artifact:
    if not isinstance(raw, dict):
        raise LockFileError(f"{where}: expected a mapping")
    _unknown(raw, _ARTIFACT_KEYS, where)
    path, kind, digest, size = (raw.get(k) for k in ("path", "kind", "digest", "size"))
    files = raw.get("files")
    hashing.check(raw.get("hash", hashing.ALGORITHM), where, LockFileError)
    if (
        not isinstance(path, str)
        or not isinstance(digest, str)
        or kind not in ("file", "dir")
        or not hashing.is_digest(digest)
        or type(size) is not int
        or size < 0
        or (files is not None and type(files) is not int)
    ):
        raise LockFileError(f"{where}: malformed entry {raw!r}")
    try:
        tree_entry(path, where)
    except PathError as exc:
        raise LockFileError(exc.message, exc.hint or None) from None
    return Artifact(path, Kind(kind), digest, size, files)


def parse(text: str) -> dict[str, Entry]:
    doc = yamlio.loads(text, FILE, aliases=False)
    if doc is None:
        return {}
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise LockFileError(f"{FILE}: expected `schema: 1` and `stages:`")
    _unknown(doc, _TOP_KEYS, FILE)
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise LockFileError(f"{FILE}: stages must be a mapping")
    out: dict[str, Entry] = {}
    for name, raw in stages.items():
        where = f"{FILE}: stages.{name}"
        if not isinstance(raw, dict) or not isinstance(raw.get("cmd"), str):
            raise LockFileError(f"{where}: needs cmd")
        _unknown(raw, _ENTRY_KEYS, where)
        params = raw.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
            raise LockFileError(f"{where}.params: expected FILE: {{KEY: VALUE}}")
        out[str(name)] = Entry(
            raw["cmd"],
            tuple(parse_artifact(a, f"{where}.deps") for a in raw.get("deps") or []),
            {str(f): dict(v) for f, v in params.items()},
            tuple(parse_artifact(a, f"{where}.outs") for a in raw.get("outs") or []),
        )
    _check_owners(out)
    return out


def _check_owners(entries: dict[str, Entry]) -> None:
    """Each output path belongs to one stage: two stages recording one path (or
    one inside the other) would make ``checkout`` switch it back and forth."""
    owners: list[tuple[str, str]] = []  # (path, stage)
    for name in sorted(entries):
        for a in entries[name].outs:
            for path, owner in owners:
                if owner != name and overlaps(path, a.path):
                    what = a.path if path == a.path else f"{a.path} (overlapping {path})"
                    raise LockFileError(
                        f"{FILE}: output {what} is recorded by both {owner} and {name}",
                        "restore tether.lock from git, or delete it and run `tether repro`",
                    )
            owners.append((a.path, name))


def load(root: Path) -> dict[str, Entry]:
    try:
        return parse(untrusted.read_text_in(root, FILE))
    except (FileNotFoundError, IsADirectoryError):
        return {}


def dumps(entries: dict[str, Entry]) -> str:
    return yamlio.dumps({"schema": 1, "stages": {n: entries[n].to_dict() for n in sorted(entries)}})


def save(root: Path, entries: dict[str, Entry]) -> None:
    atomicfile.write(root / FILE, dumps(entries))
