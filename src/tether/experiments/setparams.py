"""``exp run -S``: parse ``[FILE:]key=value[,value…]``, expand the grid, and set
the values in a work tree's params files (YAML or JSON).

A value is read as YAML (as PyYAML, so as most stages, read it): ``0.1`` and
``0x10`` are numbers, ``true`` a boolean, ``null`` null, ``1_000`` the integer
1000; a number in exponent notation (``1e-3``) is a float, as in YAML 1.2.
A value in quotes is a string and one value even with commas in it; an empty
value is refused."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether import gitscm, valuefiles, yamlio
from tether.errors import MetadataError, TetherError, UsageError
from tether.experiments import yamledit
from tether.pipeline import spec

Override = tuple[str, str, Any]  # file, dotted key, value


@dataclass(frozen=True)
class Setting:
    file: str
    key: str
    values: tuple[Any, ...]


# a number in exponent notation without a point (1e-3, 2E+5): a float to YAML
# 1.2 and to users, a string to PyYAML's YAML 1.1
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _value(text: str, arg: str) -> Any:
    text = text.strip()
    if not text:
        raise UsageError(f"-S {arg}: empty value", "give a value; to set null, write it: KEY=null")
    if _EXPONENT.fullmatch(text):
        return float(text)
    try:
        return yamlio.loads(text, "-S")
    except MetadataError:
        raise UsageError(
            f"-S {arg}: {text!r} is not a valid YAML value", "quote it or fix its syntax"
        ) from None


def _split(text: str) -> list[str]:
    """Comma-separated values; a comma inside quotes (``"a,b"``, ``'a,b'``) or
    brackets (``[1,2]``, ``{a: 1}``) is part of one value."""
    values: list[str] = []
    current: list[str] = []
    quote, depth = "", 0
    for c in text:
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth <= 0:
            values.append("".join(current))
            current = []
            continue
        current.append(c)
    values.append("".join(current))
    return values


def parse(arg: str) -> Setting:
    target, eq, text = arg.partition("=")
    file, colon, key = target.rpartition(":") if ":" in target else ("", "", target)
    if not eq or not key or (colon and not file):
        raise UsageError(
            f"-S {arg}: expected [FILE:]KEY=VALUE", "e.g. -S train.lr=0.01 or -S p.yaml:a.b=1,2"
        )
    return Setting(file or spec.PARAMS, key, tuple(_value(v, arg) for v in _split(text)))


def parse_all(args: list[str]) -> list[Setting]:
    """Every ``-S``; a key set twice is refused (which value was meant?)."""
    settings = [parse(a) for a in args]
    seen: set[tuple[str, str]] = set()
    for s in settings:
        if (s.file, s.key) in seen:
            raise UsageError(
                f"-S {s.key}: set twice (in {s.file})",
                "give it once; several values go in one -S, comma-separated: KEY=1,2",
            )
        seen.add((s.file, s.key))
    return settings


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
    """Write the values into the files below ``root``: YAML files keep their
    comments, key order and layout (:mod:`tether.experiments.yamledit`)."""
    by_file: dict[str, list[Override]] = {}
    for o in overrides:
        by_file.setdefault(o[0], []).append(o)
    for file, items in by_file.items():
        values = [(key, value) for _, key, value in items]
        if file.endswith(".json"):
            doc = valuefiles.read_params_file(root, file)
            for key, value in values:
                *parents, last = key.split(".")
                node = doc
                for part in parents:
                    node = node[part]
                node[last] = value
            (root / file).write_text(json.dumps(doc, indent=2) + "\n")
        else:
            yamledit.set_values(root / file, values)
