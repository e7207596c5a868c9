"""An experiment's note and ref, read from a clone or a remote: untrusted."""

from __future__ import annotations

import json

from tether import exprefs
from tether.experiments import record

SHA = "a" * 40
DIGEST = "b" * 64


def _body(**doc: object) -> bytes:
    base = {"name": "fast", "baseline": SHA, "state": "done"}
    return b"tree x\n\ntether experiment fast\n\n" + json.dumps({**base, **doc}).encode()


def test_a_note_without_a_log_digest_still_parses() -> None:
    note = record.parse(SHA, _body(log=".tether/exps/logs/fast.log"))
    assert note is not None and note.log_digest == "" and note.name == "fast"


def test_a_log_digest_is_kept_only_when_it_is_a_digest() -> None:
    for bad in ("../../etc/passwd", DIGEST.upper(), DIGEST[:-1], 12, None, ["x"]):
        note = record.parse(SHA, _body(log_digest=bad))
        assert note is not None and note.log_digest == "", bad
    good = record.parse(SHA, _body(log_digest=DIGEST))
    assert good is not None and good.log_digest == DIGEST
    assert f'"{exprefs.LOG_KEY}": "{DIGEST}"' in good.message()
    assert exprefs.LOG_KEY not in record.Note(**{**good.__dict__, "log_digest": ""}).message()


def test_only_refs_tether_makes_are_valid() -> None:
    assert exprefs.valid(f"refs/tether/exps/{SHA}/fast")
    assert exprefs.valid(f"refs/tether/exps/{'c' * 64}/a.b_c-1")
    for ref in (
        "refs/tether/exps/notasha/fast",
        f"refs/tether/exps/{SHA.upper()}/fast",
        f"refs/tether/exps/{SHA}/-fast",
        f"refs/tether/exps/{SHA}/a/b",
        f"refs/tether/exps/{SHA}/..",
        f"refs/tether/exps/{SHA}/",
        f"refs/heads/{SHA}/fast",
    ):
        assert not exprefs.valid(ref), ref
