"""An experiment's record: the JSON in its commit message, and reading them all.

The commit's message is one title line, a blank line and one JSON object
(``Note``); ``exp show`` reads every experiment's ref with one
``git for-each-ref`` and every commit with one ``git cat-file --batch``, and
parses only the messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether import exprefs, gitscm

TITLE = "tether experiment"
SCHEMA = 1


@dataclass
class Note:
    name: str
    baseline: str  # the commit it started from
    branch: str  # the branch HEAD was on ("" when detached)
    changed: dict[str, Any]  # "FILE:key" -> the value -S set
    params: dict[str, dict[str, Any]]  # file -> flattened key -> value, as it ran
    metrics: dict[str, dict[str, Any]]  # file -> flattened key -> value
    state: str  # done | failed
    exit_code: int
    started: str  # ISO 8601, UTC
    finished: str
    log: str  # relative to the repository root
    log_digest: str = ""  # the log as a cache object ("" in notes written before)
    commit: str = field(default="", compare=False)  # filled in when read

    def message(self) -> str:
        doc = {
            "schema": SCHEMA,
            "name": self.name,
            "baseline": self.baseline,
            "branch": self.branch,
            "changed": self.changed,
            "params": self.params,
            "metrics": self.metrics,
            "state": self.state,
            "exit_code": self.exit_code,
            "started": self.started,
            "finished": self.finished,
            "log": self.log,
        }
        if self.log_digest:
            doc[exprefs.LOG_KEY] = self.log_digest
        return f"{TITLE} {self.name}\n\n{json.dumps(doc, sort_keys=True)}\n"


def parse(commit: str, body: bytes) -> Note | None:
    """The note of a commit object's text; None when it holds none (a ref made by hand)."""
    _, sep, message = body.partition(b"\n\n")
    lines = message.decode("utf-8", "replace").split("\n", 2)
    if not sep or not lines[0].startswith(TITLE) or len(lines) < 3:
        return None
    try:
        doc = json.loads(lines[2])
        return Note(
            name=str(doc["name"]),
            baseline=str(doc["baseline"]),
            branch=str(doc.get("branch", "")),
            changed=dict(doc.get("changed", {})),
            params=dict(doc.get("params", {})),
            metrics=dict(doc.get("metrics", {})),
            state=str(doc["state"]),
            exit_code=int(doc.get("exit_code", 0)),
            started=str(doc.get("started", "")),
            finished=str(doc.get("finished", "")),
            log=str(doc.get("log", "")),
            log_digest=exprefs.log_digest(doc),
            commit=commit,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_all(root: Path) -> list[Note]:
    """Every experiment's note, oldest first: two git calls whatever their number."""
    refs = exprefs.all_refs(root)
    objects = gitscm.read_objects(root, [sha for _, sha in refs.values()])
    notes = []
    for ref, sha in refs.values():
        obj = objects.get(sha)
        note = parse(sha, obj[1]) if obj is not None and obj[0] == "commit" else None
        if note is not None and note.name == exprefs.split(ref)[1]:
            notes.append(note)
    return sorted(notes, key=lambda n: (n.started, n.name))
