"""``exp run -S``: parse ``[FILE:]key=value[,value…]``, expand the grid, and set
the values in a work tree's params files (YAML or JSON; values parsed as YAML,
so ``0.1`` stays a number and ``true`` a boolean)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether import gitscm, valuefiles, yamlio
from tether.errors import MetadataError, TetherError, UsageError
from tether.pipeline import spec

Override = tuple[str, str, Any]  # file, dotted key, value


@dataclass(frozen=True)
class Setting:
    file: str
    key: str
    values: tuple[Any, ...]


def _value(text: str, arg: str) -> Any:
    try:
        return yamlio.loads(text, "-S") if text.strip() else None
    except MetadataError:
        raise UsageError(
            f"-S {arg}: {text!r} is not a valid YAML value", "quote it or fix its syntax"
        ) from None


def _split(text: str) -> list[str]:
    """Comma-separated values; a YAML list or mapping (``[1,2]``) is one value."""
    if text.lstrip().startswith(("[", "{")):
        return [text]
    return text.split(",")


def parse(arg: str) -> Setting:
    target, eq, text = arg.partition("=")
    file, colon, key = target.rpartition(":") if ":" in target else ("", "", target)
    if not eq or not key or (colon and not file):
        raise UsageError(
            f"-S {arg}: expected [FILE:]KEY=VALUE", "e.g. -S train.lr=0.01 or -S p.yaml:a.b=1,2"
        )
    return Setting(file or spec.PARAMS, key, tuple(_value(v, arg) for v in _split(text)))


def check(root: Path, settings: list[Setting]) -> None:
    """Every key must already exist in its file: a typo would otherwise add a
    param no stage reads and run an experiment that changes nothing."""
    for s in settings:
        if not s.file.endswith((".yaml", ".yml", ".json")):
            raise UsageError(f"-S {s.file}:{s.key}: only YAML and JSON params files can be set")
        try:
            doc = valuefiles.read_params_file(root, s.file)
        except TetherError as exc:
            raise UsageError(f"-S {s.file}:{s.key}: {exc.message}", exc.hint) from None
        node: Any = doc
        for part in s.key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise UsageError(
                    f"-S {s.key}: no key {s.key!r} in {s.file}",
                    "check the name, or add the key to the file first",
                )
            node = node[part]
    untracked = sorted(
        {s.file for s in settings} - set(gitscm.tracked(root, {s.file for s in settings}))
    )
    if untracked:
        raise UsageError(
            f"-S: {untracked[0]} is not tracked by git, so an experiment would not have it",
            f"`git add {untracked[0]}`: experiments start from HEAD and changes to tracked files",
        )


def grid(settings: list[Setting]) -> list[list[Override]]:
    """Every combination of the settings' values (the Cartesian product)."""
    choices = [[(s.file, s.key, v) for v in s.values] for s in settings]
    return [list(combo) for combo in itertools.product(*choices)]


def apply(root: Path, overrides: list[Override]) -> None:
    """Write the values into the files below ``root``."""
    by_file: dict[str, list[Override]] = {}
    for o in overrides:
        by_file.setdefault(o[0], []).append(o)
    for file, items in by_file.items():
        doc = valuefiles.read_params_file(root, file)
        for _, key, value in items:
            *parents, last = key.split(".")
            node = doc
            for part in parents:
                node = node[part]
            node[last] = value
        if file.endswith(".json"):
            (root / file).write_text(json.dumps(doc, indent=2) + "\n")
        else:
            yamlio.dump_file(root / file, doc)
