"""The Lambda edge: S3 notifications in, one processed file per object, failures surfaced to Lambda."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from shipment_processor import handler

from tools.ops import smoke

from .support import BUCKET, LAMBDA_SRC, Context, World, as_csv, as_ndjson, log_lines, records


@pytest.mark.parametrize(
    "key",
    [
        "incoming/acme/daily report 2026-03-01.csv",
        "incoming/acme/rapport été/livraisons_ü.csv",
        "incoming/acme/a+b=c&d.csv",
        "incoming/日本郵便/出荷.csv",
    ],
    ids=["spaces", "accents", "reserved-characters", "cjk"],
)
def test_url_encoded_keys_are_decoded_before_use(world: World, key: str) -> None:
    result = world.process(key, as_csv(records(2)))

    assert result.status == "SUCCESS"
    assert result.item["filename"] == key
    assert {event["source_file"] for event in result.events} == {key}


def test_notification_key_arrives_encoded_like_s3_sends_it(world: World) -> None:
    event = world.event(("incoming/acme/a b+ü.csv", {}))

    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/acme/a+b%2B%C3%BC.csv"


def test_shipper_is_the_folder_after_the_incoming_prefix(world: World) -> None:
    nested = world.process("incoming/acme-logistics/2026/03/file.csv", as_csv(records(1)))
    top_level = world.process("incoming/loose.csv", as_csv(records(1, prefix="TOP")))

    assert nested.item["shipper"] == "acme-logistics"
    assert top_level.item["shipper"] == "unknown"


def test_every_record_of_an_event_is_processed(world: World) -> None:
    keys = ["incoming/a/one.csv", "incoming/b/two.jsonl"]
    metas = [world.put(keys[0], as_csv(records(2, "ONE"))), world.put(keys[1], as_ndjson(records(3, "TWO")))]

    response = world.invoke(world.event(*zip(keys, metas, strict=True)))

    assert [(f["key"], f["status"], f["records_accepted"]) for f in response["files"]] == [
        (keys[0], "SUCCESS", 2),
        (keys[1], "SUCCESS", 3),
    ]
    assert [world.observe(key).item["records_total"] for key in keys] == [2, 3]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("rejected/incoming/acme/x.csv.errors.jsonl", "rejects report"),
        ("archive/acme/x.csv", "outside the incoming/ prefix"),
        ("incoming/acme/", "folder placeholder"),
    ],
)
def test_objects_that_are_not_shipment_files_are_ignored_and_logged(
    world: World, capsys: pytest.CaptureFixture[str], key: str, why: str
) -> None:
    response = world.invoke(world.event((key, {"size": 0})))

    assert response == {"files": []}
    assert world.metadata(key) == []
    assert any(why in line["message"] for line in log_lines(capsys.readouterr().out))


def test_non_object_created_events_are_ignored(world: World) -> None:
    event = world.event(("incoming/acme/x.csv", {}))
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    assert world.invoke(event) == {"files": []}
    assert world.metadata("incoming/acme/x.csv") == []


def test_records_from_other_sources_are_ignored(world: World) -> None:
    event = world.event(("incoming/acme/x.csv", {}))
    event["Records"][0]["eventSource"] = "aws:sqs"

    assert world.invoke(event) == {"files": []}


def test_s3_test_event_is_ignored(world: World) -> None:
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-03-01T12:00:00Z", "Bucket": BUCKET}

    assert world.invoke(event) == {"files": []}


def test_a_probe_answers_what_the_runtime_provides_and_touches_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    answer = world.invoke(smoke.PROBE)

    facts = answer["runtime"]
    assert facts["python"] == ".".join(map(str, sys.version_info[:3]))
    assert facts["architecture"] == os.uname().machine
    assert facts["gzip_seek_points"].startswith("zlib 1.")
    assert facts["time_zones"] == "the system's tz database"
    assert world.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert [line["message"] for line in log_lines(capsys.readouterr().out)] == [
        "probe answered: what this runtime provides"
    ]


def test_a_probe_is_only_a_test_event_so_nothing_else_is_dropped_for_it(world: World) -> None:
    """A probe member on any other event is not a probe: a continuation or an S3 notification still runs."""
    meta = world.put("incoming/acme/a.csv", as_csv(records(2)))
    event = {**world.event(("incoming/acme/a.csv", meta)), "probe": {}}

    assert "files" in world.invoke(event) and world.observe("incoming/acme/a.csv").status == "SUCCESS"
    with pytest.raises(handler.ProcessingError, match="no Records list"):
        world.invoke({"probe": {}})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event is not an S3 notification: list"),
        ({"detail": {}}, "event is not an S3 notification: no Records list"),
    ],
)
def test_an_event_that_is_not_an_s3_notification_fails_the_invocation(world: World, event: Any, message: str) -> None:
    with pytest.raises(handler.ProcessingError, match=message):
        world.invoke(event)


def test_a_malformed_record_fails_the_invocation_after_the_good_records_are_processed(world: World) -> None:
    meta = world.put("incoming/acme/good.csv", as_csv(records(2)))
    event = world.event(("incoming/acme/good.csv", meta))
    event["Records"].append({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}})

    with pytest.raises(handler.ProcessingError, match="record 1 is not a usable S3 notification"):
        world.invoke(event)

    assert world.observe("incoming/acme/good.csv").status == "SUCCESS"


def test_event_fields_are_recorded_on_the_metadata_item(world: World) -> None:
    result = world.process("incoming/acme/meta.csv", as_csv(records(3)))

    item = result.item
    head = world.s3.head_object(Bucket=BUCKET, Key="incoming/acme/meta.csv")
    assert item["upload_timestamp"] == "2026-03-01T11:59:58.123Z"
    assert item["version_id"] == head["VersionId"]
    assert item["etag"] == head["ETag"].strip('"')
    assert item["file_size"] == head["ContentLength"]
    assert item["environment"] == "dev"
    assert item["bucket"] == BUCKET
    assert item["request_id"] == "req-1"
    assert isinstance(item["processing_duration"], int)


def test_object_deleted_before_processing_fails_the_file_with_the_reason(world: World) -> None:
    meta = world.put("incoming/acme/gone.csv", as_csv(records(2)))
    world.s3.delete_object(Bucket=BUCKET, Key="incoming/acme/gone.csv", VersionId=meta["versionId"])

    response = world.invoke(world.event(("incoming/acme/gone.csv", meta)))

    result = world.observe("incoming/acme/gone.csv")
    assert response["files"][0]["status"] == "FAILED"
    assert result.item["error_message"].startswith("object no longer exists (deleted before it could be processed)")
    assert result.item["file_size"] == meta["size"]


def test_lambda_handler_reads_its_settings_from_the_environment_at_cold_start(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "qa")
    monkeypatch.setenv("METADATA_TABLE", "shipment-metadata-dev")
    handler.runtime.cache_clear()
    try:
        meta = world.put("incoming/acme/cold.csv", as_csv(records(1)))
        response = handler.lambda_handler(world.event(("incoming/acme/cold.csv", meta)), Context())
        monkeypatch.setenv("ENVIRONMENT", "changed-later")
        assert handler.runtime().settings.environment == "qa", "settings are read once per cold start"
    finally:
        handler.runtime.cache_clear()

    assert response["files"][0]["status"] == "SUCCESS"
    assert world.observe("incoming/acme/cold.csv").item["environment"] == "qa"


def test_invalid_configuration_fails_the_cold_start_with_a_clear_message() -> None:
    env = {**os.environ, "PYTHONPATH": str(LAMBDA_SRC), "MAX_RECORDS": "lots", "LOG_LEVEL": "chatty"}

    init = subprocess.run(
        [sys.executable, "-c", "import shipment_processor.handler"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert init.returncode != 0
    assert "ConfigError: invalid configuration: " in init.stderr
    assert "MAX_RECORDS='lots': must be a whole number between 1 and 1000000000" in init.stderr
    assert "LOG_LEVEL='chatty': must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in init.stderr


def test_on_lambda_the_clients_are_made_in_the_init_phase(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "shipment-processor-dev")
    handler.runtime.cache_clear()
    try:
        store = handler.runtime().processor.store
        assert set(store._clients) >= {"s3", "dynamodb", "events", "lambda"}
    finally:
        handler.runtime.cache_clear()
