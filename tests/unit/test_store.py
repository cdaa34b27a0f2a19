"""The AWS adapter's edges that whole-file tests cannot reach precisely."""

from __future__ import annotations

from typing import Any

import pytest
from shipment_processor.config import Settings
from shipment_processor.store import Store

from .support import BUCKET, World, log_lines

PART = 5 * 1024 * 1024


def test_report_of_exactly_two_parts_is_completed(world: World) -> None:
    store = Store(Settings(), s3=world.s3, report_part_bytes=PART)
    writer = store.rejects_writer(BUCKET, "rejected/exact.errors.jsonl", {})
    line_bytes = len(b'{"line": 7, "reason": "r", "record": ""}\n')
    record = "x" * (1024 - line_bytes)  # every report line is exactly 1 KiB
    for _ in range(2 * PART // 1024):
        writer.add(("line", 7), "r", record)

    assert writer.close() == "rejected/exact.errors.jsonl"

    head = world.s3.head_object(Bucket=BUCKET, Key="rejected/exact.errors.jsonl")
    assert head["ContentLength"] == 2 * PART
    assert head["ETag"].strip('"').endswith("-2")


def test_an_upload_that_cannot_be_aborted_is_logged_not_raised(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    class NoAbort:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.s3, name)

        def abort_multipart_upload(self, **_: Any) -> None:
            raise ConnectionError("network gone")

    store = Store(Settings(), s3=NoAbort(), report_part_bytes=PART)
    writer = store.rejects_writer(BUCKET, "rejected/aborted.errors.jsonl", {})
    writer.add(("index", 0), "r", "x" * PART)
    capsys.readouterr()

    writer.abort()

    (line,) = log_lines(capsys.readouterr().out)
    assert line["message"] == "could not abort the rejects report upload"
    assert "network gone" in line["error"]


def test_nothing_to_report_uploads_nothing(world: World) -> None:
    writer = Store(Settings(), s3=world.s3).rejects_writer(BUCKET, "rejected/none.errors.jsonl", {})

    assert writer.close() is None
    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="rejected/").get("KeyCount", 0) == 0


def test_clients_are_created_once_per_process_and_honour_the_endpoint_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = Store(Settings())

    client = store.client("dynamodb")

    assert store.client("dynamodb") is client
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert client.meta.config.retries["mode"] == "standard"
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (5, 30)
