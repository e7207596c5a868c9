"""``tether add``: hash paths into the cache and write their pointer files.

Order of writes (each step's data is in place before anything refers to it):
file objects, then the tree object, then the pointer file, then .gitignore
and git staging. Ctrl-C at any point leaves whole objects and the previous
pointer; running ``add`` again finishes the job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tether import gitscm, pointer, progress, tempfiles
from tether.artifact import Kind
from tether.errors import PathError, TrackingError
from tether.paths import overlaps
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import hashing, parallel, tree
from tether.storage.writer import Writer
from tether.workspace import scan, tracked
from tether.workspace.checkout import checkout_pointer


@dataclass(frozen=True)
class Added:
    pointer: Pointer
    changed: bool  # the pointer file is new or says something new
    new_objects: int


def _check_target(
    repo: Repo, rel: str, existing: list[Pointer], outputs: tracked.StageOutputs
) -> None:
    full = repo.root / rel
    if rel.endswith(pointer.SUFFIX):
        raise PathError(f"{rel}: is a pointer file", "add the path it tracks instead")
    if any(c in rel.rpartition("/")[2] for c in "\n\r"):
        raise PathError(
            f"{rel!r}: a name with a line break cannot be listed in .gitignore",
            "rename it (or add the folder that holds it)",
        )
    if not full.exists() and not full.is_symlink():
        raise PathError(
            f"{rel}: no such file or folder", "check the path (it is relative to this folder)"
        )
    name = rel.rpartition("/")[2] + pointer.SUFFIX
    limit = os.pathconf(full.parent, "PC_NAME_MAX")
    if len(os.fsencode(name)) > limit:
        raise PathError(
            f"{rel}: its pointer file {name[:24]}…{pointer.SUFFIX} would be "
            f"{len(os.fsencode(name))} bytes long, over this filesystem's limit of {limit}",
            "rename it to a shorter name, or add the folder that holds it",
        )
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
    for o in outputs.declared(repo):
        if overlaps(rel, o.path):
            raise TrackingError(
                f"{rel}: {'is' if rel == o.path else 'overlaps'} the output {o.path} "
                f"of stage {o.stage}",
                "`tether repro` stores stage outputs; to track it with `tether add` instead, "
                "drop it from the stage's outputs in tether.yaml first",
            )
    in_git = gitscm.tracked(repo.root, [rel])
    if in_git:
        raise TrackingError(
            f"{rel}: tracked by git ({len(in_git)} file(s), e.g. {in_git[0]})",
            f"stop tracking it in git first: `git rm -r --cached {rel}`",
        )


def _store(writer: Writer, f: scan.FileStat, shown: str) -> str:
    try:
        return writer.put_file(f.path, f.st.st_size)
    except OSError as exc:  # a full disk is already a DiskFullError
        where = f" ({exc.filename})" if exc.filename and exc.filename != f.path else ""
        raise PathError(f"{shown}: cannot store it: {exc.strerror}{where}") from None


def _store_files(
    repo: Repo, writer: Writer, files: list[scan.FileStat], top: str, jobs: int
) -> list[tree.Entry]:
    """A tree entry for every file; the files the state database does not vouch
    for (or whose object is gone) are read and stored, in worker processes when
    there are many."""
    entries: list[tree.Entry | None] = []
    get, put, exists = repo.state.get, repo.state.put, repo.odb.exists
    for f in files:
        known = get(f.st)
        if known is not None and exists(known, f.st.st_size):
            entries.append(tree.Entry(f.rel, known, f.st.st_size, f.executable))
        else:
            entries.append(None)
    slots = [i for i, e in enumerate(entries) if e is None]  # the files to store
    todo = [files[i] for i in slots]

    def store(w: Writer, f: scan.FileStat) -> str:
        return _store(w, f, f"{top}/{f.rel}" if f.rel else top)

    sizes = [f.st.st_size for f in todo]
    total = sum(f.st.st_size for f in files)
    writer.on_copied = progress.copied  # the bar moves while a large file is copied
    with progress.transfer(f"adding {top}", len(files), total, stream=True) as bar:
        bar.advance(len(files) - len(todo), total - sum(sizes))

        def done(i: int, digest: str) -> None:  # runs while workers store the rest
            f = todo[i]
            put(f.st, digest)
            entries[slots[i]] = tree.Entry(f.rel, digest, f.st.st_size, f.executable)
            bar.advance(1, f.st.st_size)

        parallel.store_many(writer, todo, sizes, store, done, jobs)
    out = [e for e in entries if e is not None]
    if len(out) != len(files):  # pragma: no cover - store_many reports every item or raises
        raise RuntimeError(f"{top}: {len(files) - len(out)} file(s) got no digest")
    return out


def store_path(repo: Repo, rel: str, writer: Writer, jobs: int | None = None) -> Pointer:
    full = repo.root / rel
    roots = (repo.root.resolve(), repo.odb.objects.resolve())
    source = pointer.source_for(rel)
    jobs = parallel.default_jobs() if jobs is None else jobs
    tempfiles.remove_leftovers(str(full.parent))  # a killed add's pointer temporary, say
    if full.is_dir() and not full.is_symlink():
        leftovers: list[str] = []
        files = scan.scan(full, rel, roots, leftovers)
        for path in leftovers:
            os.unlink(path)
        repo.state.preload()  # one query for all rows beats 20,000 single lookups
        entries = _store_files(repo, writer, files, rel, jobs)
        t = tree.build(entries, trusted=True)
        data = t.to_bytes()
        digest = hashing.hash_bytes(data)
        repo.state.put_tree(rel, scan.fingerprint(files), digest)
        writer.commit()  # every file object is in place before the tree that names them
        writer.put_bytes(data, digest)
        writer.commit()
        return Pointer(rel, Kind.DIR, digest, t.size, len(entries), source=source)
    st = scan.stat_file(full, rel, roots)
    f = scan.FileStat("", str(full), st)  # rel: relative to itself
    (entry,) = _store_files(repo, writer, [f], rel, 1)
    digest = entry.digest
    writer.commit()
    return Pointer(rel, Kind.FILE, digest, st.st_size, source=source)


def relink(repo: Repo, p: Pointer) -> None:
    """With hardlink/symlink first in cache.link, point the workspace at the cache."""
    if repo.config.link[0] not in ("hardlink", "symlink"):
        return
    checkout_pointer(repo, p, force=True, relink=True)


def add(
    repo: Repo, targets: list[str], jobs: int | None = None, *, outputs: tracked.StageOutputs
) -> list[Added]:
    """Track ``targets`` (workspace-relative paths), none of them a stage's output
    (``outputs``); returns what each pointer says."""
    results: list[Added] = []
    with repo.lock("tether add " + " ".join(targets)):
        broken: list[tracked.Broken] = []  # re-adding its path is how to mend one
        existing = tracked.select(repo, None, broken=broken)
        for rel in targets:
            _check_target(repo, rel, [p for p in existing if p.path != rel], outputs)
            for b in broken:
                if rel.startswith(b.path + "/") or b.path.startswith(rel + "/"):
                    raise b.error
        tracked.check_ignorable(repo, targets)
        to_stage: list[str] = []
        for rel in dict.fromkeys(targets):
            old = next((p for p in existing if p.path == rel), None)
            with repo.odb.writer() as writer:
                new = store_path(repo, rel, writer, jobs)
            pointer.write(repo.root, new)
            relink(repo, new)
            to_stage += [new.source, tracked.ignore(repo, rel)]
            results.append(Added(new, old != new, writer.written))
        if repo.config.autostage:
            gitscm.stage(repo.root, to_stage)
    return results
