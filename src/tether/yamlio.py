"""The one wrapper around PyYAML: safe loading and deterministic dumping.

Every YAML file tether writes for git goes through :func:`dump`, so key order
is the caller's (stable) and the output is byte-identical for equal input.

Reading has a fast path for the flat files that every command reads (pointer
files, a plain config): lines of ``key: value`` with integers and plain
strings that PyYAML could not read as anything else. Anything outside that
narrow form goes to PyYAML, whose import alone (~25 ms) would be a tenth of a
no-op ``status``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from tether import atomicfile, untrusted
from tether.errors import MetadataError

_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): (.+)")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
_LETTER = re.compile(r"[A-Za-z]")
_INT_DIGITS = 1200  # below 2**untrusted.MAX_INT_BITS whatever the digits
# plain scalars PyYAML resolves to something other than a string (YAML 1.1):
# booleans and null by name, 0x/0b/0o integers, floats with an exponent
_WORDS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}
_NOT_STR = re.compile(r"[-+]?0[xXbBoO].*|[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?")


def _flat(text: str) -> dict[str, int | str] | None:
    """``text`` as PyYAML would read it, when it is in the narrow flat form; else None."""
    if not text.endswith("\n"):
        return None
    out: dict[str, int | str] = {}
    for line in text[:-1].split("\n"):
        m = _LINE.fullmatch(line)
        if m is None:
            return None
        key, value = m.groups()
        if key in out or key.lower() in _WORDS:  # `on:` is the key True to PyYAML
            return None
        if _INT.fullmatch(value) and len(value) <= _INT_DIGITS:  # longer: the full path refuses
            out[key] = int(value)
        elif (
            _PLAIN.fullmatch(value)
            and _LETTER.search(value)
            and value.lower() not in _WORDS
            and not _NOT_STR.fullmatch(value)
        ):
            out[key] = value
        else:
            return None
    return out or None


@cache
def _yaml() -> tuple[Any, type[Any], type[Any]]:
    import yaml

    loader: type[Any]
    base: type[Any]
    try:  # the C loader is ~10x faster; fall back where libyaml is missing
        loader, base = yaml.CSafeLoader, yaml.CSafeDumper
    except AttributeError:  # pragma: no cover - depends on the PyYAML build
        loader, base = yaml.SafeLoader, yaml.SafeDumper

    class Dumper(base):  # type: ignore[misc]
        """Never writes an anchor: tether's own files hold no aliases."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml, loader, Dumper


def _children(node: Any) -> list[Any]:
    value = node.value
    if isinstance(value, list):  # a sequence's items, or a mapping's (key, value) pairs
        return [n for item in value for n in (item if isinstance(item, tuple) else (item,))]
    return []


def _check_aliases(root: Any, source: str, allowed: bool) -> None:
    """Refuse aliases (``allowed`` False), or aliases that would expand the
    document by more than ``untrusted.MAX_ALIAS_NODES`` nodes, or that refer to
    a node that contains them. The composed graph shares each anchored node,
    so this costs one visit per node written in the file, not per expansion."""
    sizes: dict[int, int] = {}  # node -> nodes once aliases are expanded
    open_: set[int] = set()  # nodes whose children are being counted
    distinct = 0
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            open_.discard(key)
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), 1 << 62)
            continue
        if key in sizes:  # met again: an alias to a finished node
            if not allowed:
                raise MetadataError(f"{source}: YAML aliases are not allowed in this file")
            continue
        if key in open_:
            raise MetadataError(f"{source}: a YAML alias refers to a node that contains it")
        distinct += 1
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids)
    if sizes[id(root)] - distinct > untrusted.MAX_ALIAS_NODES:
        raise MetadataError(
            f"{source}: YAML aliases expand it to {sizes[id(root)]:,} values, "
            f"more than {untrusted.MAX_ALIAS_NODES:,} beyond those written",
            "a file that small should not grow that much; remove the aliases",
        )


def loads(text: str, source: str, aliases: bool = True) -> Any:
    """Parse YAML text; ``source`` names the file in the error message.
    ``aliases`` False: the file is one tether writes, which never holds any."""
    flat = _flat(text)
    if flat is not None:
        return flat
    untrusted.check_size(len(text), source)
    yaml, loader_class, _ = _yaml()
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node, source, aliases)
        return untrusted.check_depth(loader.construct_document(node), source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MetadataError(f"{source}: not valid YAML{where}: {problem}") from None
    except ValueError as exc:  # a number past Python's digit limit, a date that does not exist
        raise untrusted.value_error(exc, source, "YAML") from None
    except RecursionError:  # the pure-Python parser, where libyaml is missing
        raise MetadataError(
            f"{source}: nested more than {untrusted.MAX_DEPTH} levels deep"
        ) from None
    finally:
        loader.dispose()


def load_file(path: Path, source: str | None = None, aliases: bool = True) -> Any:
    name = source or str(path)
    return loads(untrusted.read_text(path, name), name, aliases)


def dumps(data: Any) -> str:
    """Deterministic YAML: keys in the order given, block style, UTF-8."""
    yaml, _, dumper = _yaml()
    out: str = yaml.dump(
        data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return out


def dump_file(path: Path, data: Any) -> None:
    atomicfile.write(path, dumps(data))
