"""Fixtures for the unit tests: a fresh mocked account per test (see support.py for the world they build)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from .support import BUCKET, REGION, SESSION, World, create_tables


@pytest.fixture
def unit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; no endpoint override, so mock_aws intercepts every call."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def world(unit_env: None, capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    """A versioned bucket and both tables in a fresh mocked account."""
    with mock_aws():
        s3 = SESSION.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = SESSION.client("dynamodb", region_name=REGION)
        create_tables(dynamodb)
        yield World(s3, dynamodb, capsys)
