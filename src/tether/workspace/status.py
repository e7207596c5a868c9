"""``tether status``: how each tracked path differs from what its pointer says."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tether import pointer
from tether.artifact import Kind
from tether.errors import MetadataError, ObjectError
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import tree
from tether.workspace import scan, tracked


class PathState(StrEnum):
    """A tracked path against its pointer file; the values are those of ``tether.status/v1``."""

    UNCHANGED = "unchanged"
    MODIFIED = "modified"
    DELETED = "deleted"
    NOT_IN_CACHE = "not in cache"
    BROKEN = "bad pointer file"  # the pointer file does not parse


class ChangeKind(StrEnum):
    """How a file differs between two versions of tracked data; the values are
    those of ``tether.status/v1`` and ``tether.diff/v1``."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(frozen=True)
class FileChange:
    path: str  # workspace-relative
    change: ChangeKind


@dataclass(frozen=True)
class PathStatus:
    path: str
    source: str
    kind: Kind | None  # None: the pointer file does not parse
    state: PathState
    changes: list[FileChange] = field(default_factory=list)
    note: str = ""

    @property
    def clean(self) -> bool:
        return self.state is PathState.UNCHANGED


def diff_entries(base: str, old: tree.Tree, new: list[tree.Entry]) -> list[FileChange]:
    before = old.by_path()
    out: list[FileChange] = []
    seen = set()
    for e in new:
        seen.add(e.path)
        prev = before.get(e.path)
        if prev is None:
            out.append(FileChange(f"{base}/{e.path}", ChangeKind.ADDED))
        elif prev.digest != e.digest or prev.executable != e.executable:
            out.append(FileChange(f"{base}/{e.path}", ChangeKind.MODIFIED))
    out += [FileChange(f"{base}/{p}", ChangeKind.DELETED) for p in before if p not in seen]
    return sorted(out, key=lambda c: c.path)


def path_status(repo: Repo, p: Pointer) -> PathStatus:
    full = repo.root / p.path
    roots = (repo.root.resolve(), repo.odb.objects.resolve())
    if not full.exists():
        deleted = PathStatus(p.path, p.source, p.kind, PathState.DELETED)
        in_cache = repo.odb.size(p.digest) if p.kind is Kind.FILE else None
        return deleted if in_cache is None else _as_said(deleted, p, in_cache)
    same = PathStatus(
        p.path,
        p.source,
        p.kind,
        PathState.UNCHANGED if repo.odb.exists(p.digest) else PathState.NOT_IN_CACHE,
    )
    if p.kind is Kind.FILE:
        if full.is_dir():
            return PathStatus(p.path, p.source, p.kind, PathState.MODIFIED, note="is now a folder")
        f = scan.FileStat(full.name, str(full), scan.stat_file(full, p.path, roots))
        if scan.digest_of(f, repo.state) != p.digest:
            return PathStatus(p.path, p.source, p.kind, PathState.MODIFIED)
        return _as_said(same, p, f.st.st_size)
    if not full.is_dir():
        return PathStatus(p.path, p.source, p.kind, PathState.MODIFIED, note="is now a file")
    # the usual case, nothing touched, from a walk that keeps nothing per file;
    # otherwise the full scan below walks again and its fingerprint is the one
    # stored (it describes exactly the files whose digests it records)
    quick = scan.quick(full, scan.jobs_for(p.files))
    if quick is not None and repo.state.get_tree(p.path, quick.fingerprint) == p.digest:
        return _as_said(same, p, quick.size, quick.files)
    files = scan.scan(full, p.path, roots)
    fingerprint = scan.fingerprint(files)
    on_disk = sum(f.st.st_size for f in files)
    if repo.state.get_tree(p.path, fingerprint) == p.digest:
        return _as_said(same, p, on_disk, len(files))
    entries = scan.entries(files, repo.state)
    digest = tree.build(entries, trusted=True).digest()
    repo.state.put_tree(p.path, fingerprint, digest)
    if digest == p.digest:
        return _as_said(same, p, on_disk, len(files))
    try:
        data = repo.odb.read(p.digest, p.source)
    except ObjectError:  # missing or damaged here; a tree that reads but is malformed is refused
        return PathStatus(
            p.path,
            p.source,
            p.kind,
            PathState.MODIFIED,
            note="tree not in cache: per-file changes unknown",
        )
    old = tree.parse(data, p.source)
    return PathStatus(
        p.path, p.source, p.kind, PathState.MODIFIED, diff_entries(p.path, old, entries)
    )


def _as_said(same: PathStatus, p: Pointer, size: int, files: int | None = None) -> PathStatus:
    """``same``, unless the pointer's size or file count is not its data's."""
    try:
        pointer.check_data(p, size, files)
    except MetadataError as exc:
        return PathStatus(p.path, p.source, p.kind, PathState.BROKEN, note=exc.message)
    return same


def status(repo: Repo, targets: list[str] | None = None) -> list[PathStatus]:
    """Each selected path's status; a pointer file that does not parse is one
    line of the report (state ``bad pointer file``), not the end of it."""
    broken: list[tracked.Broken] = []
    pointers = tracked.select(repo, targets, broken=broken)
    try:
        found = [path_status(repo, p) for p in pointers]
    finally:
        repo.state.flush()
    return found + [
        PathStatus(b.path, b.source, None, PathState.BROKEN, note=b.error.message) for b in broken
    ]
