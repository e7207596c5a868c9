"""``tether remove``: stop tracking a path and keep its data in the workspace."""

from __future__ import annotations

from tether import gitscm
from tether.pointer import Pointer
from tether.repo import Repo
from tether.workspace import tracked


def remove(
    repo: Repo, targets: list[str], *, outputs: tracked.StageOutputs
) -> list[Pointer | tracked.Broken]:
    """Delete the pointer files of ``targets`` and their .gitignore lines (kept
    for a cached stage output, from ``outputs``); a pointer file that does not
    parse is removed too (its name says its path)."""
    with repo.lock("tether remove"):
        broken: list[tracked.Broken] = []
        chosen: list[Pointer | tracked.Broken] = [*tracked.select(repo, targets, broken=broken)]
        chosen += broken
        produced = {o.path for o in outputs.declared(repo) if o.cache}
        tracked.check_ignorable(repo, [p.path for p in chosen if p.path not in produced])
        for p in chosen:
            (repo.root / p.source).unlink()
            # a stage's output keeps its line: the stage still writes the path
            gi = None if p.path in produced else tracked.unignore(repo, p.path)
            if repo.config.autostage:
                gitscm.unstage_removed(repo.root, [p.source])
                if gi is not None:
                    if (repo.root / gi).exists():
                        gitscm.stage(repo.root, [gi])
                    else:
                        gitscm.unstage_removed(repo.root, [gi])
    return chosen
