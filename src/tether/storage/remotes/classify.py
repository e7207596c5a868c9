"""Classifying a failed remote call: permanent failures (no such bucket, bad
credentials, no permission, a full remote) raise a :class:`RemoteError`
naming the remote and what to fix; transient ones (an unreachable endpoint,
a dropped connection) are retried with backoff by the transfer engine."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from tether.errors import RemoteError, TransientRemoteError
from tether.storage.remotes.spec import RemoteSpec


def is_bucket_missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "specified bucket does not exist" in text or "nosuchbucket" in text


def first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:157] + "..."


def _has_credentials(spec: RemoteSpec) -> bool:
    """Whether any source of S3 credentials is configured that we can see (the
    remote's options, the environment, the AWS files); a machine role cannot be
    seen, so this only decides how an access denial is worded."""
    if spec.protocol != "s3":
        return True
    if any(spec.options.get(k) for k in ("access_key_id", "profile", "session_token")):
        return True
    env = (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    )
    if any(os.environ.get(k) for k in env):
        return True
    files = (
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )
    return any(Path(f).expanduser().is_file() for f in files)


def remote_full(spec: RemoteSpec) -> RemoteError:
    """The remote has no room left: nothing a local ``tether gc`` can help with."""
    return RemoteError(
        f"remote {spec.name!r} ({spec.url}) is full: no space left for the upload",
        "free space on the remote's storage (or raise its quota), then push again: "
        "only what is missing moves",
    )


_FULL = ("no space left", "storagefull", "quotaexceeded", "quota exceeded", "insufficient storage")


# How each client says a request ran out of time: obstore (reqwest), botocore
# (s3fs), asyncio and the socket module.
_TIMED_OUT = ("kind: timeout", "timedout", "timeout on endpoint", "timed out")
_CONNECTING = ("connect timeout", "connecttimeout", "kind: connect", "connecterror", "tcp connect")


def _timed_out(spec: RemoteSpec, exc: BaseException) -> TransientRemoteError | None:
    """A request that ran out of its connect or read time, named by the limit."""
    text = f"{type(exc).__name__} {exc}".lower()
    if not isinstance(exc, TimeoutError) and not any(w in text for w in _TIMED_OUT):
        return None
    if any(w in text for w in _CONNECTING):
        option, what = "connect_timeout", "no connection"
    else:
        option, what = "read_timeout", "no answer"
    limit = spec.timeout(option)
    return TransientRemoteError(
        f"remote {spec.name!r} ({spec.url}): endpoint unreachable: {what} within {limit:g} s "
        f"({option})",
        "check the url/endpoint_url and that the server is running; if it is only slow, "
        f"raise the limit: `tether remote modify {spec.name} {option} SECONDS`",
    )


def classify(spec: RemoteSpec, exc: BaseException) -> RemoteError | TransientRemoteError:
    """A permanent :class:`RemoteError` with a hint, or a transient one to retry."""
    text = str(exc)
    if isinstance(exc, RemoteError):
        return exc
    # local writes name their own full disk (DiskFullError), so a full device here is the remote's
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return remote_full(spec)
    if not isinstance(exc, OSError) and any(w in text.lower() for w in _FULL):
        return remote_full(spec)  # an S3 service's "storage full" / quota answer
    where = f"remote {spec.name!r} ({spec.url})"
    fix_creds = (
        "check the credentials: `tether remote modify --local "
        f"{spec.name} access_key_id/secret_access_key`, AWS_* variables or profile"
    )
    kind = type(exc).__name__
    lowered = text.lower()
    denied = kind in ("PermissionDeniedError", "UnauthenticatedError") or (
        kind == "GenericError" and ("403 forbidden" in lowered or "accessdenied" in lowered)
    )  # obstore
    if (denied or isinstance(exc, PermissionError)) and not _has_credentials(spec):
        return RemoteError(
            f"{where}: access denied, and no credentials found "
            "(none in the remote's options, AWS_* variables or ~/.aws)",
            f"give them: `tether remote modify --local {spec.name} access_key_id KEY`, then "
            "the same for secret_access_key; or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if denied:
        creds = any(
            w in lowered
            for w in ("signature", "invalidaccesskeyid", "access key", "unauthenticated")
        )
        what = (
            "wrong credentials" if creds else "access denied (wrong credentials or no permission)"
        )
        return RemoteError(f"{where}: {what}", fix_creds)
    if is_bucket_missing(exc):
        return RemoteError(
            f"{where}: no such bucket",
            f"create it, or fix the url: `tether remote modify {spec.name} url s3://BUCKET/PREFIX`",
        )
    timed_out = _timed_out(spec, exc)
    if timed_out is not None:
        return timed_out
    if kind == "GenericError":
        brief = first_line(text.rsplit(" - ", maxsplit=1)[-1].split("Debug source", maxsplit=1)[0])
        if any(w in lowered for w in ("connect", "sending request", "timed out", "timeout")) or (
            re.search(r"status code: 5\d\d", lowered)
        ):
            return TransientRemoteError(
                f"{where}: endpoint unreachable ({brief})",
                "check the url/endpoint_url and that the server is running, then run it again",
            )
        return RemoteError(f"{where}: {brief}")
    if isinstance(exc, PermissionError):
        if "signature" in lowered or "access key" in lowered or "credential" in lowered:
            return RemoteError(f"{where}: wrong credentials ({text})", fix_creds)
        return RemoteError(
            f"{where}: access denied ({text}): wrong credentials or no permission", fix_creds
        )
    name = type(exc).__name__
    if isinstance(exc, ConnectionError | TimeoutError) or any(  # asyncio's is TimeoutError
        word in name for word in ("Connect", "Timeout", "Endpoint", "ServerDisconnected")
    ):
        return TransientRemoteError(
            f"{where}: endpoint unreachable ({text or name})",
            "check the url/endpoint_url and that the server is running, then run it again",
        )
    if isinstance(exc, OSError):
        return TransientRemoteError(f"{where}: {text or name}")
    return RemoteError(f"{where}: {name}: {text}")
