"""``tether plots show`` / ``diff``: collect the plots at the revisions asked
for and write them in one format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.plots import collect, dest, output
from tether.repo import Repo

FORMATS = ("html", "png", "svg", "json")
DEFAULT_FOLDER = "tether_plots"


@dataclass
class Made:
    result: collect.Result
    written: list[Path] = field(default_factory=list)  # the page, or the image files
    specs: dict[str, dict[str, Any]] | None = None  # --json: each drawn plot's spec


def make(
    repo: Repo, revs: list[str | None], targets: list[str], fmt: str, folder: Path | None
) -> Made:
    """Plots at ``revs`` (``None``: the workspace) as ``fmt``, written under
    ``folder`` (default: ``tether_plots/`` of the workspace); json writes nothing."""
    result = collect.collect(repo, revs, targets)
    made = Made(result)
    if fmt == "json":
        made.specs = {p.id: output.spec_of(p) for p in result.plots if p.series}
        return made
    option = {"html": "--out", "png": "--png", "svg": "--svg"}[fmt]
    where = dest.Folder(repo.root, folder or repo.root / DEFAULT_FOLDER, option)
    if fmt == "html":
        made.written = [output.write_page(result, where)]
    else:
        made.written = output.write_images(result, where, fmt)
    return made
