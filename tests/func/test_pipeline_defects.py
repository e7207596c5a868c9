"""Pipelines where data could go missing or a rule read wrongly: tracked data
changed before a run, outputs that overlap tracked paths, whole params files,
remote failures during a restore, and what a stage's environment holds."""

from __future__ import annotations

import pytest

from tests.conftest import write

# -- tether.lock is validated like any clone input ------------------------------

LOCK_OUT = "{path: %s, kind: file, hash: xxh3, digest: %s, size: 2}"
DIGEST = "a" * 32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: 1\nstages: {}\nextra: 1\n", "tether.lock: unknown key(s) extra"),
        (
            "schema: 1\nstages:\n  a: {cmd: x, deps: [], outs: [], when: now}\n",
            "tether.lock: stages.a: unknown key(s) when",
        ),
        (
            "schema: 1\nstages:\n  a:\n    cmd: x\n    outs: ["
            + (LOCK_OUT % ("a.txt", DIGEST))[:-1]
            + ", owner: b}]\n",
            "tether.lock: stages.a.outs: unknown key(s) owner",
        ),
        (
            "schema: 1\nstages:\n"
            f"  a: {{cmd: x, outs: [{LOCK_OUT % ('o.txt', DIGEST)}]}}\n"
            f"  b: {{cmd: y, outs: [{LOCK_OUT % ('o.txt', 'b' * 32)}]}}\n",
            "tether.lock: output o.txt is recorded by both a and b",
        ),
        (
            "schema: 1\nstages:\n"
            f"  a: {{cmd: x, outs: [{LOCK_OUT % ('d', DIGEST)}]}}\n"
            f"  b: {{cmd: y, outs: [{LOCK_OUT % ('d/o.txt', 'b' * 32)}]}}\n",
            "tether.lock: output d/o.txt (overlapping d) is recorded by both a and b",
        ),
    ],
    ids=["top", "stage", "artifact", "same-output", "nested-output"],
)
def test_lock_with_unknown_keys_or_shared_outputs_is_refused(repo, tether, text, message):
    write(repo / "tether.yaml", "stages:\n  a: {cmd: 'true'}\n")
    write(repo / "tether.lock", text)
    for command in (["checkout"], ["repro", "--dry"], ["status"]):
        r = tether(*command)
        assert r.code == 1, (command, r.out)
        assert message in r.err, (command, r.err)
        assert len(r.err.strip().splitlines()) == 1
