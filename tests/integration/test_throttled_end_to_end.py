"""End to end under DynamoDB's capacity: the real root on the local AWS, whose capacity model throttles writes as
DynamoDB does, with the events table held to 1,000 WRU/s (its ``OnDemandThroughput`` maximum).

Two files uploaded at once must both end exact, within 1.3 times the floor the table sets (records / WRU per
second), each over more than one invocation, with the table throttling, no invocation timed out, no Lambda retry,
and nothing in the failure queue. Two files of 20,000 records: a 40 s floor, each file about 40 s at half the
table, so two invocations each (one writes for at most 27.5 s of the 30 s timeout): about 45 s. Files of 60,000
records (a 120 s floor, five or six invocations each) cost three times the writes through moto and about 155 s.
"""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

RECORDS = 20_000
WRU_PER_S = 1_000


def _csv(prefix: str, count: int) -> bytes:
    lines = ["shipment_id,status,timestamp,location"]
    for n in range(count):
        stamp = f"2025-06-02T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        lines.append(f"{prefix}-{n},IN_TRANSIT,{stamp},Dock {n % 9}")
    return ("\n".join(lines) + "\n").encode()


def _capacity(stack: Stack) -> dict[str, Any]:
    with urllib.request.urlopen(f"{stack.deployment.endpoint}/_emulator/dynamodb-capacity") as response:
        return dict(json.loads(response.read()))


def _stored(stack: Stack, shipment_id: str) -> list[dict[str, Any]]:
    response = stack.client("dynamodb").query(
        TableName=stack.outputs["events_table_name"],
        KeyConditionExpression="shipment_id = :s",
        ExpressionAttributeValues={":s": {"S": shipment_id}},
    )
    return list(response["Items"])


def test_two_large_files_at_once_end_exact_at_the_rate_a_throttled_table_allows(stack: Stack) -> None:
    table = stack.outputs["events_table_name"]
    dynamodb = stack.client("dynamodb")
    dynamodb.update_table(TableName=table, OnDemandThroughput={"MaxWriteRequestUnits": WRU_PER_S})
    assert dynamodb.describe_table(TableName=table)["Table"]["OnDemandThroughput"]["MaxWriteRequestUnits"] == 1_000
    stack.drain_failure_queue()
    before = _capacity(stack)["tables"].get(table, {})
    bucket = stack.outputs["bucket_name"]
    keys = ["incoming/bulk-a/throttled day.csv", "incoming/bulk-b/throttled day.csv"]
    bodies = [_csv("THR-A", RECORDS), _csv("THR-B", RECORDS)]
    s3 = stack.client("s3")
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            uploads = [
                pool.submit(s3.put_object, Bucket=bucket, Key=key, Body=body)
                for key, body in zip(keys, bodies, strict=True)
            ]
            versions = [upload.result() for upload in uploads]
        records = {
            key: stack.journal.wait_for_object(bucket, key, version["VersionId"], timeout_s=600)
            for key, version in zip(keys, versions, strict=True)
        }
        wall = time.monotonic() - started
    finally:
        dynamodb.update_table(TableName=table, OnDemandThroughput={"MaxWriteRequestUnits": -1})

    floor = 2 * RECORDS / WRU_PER_S
    after = _capacity(stack)["tables"][table]
    print(
        f"\ntwo files of {RECORDS} records at {WRU_PER_S} WRU/s: {wall:.1f} s, floor {floor:.0f} s, "
        f"ratio {wall / floor:.2f}; invocations {[len(r) for r in records.values()]}; "
        f"throttled writes {after['throttled_items'] - before.get('throttled_items', 0)}"
    )
    for key, version in zip(keys, versions, strict=True):
        item = stack.uploader.metadata(key, version["VersionId"])
        assert item is not None and item["processing_status"] == "SUCCESS", item
        assert item["records_accepted"] == RECORDS
    # The stack's events table holds these two files only: moto computes ItemCount live (a Scan of 40,000 items is
    # quadratic in moto), and a sample of shipments shows each stored once, from its own file.
    assert dynamodb.describe_table(TableName=table)["Table"]["ItemCount"] == 2 * RECORDS
    for prefix, key in zip(("THR-A", "THR-B"), keys, strict=True):
        for n in (0, 1, 7_777, 13_333, RECORDS - 1):
            (stored,) = _stored(stack, f"{prefix}-{n}")
            assert stored["source_file"]["S"] == key
    attempts = [attempt for chain in records.values() for record in chain for attempt in record.attempts]
    assert [a for a in attempts if a.get("outcome") != "success"] == [], "no invocation timed out or failed"
    assert all(len(record.attempts) == 1 for chain in records.values() for record in chain), "no Lambda retry"
    assert all(len(chain) >= 2 for chain in records.values()), "each file continued in a new invocation"
    assert stack.drain_failure_queue() == []
    assert after["throttled_items"] > before.get("throttled_items", 0), "the table did throttle"
    assert wall <= 1.3 * floor, f"{wall:.1f} s is more than 1.3 times the floor of {floor:.0f} s"
