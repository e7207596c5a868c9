"""``tether migrate``: rename what the workspace records from XXH3-128 to BLAKE3-256.

Every pointer file and every ``tether.lock`` entry written with the older
``xxh3`` hash is rehashed: its content is read from the cache (the old object,
checked against its old digest first) or, when the cache lacks it, from the
workspace (checked the same way), stored as a BLAKE3 object, and the record is
rewritten. Content whose old digest nothing matches is never renamed:

* a pointer whose data is nowhere is left as it was and reported (exit 1;
  fetch the data and run it again);
* a lock entry whose data is gone or changed is dropped from the lock, so its
  stage shows as stale and runs again, exactly as it would have before.

Write order as in ``add``: objects, then trees, then pointer files and the
lock. Records already in BLAKE3 are left alone, so running it again (after an
interruption, or on another branch) does only what is left. Run-cache entries
are keyed by digests of their inputs and cannot be re-keyed from an entry:
the old ones are never matched again, and each stage recorded in the lock
gets a fresh entry. Old objects and run-cache entries stay in the cache
(other branches and tags still name them, and migrating those needs them)
until ``drop_old`` removes them.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field, replace
from typing import Any

from tether import atomicfile, gitscm, ownfiles, pointer, progress, untrusted, yamlio
from tether.artifact import Artifact, Kind
from tether.errors import CorruptObjectError, MetadataError, MissingObjectError, PipelineError
from tether.pipeline import lock, runcache, spec
from tether.pipeline.outputs import STAGE_OUTPUTS
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import hashing, safeio, tree
from tether.storage.fileio import DIRECT_MIN
from tether.storage.odb import MARKER_TEXT
from tether.storage.writer import Writer
from tether.workspace import scan
from tether.workspace.checkout import checkout_pointer

_OLD = re.compile(r"[0-9a-f]{32}\Z")  # an XXH3-128 digest
_PAD = "0" * (hashing.HEX - 32)  # an old digest so padded passes the current parsers


@dataclass
class Report:
    pointers: list[str] = field(default_factory=list)  # rewritten (or would be)
    stages: list[str] = field(default_factory=list)
    objects: int = 0  # new objects written
    run_cache: int = 0  # fresh run-cache entries
    stale: list[str] = field(default_factory=list)  # lock entries dropped: data gone
    missing: list[str] = field(default_factory=list)  # pointers left as they were
    dropped: int = 0  # old objects and run-cache entries removed


@dataclass(frozen=True)
class _Content:
    digest: str
    size: int
    files: int | None = None


def _padded(value: Any) -> str | None:
    return value + _PAD if isinstance(value, str) and _OLD.match(value) else None


def _legacy_rows(doc: Any, where: str) -> list[list[Any]]:
    """The rows of an old tree, each digest padded, validated by :func:`tree.parse`."""
    if not isinstance(doc, dict) or doc.get("schema") != 1 or "hash" in doc:
        raise MetadataError(f"{where}: not a tree of the older {hashing.LEGACY} hash")
    rows = doc.get("entries")
    if not isinstance(rows, list):
        raise MetadataError(f"{where}: tree object has no schema 1 entry list")
    return [[r[0], _padded(r[1]) or r[1], *r[2:]] if type(r) is list and r else r for r in rows]


class _Rehash:
    """Old digest -> content in BLAKE3, each verified against its old digest once."""

    def __init__(self, repo: Repo, writer: Writer | None) -> None:
        self.repo = repo
        self.writer = writer  # None: a dry run, nothing stored
        self._memo: dict[tuple[str, str, bool], _Content | None] = {}

    def _old_object(self, old: str) -> str:
        return f"{self.repo.odb.objects}/{old[:2]}/{old[2:]}"

    def get(self, old: str, kind: Kind, rel: str, store: bool) -> _Content | None:
        store = store and self.writer is not None
        k = (old, kind, store)
        if k not in self._memo:
            fn = self._tree if kind is Kind.DIR else self._file
            self._memo[k] = fn(old, rel, store)
        return self._memo[k]

    def _file(self, old: str, rel: str, store: bool) -> _Content | None:
        try:
            with safeio.opened(self._old_object(old), f"cache object {old}") as fd:
                found = self._verified(fd, old, store)
            if found is not None:
                return found
        except (OSError, CorruptObjectError):
            pass  # not in the cache, or no regular file there: try the workspace
        root = str(self.repo.root.resolve())
        if not os.path.realpath(self.repo.root / rel).startswith(root + os.sep):
            return None  # through a link to outside the workspace: never read
        try:
            fd = os.open(self.repo.root / rel, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            found = self._verified(fd, old, store)
            if found is not None:
                self.repo.state.put(os.fstat(fd), found.digest)
            return found
        finally:
            os.close(fd)

    def _verified(self, fd: int, old: str, store: bool) -> _Content | None:
        """The content of ``fd`` in BLAKE3 (stored with ``store``) when its
        XXH3 is ``old``; None otherwise (and for anything but a regular file)."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        size = st.st_size
        if size <= hashing.SMALL:
            data = os.read(fd, size + 1)
            if hashing.fast_bytes(data) != old:
                return None
            digest = self.writer.put_bytes(data) if store and self.writer else None
            return _Content(digest or hashing.hash_bytes(data), len(data))
        check = hashing.legacy_hasher()
        while chunk := os.read(fd, hashing.CHUNK):
            check.update(chunk)
        if check.hexdigest() != old:
            return None
        os.lseek(fd, 0, os.SEEK_SET)
        if store and self.writer is not None:
            digest, size = self.writer.put_fd(fd, size >= DIRECT_MIN)
        else:
            digest, size = hashing.hash_fd(fd)
        return _Content(digest, size)

    def _old_tree(self, old: str, rel: str) -> tree.Tree | None:
        """The old tree, its digests padded: from the cache, else rebuilt from
        the workspace folder; None when neither hashes to ``old``."""
        where = f"{rel}: tree {old}"
        try:
            data = safeio.read(self._old_object(old), where, 1 << 30)
        except (OSError, CorruptObjectError):
            data = None
        if data is not None and hashing.fast_bytes(data) == old:
            try:
                doc = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise MetadataError(f"{where}: tree object is not valid JSON") from None
            return tree.parse(tree.serialize(_legacy_rows(doc, where)), where)
        full = self.repo.root / rel
        if not full.is_dir() or full.is_symlink():
            return None
        roots = (self.repo.root.resolve(), self.repo.odb.objects.resolve())
        rows: list[list[object]] = []
        for f in scan.scan(full, rel, roots):
            h = hashing.legacy_hasher()
            with open(f.path, "rb") as src:
                while chunk := src.read(hashing.CHUNK):
                    h.update(chunk)
            rows.append([f.rel, h.hexdigest(), f.st.st_size, bool(f.st.st_mode & 0o100)])
        text = json.dumps({"schema": 1, "entries": rows}, ensure_ascii=False, separators=(",", ":"))
        if hashing.fast_bytes(text.encode("utf-8")) != old:
            return None
        for row in rows:
            row[1] = f"{row[1]}{_PAD}"
        return tree.parse(tree.serialize(rows), where)

    def _tree(self, old: str, rel: str, store: bool) -> _Content | None:
        t = self._old_tree(old, rel)
        if t is None:
            return None
        entries = []
        for e in t.entries:
            found = self.get(e.digest[:32], Kind.FILE, f"{rel}/{e.path}", store)
            if found is None:
                return None
            entries.append(tree.Entry(e.path, found.digest, e.size, e.executable))
        new = tree.build(entries, trusted=True)
        data = new.to_bytes()
        if store and self.writer is not None:
            self.writer.commit()  # the files before the tree that names them
            self.writer.put_bytes(data)
        return _Content(hashing.hash_bytes(data), new.size, len(entries))


def _legacy_pointer(repo: Repo, source: str) -> Pointer | None:
    """An old pointer, validated, its digest padded; None when it is current
    (and any other hash is refused by :func:`pointer.parse`)."""
    text = untrusted.read_text_in(repo.root, source)
    doc = yamlio.loads(text, source, aliases=False)
    if isinstance(doc, dict) and doc.get("hash") == hashing.LEGACY:
        doc = {**doc, "hash": hashing.ALGORITHM, "digest": _padded(doc.get("digest"))}
        return pointer.parse(repo.root, source, yamlio.dumps(doc))
    pointer.parse(repo.root, source, text)
    return None


def _legacy_lock(repo: Repo) -> dict[str, lock.Entry]:
    """tether.lock with every old artifact's digest padded (and validated)."""
    try:
        text = untrusted.read_text_in(repo.root, lock.FILE)
    except (FileNotFoundError, IsADirectoryError):
        return {}
    doc = yamlio.loads(text, lock.FILE, aliases=False)
    stages = doc.get("stages") if isinstance(doc, dict) else None
    for raw in stages.values() if isinstance(stages, dict) else ():
        for key in ("deps", "outs"):
            items = raw.get(key) if isinstance(raw, dict) else None
            for a in items if isinstance(items, list) else ():
                if isinstance(a, dict) and a.get("hash") == hashing.LEGACY:
                    a["hash"], a["digest"] = hashing.ALGORITHM, _padded(a.get("digest"))
    return lock.parse(yamlio.dumps(doc))


def _is_old(a: Artifact) -> bool:
    return a.digest.endswith(_PAD) and _OLD.match(a.digest[:32]) is not None


class _Migration:
    def __init__(self, repo: Repo, rehash: _Rehash, report: Report, bar: progress.Task) -> None:
        self.repo, self.rehash, self.report, self.bar = repo, rehash, report, bar

    def pointers(self, sources: list[str]) -> list[Pointer]:
        out = []
        for source in sources:
            p = _legacy_pointer(self.repo, source)
            if p is not None:
                found = self.rehash.get(p.digest[:32], p.kind, p.path, store=True)
                if found is None:
                    self.report.missing.append(source)
                else:
                    out.append(replace(p, digest=found.digest, size=found.size, files=found.files))
                    self.report.pointers.append(source)
            self.bar.advance()
        return out

    def artifacts(self, stage: str, items: tuple[Artifact, ...], store: bool) -> list[Artifact]:
        out = []
        for a in items:
            if _is_old(a):
                found = self.rehash.get(a.digest[:32], a.kind, a.path, store)
                if found is None:
                    self.report.stale.append(f"{stage}: {a.path}")
                    continue
                a = replace(a, digest=found.digest, size=found.size, files=found.files)
            out.append(a)
        self.bar.advance(len(items))
        return out

    def lock(self, entries: dict[str, lock.Entry]) -> dict[str, lock.Entry]:
        out = {}
        for name, e in entries.items():
            old = any(_is_old(a) for a in (*e.deps, *e.outs))
            deps = self.artifacts(name, e.deps, store=False)
            outs = self.artifacts(name, e.outs, store=True)
            out[name] = lock.Entry(e.cmd, tuple(deps), e.params, tuple(outs))
            if old:
                self.report.stages.append(name)
        return out


def _rekey(repo: Repo, entries: dict[str, lock.Entry], report: Report) -> None:
    """A run-cache entry for each migrated stage the lock records whole."""
    try:
        pipeline = spec.load(repo.root)
    except (MetadataError, PipelineError):
        return  # a tether.yaml that does not load: nothing to key on
    for name in report.stages:
        e = entries[name]
        stage = pipeline.stages.get(name) if pipeline else None
        if (
            stage is None
            or stage.cmd_text != e.cmd
            or {o.path for o in stage.outs} != {a.path for a in e.outs}
            or {a.path for a in e.deps} != set(stage.deps)
        ):
            continue
        runcache.save(repo, runcache.key(stage, list(e.deps), e.params), list(e.outs))
        report.run_cache += 1


def _drop_old(repo: Repo) -> int:
    """Remove the old objects and run-cache entries (32 hex names) from the cache."""
    count = 0
    for top in ("objects", "runs"):
        folder = repo.cache_dir / top
        if not ownfiles.check_dir(folder):
            continue
        for sub in os.scandir(folder):
            if len(sub.name) != 2 or not sub.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(sub.path):
                if _OLD.match(sub.name + entry.name) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    count += 1
    return count


def migrate(repo: Repo, *, dry_run: bool = False, drop_old: bool = False) -> Report:
    report = Report()
    with repo.lock("tether migrate"):
        sources = gitscm.list_pointer_files(repo.root)
        entries = _legacy_lock(repo)
        total = len(sources) + sum(len(e.deps) + len(e.outs) for e in entries.values())
        with progress.task("migrating to " + hashing.ALGORITHM, total=total) as bar:
            if dry_run:
                m = _Migration(repo, _Rehash(repo, None), report, bar)
                m.pointers(sources)
                m.lock(entries)
                return report
            with repo.odb.writer() as writer:
                m = _Migration(repo, _Rehash(repo, writer), report, bar)
                new_pointers = m.pointers(sources)
                new_entries = m.lock(entries)
                writer.commit()  # every object is in place before a record names it
            report.objects = writer.written
        for p in new_pointers:
            pointer.write(repo.root, p)
        if report.stages:
            lock.save(repo.root, new_entries)
        _rekey(repo, new_entries, report)
        repo.state.flush()
        if ownfiles.read_text(repo.odb.marker) != MARKER_TEXT:
            atomicfile.write(repo.odb.marker, MARKER_TEXT)
        if repo.config.link[0] in ("hardlink", "symlink"):  # links to old objects
            outs = STAGE_OUTPUTS.cached(repo) if report.stages else []
            for p in new_pointers + outs:
                if (repo.root / p.path).exists():
                    checkout_pointer(repo, p, force=True, relink=True)
        if drop_old:
            report.dropped = _drop_old(repo)
        if repo.config.autostage:
            changed = [p.source for p in new_pointers] + ([lock.FILE] if report.stages else [])
            gitscm.stage(repo.root, changed)
    if report.missing:
        raise MissingObjectError(
            f"{len(report.missing)} pointer file(s) left unmigrated: their data is neither "
            f"in the cache nor in the workspace (first: {report.missing[0]})",
            "put the data back in the workspace (an older tether can pull it) and run "
            "`tether migrate` again",
        )
    return report
