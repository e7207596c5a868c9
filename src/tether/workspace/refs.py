"""What this clone's refs need, recorded on a remote for ``tether gc --remote``
(docs/design.md, "Remote gc"): the clone's id, each branch's and tag's commits
with the root objects they name, and the handshake a push makes with gc."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from tether import atomicfile, exprefs, gitscm, ownfiles
from tether.artifact import Artifact, Kind
from tether.errors import MetadataError, TetherError
from tether.pointer import Pointer
from tether.repo import Repo
from tether.storage import manifests, tree
from tether.storage.remotes import Remote
from tether.storage.transfer import prepare
from tether.workspace import tracked

CLONE_FILE = "clone-id"  # in .tether/, never committed
_MEMO = "commit-roots.json"  # in .tether/tmp/: commits never change, so neither do their roots


def clone_id(repo: Repo) -> str:
    """This clone's id, made once. A copy of the clone in another folder or on
    another machine makes its own: two copies must never write one manifest."""
    path = repo.dir / CLONE_FILE
    here = {"path": str(repo.dir), "host": os.uname().nodename}
    try:
        doc = json.loads(ownfiles.read_text(path) or "{}")
    except (OSError, ValueError):
        doc = {}
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("id"), str)
        and manifests.valid_clone(doc["id"])
        and all(doc.get(k) == v for k, v in here.items())
    ):
        return str(doc["id"])
    new = os.urandom(16).hex()
    atomicfile.write(path, json.dumps({"id": new, **here}, sort_keys=True) + "\n")
    return new


def _roots(pointers: list[Pointer]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    files = sorted({p.digest for p in pointers if p.kind is Kind.FILE})
    trees = sorted({p.digest for p in pointers if p.kind is Kind.DIR})
    return tuple(files), tuple(trees)


class _Memo:
    """Roots of commits already read (a commit's files never change)."""

    def __init__(self, repo: Repo) -> None:
        self.path = repo.tmp / _MEMO
        try:
            found = json.loads(ownfiles.read_text(self.path) or "{}")
        except (OSError, ValueError):
            found = {}
        self.known: dict[str, list[list[str]]] = found if isinstance(found, dict) else {}
        self.changed = False

    def get(
        self, repo: Repo, sha: str, outputs: tracked.StageOutputs, strict: bool
    ) -> manifests.Commit:
        """A commit's roots. Only a commit whose pointers and lock all parse is
        remembered; ``strict``: one that does not parse is an error naming it."""
        hit = self.known.get(sha)
        if not (isinstance(hit, list) and len(hit) == 2):
            try:
                found = tracked.at_commit(repo, sha, outputs, strict=True)
            except MetadataError:
                if strict:
                    raise
                files, trees = _roots(tracked.at_commit(repo, sha, outputs))
                return manifests.Commit(sha, 0, files, trees)
            files, trees = _roots(found)
            hit = [list(files), list(trees)]
            self.known[sha] = hit
            self.changed = True
        return manifests.Commit(sha, 0, tuple(hit[0]), tuple(hit[1]))

    def save(self) -> None:
        if self.changed:
            try:
                atomicfile.write(self.path, json.dumps(self.known, sort_keys=True))
            except OSError:
                return  # a memo: read from git again next time


def ref_manifests(
    repo: Repo, outputs: tracked.StageOutputs, strict: bool = False
) -> list[manifests.RefManifest]:
    """One manifest per branch, tag, experiment and detached HEAD of this clone, every commit
    each reaches with its roots, and one for the workspace. ``strict`` (gc): a
    pointer or lock in history that does not parse is an error naming it."""
    clone, project = clone_id(repo), gitscm.first_commit(repo.root)
    memo = _Memo(repo)
    out = []
    heads = gitscm.ref_heads(repo.root)
    exps = dict(exprefs.all_refs(repo.root).values())  # experiments are references too
    heads.update(exps)
    logs = exprefs.log_objects(repo.root, exps.values())  # and each one's log
    for ref, sha in sorted(heads.items()):
        if ref == "HEAD" and sha in {v for k, v in heads.items() if k != "HEAD"}:
            continue  # HEAD is a branch's tip: that branch's manifest keeps it
        commits = []
        for commit, when in gitscm.history(repo.root, sha):
            c = memo.get(repo, commit, outputs, strict)
            files = c.files
            if ref in exps and commit in logs:
                files = tuple(sorted({*files, logs[commit]}))
            commits.append(manifests.Commit(commit, when, files, c.trees))
        out.append(manifests.RefManifest(clone, project, ref, tuple(commits)))
    memo.save()
    files, trees = _roots(tracked.select(repo, None, outputs, broken=[]))
    now = manifests.Commit(None, 0, files, trees)  # no time: narrowing keeps it whole
    out.append(manifests.RefManifest(clone, project, manifests.WORKSPACE, (now,)))
    return out


_WRITTEN = "manifests-written.json"  # in .tether/tmp/: per remote URL, what was written


def _publish(repo: Repo, remote: Remote, clone: str, found: list[manifests.RefManifest]) -> None:
    """Write the ref manifests that changed since this clone last wrote them."""
    path = repo.tmp / _WRITTEN
    try:
        doc = json.loads(ownfiles.read_text(path) or "{}")
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    mine = doc.get(remote.spec.url)
    before = {str(k): str(v) for k, v in mine.items()} if isinstance(mine, dict) else {}
    doc[remote.spec.url] = manifests.publish(remote, clone, found, before)
    with contextlib.suppress(OSError):  # a memo: without it every manifest is written again
        atomicfile.write(path, json.dumps(doc, sort_keys=True))


@contextmanager
def pushing(
    repo: Repo,
    remote: Remote,
    roots: list[Artifact],
    jobs: int,
    outputs: tracked.StageOutputs | None = None,
) -> Iterator[None]:
    """Around a push of ``roots``: first record on the remote what it relies on
    (so a gc keeps it, whenever it runs), and after it the clone's ref manifests
    (with ``outputs``; a run-cache push leaves them), then drop that record."""
    prepare(remote, write=True)  # the marker first: nothing written to a remote of another format
    files = {r.digest for r in roots if r.kind is Kind.FILE}
    trees = {r.digest for r in roots if r.kind is Kind.DIR and repo.odb.exists(r.digest)}

    def entries(digest: str) -> set[str]:
        try:
            return {e.digest for e in tree.parse(repo.odb.read(digest, digest), digest).entries}
        except TetherError:
            return set()  # not pushed: nothing of it to keep

    clone = clone_id(repo)
    key = manifests.claim(remote, clone, files, trees, entries, jobs)
    try:
        yield
        if outputs is not None:
            _publish(repo, remote, clone, ref_manifests(repo, outputs))
    finally:
        with contextlib.suppress(TetherError):  # else a gc drops it once a day old
            manifests.release(remote, key)
