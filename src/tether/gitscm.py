"""The one place that talks to git.

Every call runs the ``git`` binary and waits for it: nothing stays open or
running between calls (GitPython's ``Repo`` keeps ``git cat-file`` processes
alive until it is closed), and nothing heavy is imported.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tether.errors import GitError, NotARepoError


def find_root(start: Path) -> Path:
    """The top of the git work tree containing ``start`` (a ``.git`` dir or file)."""
    path = start.absolute()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    raise NotARepoError(f"{start}: not inside a git repository")


# What git sets for a hook or a `git --git-dir` call (`git rev-parse --local-env-vars`):
# each would point tether's git at another repository, index or object store.
_REPO_LOCAL_ENV = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_DIR",
        "GIT_GRAFT_FILE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_OBJECT_DIRECTORY",
        "GIT_PREFIX",
        "GIT_REPLACE_REF_BASE",
        "GIT_SHALLOW_FILE",
        "GIT_WORK_TREE",
    }
)


def git_env() -> dict[str, str]:
    """The environment for a git tether runs: the repository is the one at its
    working directory, even when tether itself runs from a git hook (which may set
    GIT_DIR, GIT_INDEX_FILE…) or from a shell that exported them."""
    env = {k: v for k, v in os.environ.items() if k not in _REPO_LOCAL_ENV}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return env


def _git(
    root: Path,
    *args: str,
    stdin: bytes | None = None,
    index: Path | None = None,
    first_error: bool = False,
) -> bytes:
    env = git_env()
    if index is not None:  # a private index: the user's stays untouched
        env["GIT_INDEX_FILE"] = str(index)
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, input=stdin, capture_output=True, env=env, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH", "install git") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        if first_error:  # git's own "fatal: …" line, before any advice
            msg = [line for line in msg if line.startswith(("fatal:", "error:"))][:1] or msg
        raise GitError(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def _lines(out: bytes) -> list[str]:
    """Git's newline-ended lines (not str.splitlines: a ref may hold U+2028)."""
    return out.decode("utf-8", "surrogateescape").split("\n")[:-1]


def _split_z(out: bytes) -> list[str]:
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def list_pointer_files(root: Path) -> list[str]:
    """Every ``*.tether`` file git tracks or would track (not ignored), sorted."""
    out = _git(
        root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.tether"
    )
    return sorted(
        {p for p in _split_z(out) if not p.startswith(".tether/") and (root / p).is_file()}
    )


def tracked(root: Path, paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` (or files below them) that git already tracks. Names
    are literal (a ``*`` in one is no wildcard); many paths take a few calls."""
    found: list[str] = []
    batch: list[str] = []
    size = 0
    for path in paths:
        spec = ":(literal)" + path
        batch.append(spec)
        size += len(spec) + 1
        if size > 64 << 10:  # far below any system's limit on a command line
            found += _split_z(_git(root, "ls-files", "-z", "--cached", "--", *batch))
            batch, size = [], 0
    if batch:
        found += _split_z(_git(root, "ls-files", "-z", "--cached", "--", *batch))
    return found


def stage(root: Path, paths: Iterable[str]) -> None:
    args = sorted(set(paths))
    if args:  # the git binary: importing a git library would cost more than the add itself
        _git(root, "add", "--", *args)


def ignored(root: Path, paths: Iterable[str]) -> set[str]:
    """Those of ``paths`` that a .gitignore (or git's excludes) leaves out."""
    args = sorted(set(paths))
    if not args:
        return set()
    try:
        out = _git(root, "check-ignore", "-z", "--stdin", stdin="\0".join(args).encode() + b"\0")
    except GitError:  # exit 1: none of them is ignored
        return set()
    return set(_split_z(out))


def unstage_removed(root: Path, paths: Iterable[str]) -> None:
    """Record in the index that these files were removed (``git rm --cached``)."""
    args = [p for p in sorted(set(paths)) if tracked(root, [p])]
    if args:
        _git(root, "rm", "--cached", "--quiet", "--", *args)


def ref_heads(root: Path) -> dict[str, str]:
    """Every branch and tag, and HEAD, mapped to the commit it names (tags
    peeled; a tag of no commit, and an unborn HEAD, are left out)."""
    out = _git(root, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags")
    names = [*_lines(out), "HEAD"]
    specs = "".join(f"{name}^{{commit}}\n" for name in names)
    found = _git(
        root,
        "cat-file",
        "--batch-check=%(objectname)",
        stdin=specs.encode("utf-8", "surrogateescape"),
    )
    refs: dict[str, str] = {}
    for name, line in zip(names, _lines(found), strict=True):
        if not line.endswith(" missing"):
            refs[name] = line
    return refs


def all_commits(root: Path) -> list[str]:
    """Every commit reachable from any ref."""
    return _git(root, "rev-list", "--all").decode().split()


def recent_commits(root: Path, count: int) -> list[str]:
    """The last ``count`` commits of HEAD (none in a repository without commits)."""
    out = _git(root, "rev-list", f"--max-count={count}", "--ignore-missing", "HEAD", "--")
    return out.decode().split()


def reflog_commits(root: Path) -> list[str]:
    """Every commit a reflog still names (``git stash`` entries included), with
    its parents (a stash's index and untracked-files commits): what git's own
    gc keeps until the reflog expires."""
    # --stdin (empty): a repository with no reflog yet lists nothing instead of failing
    out = _git(
        root, "rev-list", "--no-walk=unsorted", "--reflog", "--parents", "--stdin", stdin=b""
    )
    return sorted(set(out.decode().split()))


_HOOK_MARK = "# installed by tether install-hooks"
HOOKS = {
    # $3 == 1: a branch checkout (not a file checkout): bring the data along
    "post-checkout": 'if [ "$3" = "1" ]; then exec tether checkout; fi\n',
    "pre-push": "exec tether push\n",
}


def install_hooks(root: Path, force: bool) -> list[str]:
    """Write tether's git hooks; refuse to replace a foreign hook unless ``force``."""
    hooks = Path(_git(root, "rev-parse", "--git-path", "hooks").decode().strip())
    hooks = hooks if hooks.is_absolute() else root / hooks
    hooks.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in HOOKS.items():
        path = hooks / name
        if path.exists() and _HOOK_MARK not in path.read_text(errors="replace") and not force:
            raise GitError(
                f"{path} exists and was not written by tether",
                "add the tether line to it yourself, or pass --force to replace it",
            )
        path.write_text(f"#!/bin/sh\n{_HOOK_MARK}\n{body}")
        path.chmod(0o755)
        written.append(str(path))
    return written


def rev_parse(root: Path, rev: str) -> str:
    """The commit a revision names (anything git accepts), or a clear error."""
    if rev.startswith("-"):
        raise GitError(f"unknown revision {rev!r}", "name a branch, tag or commit")
    try:
        out = _git(
            root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
    except GitError:
        if not has_commits(root):
            raise GitError(
                f"unknown revision {rev!r}: the repository has no commits yet",
                "commit first (`git commit`), then compare against it",
            ) from None
        raise GitError(
            f"unknown revision {rev!r}", "check `git log --oneline` or `git tag`"
        ) from None
    return out.decode().strip()


def has_commits(root: Path) -> bool:
    try:
        _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except GitError:
        return False
    return True


def read_objects(root: Path, specs: list[str]) -> dict[str, tuple[str, bytes] | None]:
    """``git cat-file --batch`` for any object names (``REV:path``, ``REV^{commit}``):
    each maps to (type, content), or None when git has no such object."""
    if not specs:
        return {}
    if any("\n" in spec for spec in specs):
        raise GitError("object names cannot contain a newline")
    out = _git(root, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in specs).encode())
    result: dict[str, tuple[str, bytes] | None] = {}
    pos = 0
    for spec in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3 or not header[2].isdigit():
            result[spec] = None  # "<name> missing" or "<name> ambiguous"
            continue
        size = int(header[2])
        result[spec] = (header[1].decode(), out[pos : pos + size])
        pos += size + 1
    return result


def read_at(root: Path, commit: str, paths: list[str]) -> dict[str, bytes | None]:
    """The content of each path in ``commit`` (None where it has no such file)."""
    found = read_objects(root, [f"{commit}:{p}" for p in paths])
    out: dict[str, bytes | None] = {}
    for p in paths:
        obj = found[f"{commit}:{p}"]
        out[p] = obj[1] if obj is not None and obj[0] == "blob" else None
    return out


def restore_worktree(root: Path, commit: str, paths: list[str]) -> None:
    """Make ``paths`` in the work tree as they are in ``commit`` (deleted where it
    has none), index untouched. Git writes them: modes and symlinks as
    committed, and never through a symlinked folder of the work tree (it puts a
    real folder in its place), which a commit fetched from elsewhere could
    otherwise use to write outside the repository. A path neither ``commit``
    nor the index has is left alone (git knows nothing to write or delete)."""
    found = read_objects(root, [f"{commit}:{p}" for p in paths])
    there = {spec for spec, obj in found.items() if obj is not None}
    known = {p for p in paths if f"{commit}:{p}" in there} | set(tracked(root, paths))
    chosen = [p for p in paths if p in known]
    if chosen:
        spec = "".join(f":(literal){p}\0" for p in chosen)
        _git(
            root, "restore", f"--source={commit}", "--worktree",
            "--pathspec-from-file=-", "--pathspec-file-nul",
            stdin=spec.encode("utf-8", "surrogateescape"),
        )  # fmt: skip


def list_at(root: Path, commit: str, suffix: str) -> list[str]:
    """Every file path in ``commit`` ending in ``suffix``."""
    out = _git(root, "ls-tree", "-r", "-z", "--name-only", commit)
    return [p for p in _split_z(out) if p.endswith(suffix)]


def ref_names(root: Path) -> list[str]:
    """Short names of every branch and tag."""
    out = _git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags")
    return [line for line in out.decode().splitlines() if line]


def history(root: Path, rev: str) -> list[tuple[str, int]]:
    """Every commit ``rev`` reaches, newest first, with its commit time (Unix seconds)."""
    out = _git(root, "log", "--format=%H %ct", rev, "--")
    return [(sha, int(t)) for sha, t in (line.split() for line in _lines(out))]


def first_commit(root: Path) -> str:
    """The root commit HEAD reaches (the oldest, if several); "" without commits."""
    out = _git(root, "rev-list", "--max-parents=0", "--ignore-missing", "HEAD", "--")
    found = _lines(out)
    return found[-1] if found else ""


def refs_under(root: Path, prefix: str) -> list[tuple[str, str]]:
    """Every ref below ``prefix`` (``refs/…/``) with the object it names, in one call."""
    out = _git(root, "for-each-ref", "--format=%(objectname) %(refname)", prefix)
    return [(name, sha) for sha, name in (line.split(" ", 1) for line in _lines(out))]


def set_ref(root: Path, ref: str, commit: str) -> None:
    _git(root, "update-ref", "--end-of-options", ref, commit)


def delete_refs(root: Path, refs: Iterable[str]) -> None:
    """Delete refs in one transaction."""
    lines = "".join(f"delete {r}\n" for r in refs)
    if lines:
        _git(root, "update-ref", "--stdin", stdin=lines.encode("utf-8", "surrogateescape"))


def current_branch(root: Path) -> str:
    """The branch HEAD is on; "" on a detached HEAD."""
    try:
        return _git(root, "symbolic-ref", "--quiet", "--short", "HEAD").decode().strip()
    except GitError:
        return ""


def snapshot_tree(root: Path, index_copy: Path) -> str:
    """The tree of HEAD plus every uncommitted change to tracked files (staged or
    not), written through a copy of the index at ``index_copy``: the user's index,
    work tree and stash are left as they were (like ``git stash create``)."""
    index = Path(_git(root, "rev-parse", "--git-path", "index").decode().strip())
    index = index if index.is_absolute() else root / index
    index_copy.write_bytes(index.read_bytes() if index.exists() else b"")
    if not index.exists():
        index_copy.unlink()
        _git(root, "read-tree", "HEAD", index=index_copy)
    _git(root, "add", "--update", "--", ".", index=index_copy)
    return _git(root, "write-tree", index=index_copy).decode().strip()


def commit_tree(root: Path, tree: str, parent: str, message: str) -> str:
    out = _git(root, "commit-tree", tree, "-p", parent, "-F", "-", stdin=message.encode())
    return out.decode().strip()


def commit_all(root: Path, parent: str, message: str) -> str:
    """Stage everything in ``root``'s work tree (what .gitignore allows) and commit
    it on ``parent`` without moving any branch; the new commit's name."""
    _git(root, "add", "--all")
    tree = _git(root, "write-tree").decode().strip()
    return commit_tree(root, tree, parent, message)


def worktree_add(root: Path, path: Path, commit: str) -> None:
    """A detached work tree of ``commit`` at ``path`` (no branch is made). No hook
    runs: a post-checkout hook (``tether install-hooks``) would check data out
    there before it is set up to share this cache."""
    _git(
        root, "-c", "core.hooksPath=/dev/null", "worktree", "add", "--quiet", "--detach",
        str(path), commit,
    )  # fmt: skip


def worktree_remove(root: Path, path: Path) -> None:
    """Forget a work tree made by :func:`worktree_add`; its folder is the caller's."""
    try:
        _git(root, "worktree", "remove", "--force", "--force", str(path))
    except GitError:
        _git(root, "worktree", "prune")


def changed_paths(root: Path, paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` with uncommitted changes (staged, unstaged or untracked)."""
    args = sorted(set(paths))
    if not args:
        return []
    out = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *args)
    return sorted({entry[3:] for entry in _split_z(out) if len(entry) > 3})


def valid_branch_name(root: Path, name: str) -> bool:
    try:
        _git(root, "check-ref-format", "--branch", name)
    except GitError:
        return False
    return not name.startswith("-")


def create_branch(root: Path, name: str, commit: str) -> None:
    _git(root, "branch", "--end-of-options", name, commit)


def changed_between(root: Path, old: str, new: str) -> list[str]:
    """Paths whose content differs between two commits (added, changed or deleted)."""
    out = _git(root, "diff", "--name-only", "-z", "--no-renames", old, new, "--")
    return sorted(_split_z(out))


def _remote_arg(remote: str) -> str:
    if not remote or remote.startswith("-"):
        raise GitError(f"{remote!r} is not a git remote", "name one of `git remote -v`, or a URL")
    return remote


def _on_remote(root: Path, remote: str, *args: str) -> bytes:
    """A git command that reaches ``remote``; a failure is one line naming it."""
    try:
        return _git(root, *args, first_error=True)
    except GitError as exc:
        why = exc.message.split(": ", 1)[-1].removeprefix("fatal: ").removeprefix("error: ")
        raise GitError(
            f"git remote {remote!r}: {why}", "check its name (`git remote -v`) or URL, and access"
        ) from None


def remote_refs(root: Path, remote: str, prefix: str) -> list[tuple[str, str]]:
    """Every ref below ``prefix`` on a git remote (name or URL), with its commit."""
    out = _on_remote(root, remote, "ls-remote", "--refs", _remote_arg(remote), f"{prefix}*")
    found = []
    for line in _lines(out):
        sha, _, ref = line.partition("\t")
        found.append((ref, sha))
    return found


def push_refs(root: Path, remote: str, refspecs: list[str]) -> None:
    """``git push REMOTE REFSPEC…`` in one call, all or nothing (``--atomic``).
    No pre-push hook runs: ``tether install-hooks``' would push the workspace's
    data, and these refs are no branch a hook checks."""
    if refspecs:
        _on_remote(
            root, remote, "push", "--atomic", "--no-verify", "--quiet",
            _remote_arg(remote), *refspecs,
        )  # fmt: skip


def fetch_refs(root: Path, remote: str, refspecs: list[str]) -> None:
    """``git fetch REMOTE REFSPEC…`` in one call, without tags."""
    if refspecs:
        _on_remote(
            root, remote, "fetch", "--no-tags", "--quiet",
            _remote_arg(remote), *refspecs,
        )  # fmt: skip


def worktrees(root: Path) -> list[Path]:
    """The folders of every linked work tree (``git worktree list``), the main one left out."""
    out = _git(root, "worktree", "list", "--porcelain")
    found = [Path(line[len("worktree ") :]) for line in _lines(out) if line.startswith("worktree ")]
    return found[1:]


def modes_at(root: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """The tree entry mode of each of ``paths`` in ``commit`` (``100644``,
    ``120000`` for a symlink, ``040000`` for a folder…); absent where it has none."""
    if not paths:
        return {}
    out = _git(root, "ls-tree", "-z", "--full-tree", commit, "--", *paths)
    wanted = set(paths)
    found: dict[str, str] = {}
    for entry in _split_z(out):
        meta, _, path = entry.partition("\t")
        if path in wanted:
            found[path] = meta.split(" ", 1)[0]
    return found
