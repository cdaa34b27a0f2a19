"""Fixtures for the unit tests: a fresh mocked account per test (see support.py for the world they build)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import World, fake_aws_env, mocked_world


@pytest.fixture
def unit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; no endpoint override, so mock_aws intercepts every call."""
    fake_aws_env(monkeypatch)


@pytest.fixture
def world(unit_env: None, capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    """A versioned bucket and both tables in a fresh mocked account."""
    with mocked_world(capsys) as mocked:
        yield mocked
