"""Read and parse files a cloned repository or a remote controls, within bounds.

Every such file (pointers, tether.yaml, tether.lock, config, params and metrics
files, in the workspace or read from git) goes through here before it is
parsed, so none can hang or crash a command:

* only regular files are opened: a FIFO would block the read forever, a device
  (``/dev/zero``, a symlink to one) never ends; both are refused from ``stat``
  before anything is opened;
* at most :data:`MAX_BYTES` are read;
* a parsed document may nest at most :data:`MAX_DEPTH` deep (a 100,000-deep
  JSON file would otherwise exhaust the stack), and YAML aliases may not
  expand it by more than :data:`MAX_ALIAS_NODES` nodes (a "billion laughs" file
  is a few hundred bytes that expand to a billion strings; see ``yamlio``);
* a number may have at most :data:`MAX_INT_BITS` bits (Python refuses to
  parse or print an integer of more than 4,300 digits).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tether.errors import MetadataError, PathError

MAX_BYTES = 32 << 20
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000
MAX_INT_BITS = 4096  # far past any size, count or parameter; every such number prints
MAX_SIZE = (1 << 63) - 1  # sizes and counts in pointers and trees
_HINT = "tether reads only regular files of sensible size and depth; fix or remove it"


def check_size(size: int, source: str) -> None:
    if size > MAX_BYTES:
        raise MetadataError(
            f"{source}: {size:,} bytes, more than the {MAX_BYTES >> 20} MiB tether reads", _HINT
        )


def _refuse_special(mode: int, source: str) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{source}: is a folder")
    if not stat.S_ISREG(mode):
        raise MetadataError(f"{source}: not a regular file (a FIFO, socket or device)", _HINT)


def read_bytes(path: Path, source: str, follow: bool = True) -> bytes:
    """The bytes of a regular file (symlinks followed, unless not ``follow``:
    then a symlink is refused); FileNotFoundError and IsADirectoryError as
    ``open`` raises them, MetadataError for anything else."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if not follow:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise MetadataError(f"{source}: a symlink, which tether does not follow", _HINT)
        flags |= os.O_NOFOLLOW
    _refuse_special(os.stat(path).st_mode, source)  # before opening: no side effects
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)  # what was opened, should the path have changed meanwhile
        _refuse_special(st.st_mode, source)
        check_size(st.st_size, source)
        data = f.read(MAX_BYTES + 1)
    check_size(len(data), source)
    return data


def read_text(path: Path, source: str, follow: bool = True) -> str:
    try:
        return read_bytes(path, source, follow).decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{source}: not UTF-8 text") from None


def read_in(root: Path, rel: str, source: str | None = None, cache: Path | None = None) -> bytes:
    """:func:`read_bytes` of the workspace file ``rel``, once :func:`paths.confine`
    has it inside the workspace (or ``cache``) and out of ``.git/`` and
    ``.tether/`` (a committed symlink may point at a secret)."""
    from tether import paths

    try:
        paths.confine(root, rel, source or rel, write=False, cache=cache)
    except PathError as exc:
        raise MetadataError(exc.message, exc.hint) from None
    return read_bytes(root / rel, source or rel)


def read_text_in(root: Path, rel: str, source: str | None = None) -> str:
    try:
        return read_in(root, rel, source).decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{source or rel}: not UTF-8 text") from None


def check_depth(doc: Any, source: str) -> Any:
    """``doc`` itself, once it is known to nest no deeper than :data:`MAX_DEPTH`
    (walked iteratively, so neither a deep document nor a cycle overflows the stack)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = [*node, *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, int) and node.bit_length() > MAX_INT_BITS:
                raise _too_large(source)
            continue
        if depth >= MAX_DEPTH:
            raise _too_deep(source)
        stack.extend((child, depth + 1) for child in children)
    return doc


def _too_large(source: str) -> MetadataError:
    return MetadataError(
        f"{source}: holds a number too large to use (over {MAX_INT_BITS} bits)",
        "no size, count or parameter is that large; fix or remove it",
    )


def value_error(exc: ValueError, source: str, kind: str) -> MetadataError:
    """A parser's ValueError (a number past Python's digit limit, a date that
    does not exist) as one line naming the file."""
    if "integer string conversion" in str(exc):
        return _too_large(source)
    return MetadataError(f"{source}: not valid {kind}: {exc}", "")


def _too_deep(source: str) -> MetadataError:
    return MetadataError(f"{source}: nested more than {MAX_DEPTH} levels deep", _HINT)


def _parsed(loads: Callable[[Any], Any], text: str | bytes, source: str, fmt: str) -> Any:
    """``loads(text)`` within the size and depth bounds; any parse error is one line."""
    check_size(len(text), source)
    try:
        return check_depth(loads(text), source)
    except RecursionError:
        raise _too_deep(source) from None
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError too
        raise value_error(exc, source, fmt) from None


def json_loads(text: str | bytes, source: str) -> Any:
    import json

    return _parsed(json.loads, text, source, "JSON")


def toml_loads(text: str, source: str) -> Any:
    import tomllib

    return _parsed(tomllib.loads, text, source, "TOML")
