"""Fixtures for the operator CLI's tests: the unit tests' mocked account (tables with their indexes), with files
processed by the real handler, and the CLI's environment pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.support import World, fake_aws_env, mocked_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    fake_aws_env(monkeypatch)
    with mocked_world(capsys) as mocked:
        yield mocked
