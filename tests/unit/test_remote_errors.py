"""How a failed remote call is classified: permanent (a RemoteError with a
hint) or transient (retried), worded for the user."""

from __future__ import annotations

import errno

import pytest
from obstore.exceptions import GenericError, PermissionDeniedError

from tether.errors import RemoteError, TransientRemoteError
from tether.storage.remotes import RemoteSpec, classify, is_bucket_missing

S3 = RemoteSpec("origin", "s3://bucket/prefix", {"access_key_id": "AKIA"})


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/no-credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/no-config")


def test_a_remote_error_passes_through() -> None:
    err = RemoteError("remote 'origin': already worded", "a hint")
    assert classify(S3, err) is err


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        GenericError("Generic S3 error: QuotaExceeded: the bucket is over its quota"),
    ],
    ids=["enospc", "edquot", "s3-quota"],
)
def test_a_full_remote_is_permanent_and_says_so(exc: BaseException) -> None:
    err = classify(S3, exc)
    assert type(err) is RemoteError
    assert "is full" in err.message
    assert "free space" in (err.hint or "")


def test_no_such_bucket_is_permanent_and_names_the_fix() -> None:
    exc = FileNotFoundError("The specified bucket does not exist")
    assert is_bucket_missing(exc)
    err = classify(S3, exc)
    assert type(err) is RemoteError
    assert err.message == "remote 'origin' (s3://bucket/prefix): no such bucket"
    assert "tether remote modify origin url" in (err.hint or "")


@pytest.mark.usefixtures("no_aws_credentials")
def test_access_denied_without_any_credentials_says_none_were_found() -> None:
    spec = RemoteSpec("origin", "s3://bucket", {})
    for exc in (PermissionError("Access Denied"), PermissionDeniedError("403 Forbidden")):
        err = classify(spec, exc)
        assert type(err) is RemoteError
        assert "no credentials found" in err.message
        assert "access_key_id" in (err.hint or "")


def test_a_bad_signature_is_wrong_credentials() -> None:
    err = classify(S3, PermissionError("SignatureDoesNotMatch: the signature we calculated"))
    assert type(err) is RemoteError
    assert "wrong credentials" in err.message
    obstore_err = classify(S3, PermissionDeniedError("InvalidAccessKeyId"))
    assert obstore_err.message.endswith(": wrong credentials")


def test_access_denied_with_credentials_may_be_either_cause() -> None:
    err = classify(S3, PermissionError("Access Denied"))
    assert "wrong credentials or no permission" in err.message
    generic = classify(S3, GenericError("Generic S3 error: 403 Forbidden: AccessDenied"))
    assert "wrong credentials or no permission" in generic.message


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        TimeoutError(),
        GenericError("Generic S3 error: Error performing request - error sending request"),
        GenericError("Generic S3 error: Server returned non-2xx status code: 503"),
    ],
    ids=["refused", "timeout", "obstore-connect", "obstore-5xx"],
)
def test_an_unreachable_endpoint_is_transient(exc: BaseException) -> None:
    err = classify(S3, exc)
    assert type(err) is TransientRemoteError
    assert "endpoint unreachable" in err.message


def test_other_os_errors_are_transient_and_anything_else_permanent() -> None:
    assert type(classify(S3, OSError("stream reset"))) is TransientRemoteError
    err = classify(S3, ValueError("bad header"))
    assert type(err) is RemoteError
    assert err.message == "remote 'origin' (s3://bucket/prefix): ValueError: bad header"
