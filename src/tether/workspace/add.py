"""``tether add``: hash paths into the cache and write their pointer files.

Order of writes (each step's data is in place before anything refers to it):
file objects, then the tree object, then the pointer file, then .gitignore
and git staging. Ctrl-C at any point leaves whole objects and the previous
pointer; running ``add`` again finishes the job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tether import gitscm, pointer, progress
from tether.errors import PathError, TrackingError
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import hashing, tree
from tether.storage.odb import Writer
from tether.workspace import scan, tracked


@dataclass(frozen=True)
class Added:
    pointer: Pointer
    changed: bool  # the pointer file is new or says something new
    new_objects: int
    new_bytes: int


def _check_target(repo: Repo, rel: str, existing: list[Pointer]) -> None:
    full = repo.root / rel
    if rel.endswith(pointer.SUFFIX):
        raise PathError(f"{rel}: is a pointer file", "add the path it tracks instead")
    if not full.exists() and not full.is_symlink():
        raise PathError(f"{rel}: no such file or folder")
    for p in existing:
        if rel.startswith(p.path + "/"):
            raise TrackingError(
                f"{rel}: inside {p.path}, which tether already tracks",
                f"run `tether add {p.path}` to record the whole folder",
            )
        if p.path.startswith(rel + "/"):
            raise TrackingError(
                f"{rel}: contains {p.path}, which tether tracks on its own",
                f"run `tether remove {p.path}` first",
            )
    in_git = gitscm.tracked(repo.root, [rel])
    if in_git:
        raise TrackingError(
            f"{rel}: tracked by git ({len(in_git)} file(s), e.g. {in_git[0]})",
            f"stop tracking it in git first: `git rm -r --cached {rel}`",
        )


def _store_file(writer: Writer, f: scan.FileStat, repo: Repo) -> str:
    known = repo.state.get(f.st)
    if known is not None and repo.odb.exists(known, f.st.st_size):
        return known
    if f.st.st_size <= hashing.SMALL:
        data = scan.read_small(f.path, f.st.st_size)
        digest = writer.put_bytes(data)
    else:
        fd = os.open(f.path, os.O_RDONLY)
        try:
            digest, _ = writer.put_fd(fd)
        finally:
            os.close(fd)
    repo.state.put(f.st, digest)
    return digest


def store_path(repo: Repo, rel: str, writer: Writer) -> Pointer:
    full = repo.root / rel
    roots = (repo.root.resolve(), repo.odb.objects.resolve())
    source = pointer.source_for(rel)
    if full.is_dir() and not full.is_symlink():
        files = scan.scan(full, rel, roots)
        repo.state.preload()  # one query for all rows beats 20,000 single lookups
        entries = []
        with progress.task(f"adding {rel}", total=len(files)) as bar:
            for f in files:
                entries.append(
                    tree.Entry(f.rel, _store_file(writer, f, repo), f.st.st_size, f.executable)
                )
                bar.advance()
        t = tree.build(entries, trusted=True)
        repo.state.put_tree(rel, scan.fingerprint(files), t.digest())
        writer.commit()  # every file object is in place before the tree that names them
        digest = writer.put_bytes(t.to_bytes())
        writer.commit()
        return Pointer(rel, "dir", digest, t.size, len(entries), source)
    st = scan.stat_file(full, rel, roots)
    f = scan.FileStat(full.name, str(full), st)
    digest = _store_file(writer, f, repo)
    writer.commit()
    return Pointer(rel, "file", digest, st.st_size, None, source)


def relink(repo: Repo, p: Pointer) -> None:
    """With hardlink/symlink first in cache.link, point the workspace at the cache."""
    if repo.config.link[0] not in ("hardlink", "symlink"):
        return
    from tether.workspace.checkout import checkout_pointer

    checkout_pointer(repo, p, force=True, relink=True)


def add(repo: Repo, targets: list[str]) -> list[Added]:
    """Track ``targets`` (workspace-relative paths); returns what each pointer says."""
    results: list[Added] = []
    with repo.lock("tether add " + " ".join(targets)):
        existing = tracked.all_pointers(repo)
        for rel in targets:
            _check_target(repo, rel, [p for p in existing if p.path != rel])
        to_stage: list[str] = []
        for rel in dict.fromkeys(targets):
            old = next((p for p in existing if p.path == rel), None)
            with repo.odb.writer() as writer:
                new = store_path(repo, rel, writer)
            pointer.write(repo.root, new)
            relink(repo, new)
            to_stage += [new.source, tracked.ignore(repo, rel)]
            results.append(Added(new, old != new, writer.written, writer.written_bytes))
        if repo.config.autostage:
            gitscm.stage(repo.root, to_stage)
    return results
