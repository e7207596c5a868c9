"""Project config (``.tether/config.yaml``, committed) and local config
(``.tether/config.local.yaml``, gitignored), merged into one validated value.

Local values override project ones key by key. Secrets may only live in the
local file (or the standard credential chains), never in a committed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tether import gitscm, yamlio
from tether.errors import ConfigError, MetadataError
from tether.storage.remotes.spec import (
    COUNT_OPTIONS,
    OWN_OPTIONS,
    SECONDS_OPTIONS,
    SWITCH_OPTIONS,
    RemoteSpec,
    count,
    seconds,
)

PROJECT = "config.yaml"
LOCAL = "config.local.yaml"
DEFAULT_LINK = ["reflink", "copy"]
SECRET_MASK = "***"  # noqa: S105 - what a secret is shown as, not a secret
_V = TypeVar("_V")
SECRET_WORDS = ("secret", "password", "token", "access_key", "credential", "key_id")

# section -> option -> parser from the command-line string
_BOOL = {
    "true": True,
    "yes": True,
    "1": True,
    "on": True,
    "false": False,
    "no": False,
    "0": False,
    "off": False,
}


def _bool(text: str) -> bool:
    try:
        return _BOOL[text.lower()]
    except KeyError:
        raise ConfigError(f"{text!r} is not a boolean", "use true or false") from None


def _links(text: str) -> list[str]:
    from tether.storage.links import validate_order

    return validate_order([p.strip() for p in text.split(",") if p.strip()])


RAY_ADDRESS = "ray.address"  # never from the committed file: a clone must not pick the cluster
_OPTIONS: dict[str, dict[str, Any]] = {
    "core": {"remote": str, "autostage": _bool},
    "cache": {"dir": str, "link": _links},
    "ray": {"address": str},
}


def is_secret(option: str) -> bool:
    return any(w in option.lower() for w in SECRET_WORDS)


def masked(option: str, value: _V) -> _V | str:
    """``value`` as shown to the user: ``***`` when ``option`` (a name, or a dotted
    key such as ``remotes.s3.secret_access_key``) names a secret."""
    return SECRET_MASK if is_secret(option.rsplit(".", 1)[-1]) else value


def masked_argv(argv: list[str]) -> list[str]:
    """A command line safe to write to a log: the value after a secret's name
    (``remote modify --local s3 secret_access_key VALUE``, ``config KEY VALUE``)
    and the value of ``--name=value`` for a secret name become ``***``."""
    shown: list[str] = []
    after_secret = False
    for arg in argv:
        name, eq, _ = arg.lstrip("-").partition("=")
        if after_secret and not arg.startswith("-"):
            shown.append(SECRET_MASK)
            after_secret = False
            continue
        if eq and arg.startswith("-") and is_secret(name):
            shown.append(arg.partition("=")[0] + "=" + SECRET_MASK)
        else:
            shown.append(arg)
            after_secret = after_secret or is_secret(name.rsplit(".", 1)[-1])
    return shown


@dataclass(frozen=True)
class Config:
    remote: str | None = None
    autostage: bool = True
    cache_dir: str | None = None
    link: list[str] = field(default_factory=lambda: list(DEFAULT_LINK))
    remotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    ray_address: str | None = None  # the Ray cluster of `repro --executor ray`
    # dotted keys ("cache.dir", "remotes.NAME.OPTION") whose value comes from the
    # committed file: a clone controls them, so they are confined (see committed_cache_dir)
    committed: frozenset[str] = frozenset()


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yamlio.load_file(path, f".tether/{path.name}", aliases=False)
    except MetadataError as exc:
        raise ConfigError(exc.message) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f".tether/{path.name}: expected a mapping at the top level")
    if data.get("schema", 1) != 1:
        raise ConfigError(
            f".tether/{path.name}: unsupported schema {data.get('schema')!r}", "upgrade tether"
        )
    for key, value in data.items():
        if key == "schema":
            continue
        if key not in (*_OPTIONS, "remotes"):
            raise ConfigError(f".tether/{path.name}: unknown section {key!r}")
        if not isinstance(value, dict):
            raise ConfigError(f".tether/{path.name}: section {key!r} must be a mapping")
    return data


def local_settings(tether_dir: Path) -> dict[str, Any]:
    """This machine's config (``.tether/config.local.yaml``), validated, as written."""
    return _read(tether_dir / LOCAL)


def _merged(tether_dir: Path) -> dict[str, Any]:
    return _merged_with_origin(tether_dir)[0]


def _merged_with_origin(tether_dir: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The merged config, and the dotted keys whose value the committed file gave."""
    merged: dict[str, Any] = {}
    committed: set[str] = set()
    for name in (PROJECT, LOCAL):
        for section, values in _read(tether_dir / name).items():
            if section == "schema":
                continue
            target = merged.setdefault(section, {})
            for k, v in values.items():
                if isinstance(v, dict) and isinstance(target.get(k), dict):
                    target[k] = {**target[k], **v}
                else:
                    target[k] = v
                leaves = [f"{section}.{k}.{o}" for o in v] if isinstance(v, dict) else []
                keys = {f"{section}.{k}", *leaves}
                if name == PROJECT:
                    committed.update(keys)
                else:
                    committed.difference_update(leaves if leaves else keys)
    return merged, frozenset(committed)


def committed_cache_dir(value: str) -> str:
    """A cache.dir from the committed file: only a folder inside ``.tether/``,
    since a clone must never place the cache (where pull writes and gc deletes)
    anywhere else. Machine-specific places belong in the local file."""
    import posixpath

    norm = posixpath.normpath(value)
    if (
        not value
        or value.startswith(("/", "~"))
        or "$" in value
        or "\\" in value
        or norm in (".", "..")
        or norm.startswith("../")
    ):
        raise ConfigError(
            f".tether/{PROJECT}: cache.dir {value!r} is outside .tether/; "
            "a committed file may not place the cache elsewhere",
            "set it for this machine only: `tether cache dir --local PATH` "
            "(or TETHER_CACHE_DIR), and remove it from config.yaml",
        )
    return norm


def load(tether_dir: Path) -> Config:
    data, committed = _merged_with_origin(tether_dir)
    core, cache = data.get("core", {}), data.get("cache", {})
    cache_dir = cache.get("dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError(f"cache.dir must be a path, got {cache_dir!r}")
    if cache_dir is not None and "cache.dir" in committed:
        cache_dir = committed_cache_dir(cache_dir)
    link = cache.get("link", DEFAULT_LINK)
    if isinstance(link, str):
        link = _links(link)
    if not isinstance(link, list) or not all(isinstance(x, str) for x in link):
        raise ConfigError(f"cache.link must be a list of link types, got {link!r}")
    from tether.storage.links import validate_order

    validate_order(link)
    autostage = core.get("autostage", True)
    if not isinstance(autostage, bool):
        raise ConfigError(f"core.autostage must be true or false, got {autostage!r}")
    remotes = data.get("remotes", {})
    for name, opts in remotes.items():
        if not isinstance(opts, dict) or not isinstance(opts.get("url"), str):
            raise ConfigError(f"remote {name!r} needs a url")
    return Config(
        remote=core.get("remote"),
        autostage=autostage,
        cache_dir=cache_dir,
        link=list(link),
        remotes=remotes,
        ray_address=data.get("ray", {}).get("address"),
        committed=committed,
    )


def _split(key: str) -> list[str]:
    parts = key.split(".")
    if len(parts) == 2 and parts[0] in _OPTIONS and parts[1] in _OPTIONS[parts[0]]:
        return parts
    if len(parts) == 3 and parts[0] == "remotes" and all(parts):
        return parts
    known = [f"{s}.{o}" for s, opts in _OPTIONS.items() for o in opts] + ["remotes.NAME.OPTION"]
    raise ConfigError(f"unknown config key {key!r}", f"known keys: {', '.join(known)}")


def get_value(tether_dir: Path, key: str) -> Any:
    node: Any = _merged(tether_dir)
    for part in _split(key):
        if not isinstance(node, dict) or part not in node:
            defaults = {"core.autostage": True, "cache.link": DEFAULT_LINK}
            if key in defaults:
                return defaults[key]
            raise ConfigError(f"config key {key!r} is not set", "")
        node = node[part]
    return node


def set_value(tether_dir: Path, key: str, text: str | None, local: bool) -> None:
    """Set (or, with ``text=None``, unset) one key in the project or local file."""
    parts = _split(key)
    if text is not None and not local and is_secret(parts[-1]):
        raise ConfigError(
            f"{key} looks like a secret and would be committed to git",
            "pass --local to keep it in .tether/config.local.yaml",
        )
    if key == "cache.dir" and text is not None and not local:
        committed_cache_dir(text)
    if key == RAY_ADDRESS and text is not None and not local:
        raise ConfigError(
            f"{key} decides where stages and the remote's credentials go: it is set per machine",
            "pass --local to keep it in .tether/config.local.yaml",
        )
    if parts[0] == "remotes" and text is not None and not local:
        opts = {"url": "", **load(tether_dir).remotes.get(parts[1], {}), parts[2]: text}
        _check_committable(parts[1], opts, {parts[2]})
    path = tether_dir / (LOCAL if local else PROJECT)
    data = _read(path) or {"schema": 1}
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if text is None:
        if parts[-1] not in node:
            raise ConfigError(f"config key {key!r} is not set in {path.name}", "")
        del node[parts[-1]]
    else:
        parser = _OPTIONS.get(parts[0], {}).get(parts[1], str) if len(parts) == 2 else str
        node[parts[-1]] = parser(text)
    yamlio.dump_file(path, data)


def set_option(tether_dir: Path, key: str, text: str | None, local: bool) -> None:
    """``tether config KEY VALUE`` (``text=None``: ``--unset``): :func:`set_value`,
    then stage the project file in git like the remote commands do."""
    set_value(tether_dir, key, text, local)
    if not local:
        _stage(tether_dir)


def flatten(tether_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k in sorted(node):
                walk(f"{prefix}.{k}" if prefix else str(k), node[k])
        else:
            out[prefix] = node

    walk("", _merged(tether_dir))
    return out


# -- remotes ------------------------------------------------------------------

_REMOTE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"

# What a committed (so cloned, untrusted) config may set for a remote: where
# the data goes and how to reach it, nothing that makes the library write on
# this machine. Chained URLs (``filecache::…``), caching and in-process
# filesystems (``memory``, ``reference``, ``local``…) and every other option
# (``cache_storage``, ``target_protocol``, ``client_kwargs``…) may come only
# from config.local.yaml.
COMMITTED_PROTOCOLS = {
    "file": {"hardlink"},
    "s3": {"endpoint_url", "region", "profile", "use_ssl", "anon", "requester_pays"},
    "gs": {"project", "requester_pays"},
    "az": {"account_name"},
    "ssh": {"port", "username"},
    "http": set(),
    "hdfs": {"host", "port", "user"},
    "webhdfs": {"host", "port", "user"},
}
for _alias, _same in {
    "s3a": "s3",
    "gcs": "gs",
    "abfs": "az",
    "abfss": "az",
    "sftp": "ssh",
    "https": "http",
}.items():
    COMMITTED_PROTOCOLS[_alias] = COMMITTED_PROTOCOLS[_same]


def check_committed(spec: RemoteSpec, committed: set[str]) -> None:
    """Refuse a remote whose URL or options (``committed``: the option names
    set by the committed config) a cloned repository could turn against this
    machine."""
    local = f"set it for this machine only: `tether remote modify --local {spec.name} OPTION VALUE`"
    if "url" in committed and (
        spec.protocol not in COMMITTED_PROTOCOLS or ("::" in spec.url and spec.protocol != "file")
    ):
        raise ConfigError(
            f".tether/config.yaml: remote {spec.name!r}: {spec.protocol}:// URLs (chained, "
            "caching or in-process filesystems) may not come from a committed file",
            local.replace("OPTION VALUE", "url URL"),
        )
    allowed = OWN_OPTIONS | COMMITTED_PROTOCOLS.get(spec.protocol, set())
    refused = sorted(committed - allowed)
    if refused:
        raise ConfigError(
            f".tether/config.yaml: remote {spec.name!r}: option {refused[0]!r} may not come "
            "from a committed file (a clone could make it write on this machine)",
            local,
        )


_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def check_endpoint(spec: RemoteSpec, committed: set[str]) -> None:
    """Refuse to send this machine's credentials (signed requests: the key id
    and signatures, never the secret) over plain HTTP to a host other than this
    machine that only the committed config (so a clone) named. Confirmed in
    config.local.yaml, or reached over https, or ``anon``, it is used."""
    from urllib.parse import urlsplit

    endpoint = spec.options.get("endpoint_url")
    if "endpoint_url" not in committed or not isinstance(endpoint, str):
        return
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host in _LOOPBACK or host.startswith("127."):
        return
    if spec.options.get("anon") in (True, "true", "yes", "1", "on"):
        return  # no credentials to send
    raise ConfigError(
        f"remote {spec.name!r}: endpoint_url {endpoint} comes from the committed "
        ".tether/config.yaml and is plain HTTP to another host; tether sends this "
        "machine's credentials only to an endpoint confirmed on this machine",
        f"if you trust it: `tether remote modify --local {spec.name} endpoint_url {endpoint}`; "
        "or use https",
    )


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(_REMOTE_NAME, name):
        raise ConfigError(
            f"{name!r} is not a valid remote name", "use letters, digits, '-', '_' or '.'"
        )


def check_url(url: str) -> None:
    """Refuse URLs that would put a password into a committed file."""
    from urllib.parse import urlsplit

    if not url or url.strip() != url:
        raise ConfigError(f"{url!r} is not a remote URL", "give a path or an fsspec URL")
    if urlsplit(url).password:
        raise ConfigError(
            "the remote URL holds a password, which would be committed to git",
            "drop it from the URL and set it with `tether remote modify --local`",
        )


def _remote_option(option: str, text: str) -> Any:
    if option in COUNT_OPTIONS:
        try:
            return count(text)
        except ValueError as exc:
            raise ConfigError(f"{option} {exc}") from None
    if option in SWITCH_OPTIONS:
        return _bool(text)
    if option in SECONDS_OPTIONS:
        try:
            return seconds(text)
        except ValueError as exc:
            raise ConfigError(f"{option} {exc}") from None
    if option == "url":
        check_url(text)
    return text


def _edit(tether_dir: Path, local: bool) -> tuple[Path, dict[str, Any]]:
    path = tether_dir / (LOCAL if local else PROJECT)
    return path, (_read(path) or {"schema": 1})


def _stage(tether_dir: Path) -> None:
    """Stage the project config in git after a change to it (core.autostage)."""
    if load(tether_dir).autostage:
        gitscm.stage(tether_dir.parent, [f"{tether_dir.name}/{PROJECT}"])


def _check_committable(name: str, opts: dict[str, Any], options: set[str]) -> None:
    """Refuse to commit what a clone could not be trusted with (see check_committed)."""
    try:
        check_committed(RemoteSpec(name, str(opts["url"]), opts), options)
    except ConfigError as exc:
        raise ConfigError(
            exc.message.replace(f".tether/{PROJECT}: ", "") + "; not written",
            "pass --local to keep it in .tether/config.local.yaml",
        ) from None


def remote_add(
    tether_dir: Path, name: str, url: str, default: bool, local: bool, force: bool
) -> None:
    _check_name(name)
    check_url(url)
    if not local:
        _check_committable(name, {"url": url}, {"url"})
    if name in load(tether_dir).remotes and not force:
        raise ConfigError(f"remote {name!r} already exists", "pass --force to replace it")
    path, data = _edit(tether_dir, local)
    data.setdefault("remotes", {})[name] = {"url": url}
    if default:
        data.setdefault("core", {})["remote"] = name
    yamlio.dump_file(path, data)
    _stage(tether_dir)


def remote_remove(tether_dir: Path, name: str) -> None:
    if name not in load(tether_dir).remotes:
        raise ConfigError(f"no remote named {name!r}", "see `tether remote list`")
    for local in (False, True):
        path, data = _edit(tether_dir, local)
        if not path.exists():
            continue
        data.get("remotes", {}).pop(name, None)
        if not data.get("remotes"):
            data.pop("remotes", None)
        if data.get("core", {}).get("remote") == name:
            del data["core"]["remote"]
        yamlio.dump_file(path, data)
    _stage(tether_dir)


def remote_modify(tether_dir: Path, name: str, option: str, text: str | None, local: bool) -> None:
    if name not in load(tether_dir).remotes:
        raise ConfigError(f"no remote named {name!r}", "add it with `tether remote add`")
    if text is not None and not local and is_secret(option):
        raise ConfigError(
            f"{option} looks like a secret and would be committed to git",
            "pass --local to keep it in .tether/config.local.yaml (gitignored)",
        )
    if option == "url" and text is None:
        raise ConfigError("a remote needs a url", "use `tether remote remove` to drop it")
    if text is not None and not local:
        _check_committable(name, {**load(tether_dir).remotes[name], option: text}, {option})
    path, data = _edit(tether_dir, local)
    opts = data.setdefault("remotes", {}).setdefault(name, {})
    if text is None:
        if option not in opts:
            raise ConfigError(f"{option} is not set for {name!r} in {path.name}", "")
        del opts[option]
        if not opts:
            del data["remotes"][name]
    else:
        opts[option] = _remote_option(option, text)
    yamlio.dump_file(path, data)
    _stage(tether_dir)


def remote_default(tether_dir: Path, name: str | None, local: bool = False) -> None:
    """Set the default remote in the project (or ``local``) file; ``None`` unsets it
    there (without ``local``: in both files)."""
    if name is not None and name not in load(tether_dir).remotes:
        raise ConfigError(f"no remote named {name!r}", "see `tether remote list`")
    if name:
        set_value(tether_dir, "core.remote", name, local=local)
    else:
        _unset_default(tether_dir, (True,) if local else (False, True))
    _stage(tether_dir)


def _unset_default(tether_dir: Path, files: tuple[bool, ...]) -> None:
    for local in files:
        path, data = _edit(tether_dir, local)
        if path.exists() and data.get("core", {}).pop("remote", None) is not None:
            yamlio.dump_file(path, data)
