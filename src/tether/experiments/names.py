"""Short readable names for experiments: adjective-noun, unique in the repository."""

from __future__ import annotations

import secrets
from collections.abc import Container

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
