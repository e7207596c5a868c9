"""Short readable names for experiments: adjective-noun, unique in the repository."""

from __future__ import annotations

import secrets
from collections.abc import Container
from pathlib import Path

from tether import exprefs, gitscm
from tether.errors import UsageError

_ADJECTIVES = [
    "amber",
    "azure",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "dapper",
    "eager",
    "fancy",
    "fleet",
    "gentle",
    "glad",
    "golden",
    "grand",
    "happy",
    "hardy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "merry",
    "misty",
    "noble",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "royal",
    "shiny",
    "silent",
    "sleek",
    "snowy",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "witty",
    "young",
    "zesty",
]
_NOUNS = [
    "acorn",
    "badger",
    "beacon",
    "birch",
    "canyon",
    "cedar",
    "comet",
    "coral",
    "crane",
    "delta",
    "dune",
    "eagle",
    "ember",
    "falcon",
    "fern",
    "finch",
    "fjord",
    "glade",
    "harbor",
    "heron",
    "island",
    "jay",
    "kestrel",
    "lark",
    "lynx",
    "maple",
    "meadow",
    "moss",
    "oak",
    "orca",
    "otter",
    "pine",
    "plover",
    "quail",
    "raven",
    "reef",
    "river",
    "robin",
    "sparrow",
    "spruce",
    "stork",
    "tern",
    "thrush",
    "tiger",
    "vale",
    "willow",
    "wren",
]


def generate(taken: Container[str]) -> str:
    """A random adjective-noun name not in ``taken`` (a number is added once the
    pairs seem used up)."""
    for attempt in range(200):
        name = f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"
        if attempt >= 100:
            name += f"-{secrets.randbelow(10_000)}"
        if name not in taken:
            return name
    raise RuntimeError("no free experiment name")  # pragma: no cover - 19 million names


def check(root: Path, name: str, flag: str = "--name") -> None:
    """Refuse a name an experiment cannot have: one git refuses in a ref, or one
    that already names a commit to git (a branch, a tag, HEAD and its kind, a
    commit id), which commands taking a revision would then read otherwise."""
    if not exprefs.well_formed(name):
        raise UsageError(
            f"{flag} {name!r}: not a valid experiment name",
            "use letters, digits, '.', '_' and '-' (up to 64), starting with a letter or "
            "digit, without '..' and not ending in '.' or '.lock'",
        )
    if name.upper() in exprefs.SPECIAL:
        raise UsageError(f"{flag} {name}: git names a commit so", "pick another name")
    if exprefs.HEX.fullmatch(name):
        raise UsageError(
            f"{flag} {name}: it could be a commit id (4 to 40 or 64 hex digits)",
            "pick a name with a letter beyond a-f, or a '-'",
        )
    if name in gitscm.ref_names(root):
        raise UsageError(f"{flag} {name}: a branch or tag has that name", "pick another name")
