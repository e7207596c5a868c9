"""Where experiments live in git: one ref each, ``refs/tether/exps/<baseline>/<name>``,
outside branches and tags, so no checkout, rebase or ``git branch`` touches them.
Any command that takes a revision also takes an experiment's name through
:func:`resolve`."""

from __future__ import annotations

import re
from pathlib import Path

from tether import gitscm

PREFIX = "refs/tether/exps/"
# what `exp run --name` accepts: a ref component, a folder name and a word in a table
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.I)


def ref_of(baseline: str, name: str) -> str:
    return f"{PREFIX}{baseline}/{name}"


def split(ref: str) -> tuple[str, str]:
    """(baseline, name) of an experiment ref."""
    baseline, _, name = ref[len(PREFIX) :].partition("/")
    return baseline, name


def all_refs(root: Path) -> dict[str, tuple[str, str]]:
    """Every experiment: name -> (ref, commit), from one ``git for-each-ref``. A ref
    whose name tether would not have given (made by hand, or fetched) is left out:
    names become file names under ``.tether/``."""
    found = {}
    for ref, sha in gitscm.refs_under(root, PREFIX):
        name = split(ref)[1]
        if NAME.fullmatch(name):
            found[name] = (ref, sha)
    return found


def resolve(root: Path, rev: str) -> str:
    """``rev`` itself, or the commit of the experiment so named when git knows no
    such branch or tag (a branch wins, as in git a branch wins over a tag)."""
    if not NAME.fullmatch(rev) or rev == "HEAD":
        return rev
    found = all_refs(root).get(rev)
    if found is None or rev in gitscm.ref_names(root):
        return rev
    return found[1]
