"""Fixtures for the operator CLI's tests: the unit tests' mocked account (tables with their indexes), with files
processed by the real handler, and the CLI's environment pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.support import BUCKET, REGION, World, fake_aws_env, mocked_world
from tools.ops import cli
from tools.ops.environment import Environment


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    fake_aws_env(monkeypatch)
    with mocked_world(capsys) as mocked:
        yield mocked


@pytest.fixture
def outputs() -> dict[str, Any]:
    """The root module's outputs for the mocked account's deployment (a test module may add to them)."""
    return {
        "bucket_name": BUCKET,
        "metadata_table_name": "shipment-metadata-dev",
        "events_table_name": "shipment-events-dev",
        "function_name": "shipment-processor-dev",
        "log_group_name": "/aws/lambda/shipment-processor-dev",
        "failure_queue_url": None,
        "failure_rate_alarm_name": "shipment-file-failure-rate-dev",
    }


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch, outputs: dict[str, Any], lambda_client: Any) -> Environment:
    """The environment the CLI's ``--env dev`` resolves to: the mocked account, with the test module's
    ``lambda_client`` fixture as its Lambda (moto would need Docker to run the function)."""
    environment = Environment.from_outputs(outputs, region=REGION)
    environment._clients["lambda"] = lambda_client
    monkeypatch.setattr(cli, "resolve", lambda **_: environment)
    return environment
