"""The digest of any workspace path without storing it (pipeline dependencies
and outputs), reusing the state database so unchanged files are not re-read."""

from __future__ import annotations

from tether.artifact import Artifact, Kind
from tether.repo import Repo
from tether.storage import tree
from tether.workspace import scan


class Memo(dict[str, Artifact | None]):
    """Digests already computed in one command; cleared when anything may have
    written to the workspace (a stage ran), so a folder that is one stage's
    output and the next stage's dependency is scanned once, not twice."""


def hash_path(repo: Repo, rel: str, memo: Memo | None = None) -> Artifact | None:
    """None when the path does not exist."""
    if memo is not None:
        if rel not in memo:
            memo[rel] = hash_path(repo, rel)
        return memo[rel]
    full = repo.root / rel
    if not full.exists():
        return None
    roots = (repo.root.resolve(), repo.odb.objects.resolve())
    if full.is_dir():
        quick = scan.quick(full)
        if quick is not None and (known := repo.state.get_tree(rel, quick.fingerprint)):
            return Artifact(rel, Kind.DIR, known, quick.size, quick.files)
        files = scan.scan(full, rel, roots)
        fingerprint = scan.fingerprint(files)
        size = sum(f.st.st_size for f in files)
        known = repo.state.get_tree(rel, fingerprint)
        if known is None:
            known = tree.build(scan.entries(files, repo.state), trusted=True).digest()
            repo.state.put_tree(rel, fingerprint, known)
        return Artifact(rel, Kind.DIR, known, size, len(files))
    st = scan.stat_file(full, rel, roots)
    digest = scan.digest_of(scan.FileStat(full.name, str(full), st), repo.state)
    return Artifact(rel, Kind.FILE, digest, st.st_size)
