"""Where experiments live in git: one ref each, ``refs/tether/exps/<baseline>/<name>``,
outside branches and tags, so no checkout, rebase or ``git branch`` touches them.
Any command that takes a revision also takes an experiment's name through
:func:`resolve`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from tether import gitscm
from tether.storage import hashing

PREFIX = "refs/tether/exps/"
QUEUE_PREFIX = "refs/tether/queue/"  # a queued experiment's starting point, until it ran
# what `exp run --name` accepts: a ref component, a folder name and a word in a table
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.I)
BASELINE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a commit's full name (SHA-1 or SHA-256)
# what git names a commit by, so an experiment must not be named so: its
# special refs, and a commit's id or the start of one
SPECIAL = frozenset(
    {"HEAD", "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD",
     "BISECT_HEAD", "REBASE_HEAD", "AUTO_MERGE", "MERGE_AUTOSTASH"}
)  # fmt: skip
HEX = re.compile(r"[0-9a-f]{4,40}|[0-9a-f]{64}", re.I)
LOG_KEY = "log_digest"  # the note's key for the cache object holding the run's log


def well_formed(name: str) -> bool:
    """:data:`NAME`, and a ref component git accepts (``git check-ref-format``):
    no ``..``, not ending in ``.`` or ``.lock``."""
    return (
        NAME.fullmatch(name) is not None and ".." not in name and not name.endswith((".", ".lock"))
    )


def ref_of(baseline: str, name: str) -> str:
    return f"{PREFIX}{baseline}/{name}"


def split(ref: str) -> tuple[str, str]:
    """(baseline, name) of an experiment ref."""
    baseline, _, name = ref[len(PREFIX) :].partition("/")
    return baseline, name


def valid(ref: str) -> bool:
    """A ref tether could have made: ``PREFIX<full commit name>/<NAME>``. Refs made
    by hand or fetched from another repository are held to it: names become file
    names under ``.tether/``."""
    baseline, name = split(ref)
    return ref.startswith(PREFIX) and BASELINE.fullmatch(baseline) is not None and well_formed(name)


def all_refs(root: Path) -> dict[str, tuple[str, str]]:
    """Every experiment: name -> (ref, commit), from one ``git for-each-ref``. A ref
    whose name tether would not have given (see :func:`valid`) is left out."""
    found = {}
    for ref, sha in gitscm.refs_under(root, PREFIX):
        if valid(ref):
            found[split(ref)[1]] = (ref, sha)
    return found


def log_digest(doc: object) -> str:
    """The log object a note (its parsed JSON) names; "" when it names none or
    something that is no digest (a note is read from a clone or remote)."""
    value = doc.get(LOG_KEY, "") if isinstance(doc, dict) else ""
    return value if hashing.is_digest(value) else ""


def log_objects(root: Path, commits: Iterable[str]) -> dict[str, str]:
    """The log object of each experiment commit whose note names one (commit ->
    digest), from one ``git cat-file --batch``: what must be kept with it."""
    out = {}
    for sha, obj in gitscm.read_objects(root, sorted(set(commits))).items():
        if obj is None or obj[0] != "commit":
            continue
        message = obj[1].partition(b"\n\n")[2].decode("utf-8", "replace")
        try:
            digest = log_digest(json.loads(message.split("\n", 2)[2]))
        except (ValueError, IndexError):
            continue
        if digest:
            out[sha] = digest
    return out


def resolve(root: Path, rev: str) -> str:
    """``rev`` itself, or the commit of the experiment so named when git knows no
    such branch or tag (a branch wins, as in git a branch wins over a tag) and,
    for a string of hex digits, no such commit."""
    if not NAME.fullmatch(rev) or rev.upper() in SPECIAL:
        return rev
    if HEX.fullmatch(rev) and gitscm.read_objects(root, [f"{rev}^{{commit}}"]).get(
        f"{rev}^{{commit}}"
    ):
        return rev
    found = all_refs(root).get(rev)
    if found is None or rev in gitscm.ref_names(root):
        return rev
    return found[1]
