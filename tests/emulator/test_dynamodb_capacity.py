"""The local AWS's DynamoDB capacity model against AWS's documented numbers (docs/design.md cites each one).

Pure tests of tools.emulator.aws.dynamodb_capacity with a clock the test moves; the last ones go through the running
local AWS, as a client sees it.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.emulator.aws import clients
from tools.emulator.aws.dynamodb_capacity import (
    PROVISIONED_ERROR,
    THROTTLING_ERROR,
    CapacityModel,
    Index,
    TableShape,
    attribute_size,
    decide,
    item_size,
    write_units,
)

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/events"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def shape(**overrides: Any) -> TableShape:
    values: dict[str, Any] = {"name": "events", "arn": ARN, "partition_key": "pk", "keys": ("pk", "sk")}
    return TableShape(**{**values, **overrides})


def item(n: int, size: int = 0) -> dict[str, Any]:
    """An item of 8 + len(pk) bytes plus ``size`` bytes of padding."""
    body = {"pk": {"S": f"p{n}"}, "sk": {"S": "x"}}
    if size:
        body["pad"] = {"S": "y" * size}
    return body


def served(model: CapacityModel, table: TableShape, items: list[dict[str, Any]]) -> int:
    return sum(verdict is None for verdict in model.admit(table, list(items)))


# --- what a write costs -------------------------------------------------------------------------------------


def test_a_write_costs_one_unit_per_started_kilobyte() -> None:
    assert write_units(1) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(400 * 1024) == 400


def test_item_size_counts_names_and_values_as_dynamodb_documents() -> None:
    assert item_size({"ab": {"S": "héllo"}}) == 2 + 6  # UTF-8 bytes
    assert attribute_size({"N": "12345"}) == 3 + 1  # one byte per two significant digits, plus one
    assert attribute_size({"N": "-0.00120"}) == 1 + 1
    assert attribute_size({"BOOL": True}) == attribute_size({"NULL": True}) == 1
    assert attribute_size({"B": "AAAA"}) == 3  # base64 on the wire, raw bytes counted
    assert attribute_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert attribute_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert attribute_size({"SS": ["a", "bc"]}) == 3
    with pytest.raises(ValueError, match="unknown DynamoDB attribute type"):
        attribute_size({"X": 1})


def test_a_global_secondary_index_adds_its_own_write_for_items_that_have_its_key() -> None:
    index = Index("by-day", ("day",), projection="KEYS_ONLY")
    full = {"pk": {"S": "a"}, "sk": {"S": "b"}, "day": {"S": "d"}, "pad": {"S": "y" * 3000}}
    assert index.units(full, ("pk", "sk")) == 1, "only the keys are projected"
    assert Index("all", ("day",)).units(full, ("pk", "sk")) == 3
    assert index.units({"pk": {"S": "a"}, "sk": {"S": "b"}}, ("pk", "sk")) == 0, "a sparse index is not written"


# --- the table's limit --------------------------------------------------------------------------------------


def test_a_new_on_demand_table_serves_4000_units_a_second() -> None:
    clock = Clock()
    model = CapacityModel(clock=clock)
    table = shape()

    assert served(model, table, [item(n) for n in range(5_000)]) == 4_000
    clock.now += 0.5
    assert served(model, table, [item(n) for n in range(5_000)]) == 2_000, "refilled at 4,000 WRU/s"


def test_large_items_use_more_of_the_limit() -> None:
    model = CapacityModel(clock=Clock())

    assert served(model, shape(), [item(n, size=2_000) for n in range(3_000)]) == 2_000, "2 WRU each"


def test_an_on_demand_table_grows_to_twice_a_peak_thirty_minutes_old() -> None:
    clock = Clock()
    model = CapacityModel(clock=clock)
    table = shape()
    for _ in range(10):  # a sustained peak of 4,000 WRU/s
        assert served(model, table, [item(n) for n in range(6_000)]) == 4_000
        clock.now += 1
    clock.now += 10 * 60
    assert served(model, table, [item(n) for n in range(10_000)]) == 4_000, "not within 30 minutes"

    clock.now += 30 * 60
    served(model, table, [item(n) for n in range(10)])  # the peak settles as the clock passes it
    clock.now += 1
    served(model, table, [item(n) for n in range(10)])  # the limit is raised; its bucket fills within a second
    clock.now += 1
    assert served(model, table, [item(n) for n in range(12_000)]) == 8_000


def test_an_on_demand_table_never_exceeds_its_configured_maximum_or_the_account_quota() -> None:
    model = CapacityModel(clock=Clock())

    assert served(model, shape(max_write_request_units=1_000), [item(n) for n in range(3_000)]) == 1_000
    verdicts = model.admit(shape(max_write_request_units=1_000), [item(1)])
    assert verdicts[0] is not None
    assert (verdicts[0].code, verdicts[0].reason) == (THROTTLING_ERROR, "TableWriteMaxOnDemandThroughputExceeded")


def test_a_provisioned_table_serves_its_capacity_and_keeps_300_seconds_of_burst() -> None:
    clock = Clock()
    model = CapacityModel(clock=clock)
    table = shape(billing_mode="PROVISIONED", write_capacity_units=10)

    burst = []
    for _ in range(4):  # 300 s of 10 WCU kept: 3,000 units, at most 1,000 a second (one partition)
        burst.append(served(model, table, [item(n) for n in range(5_000)]))
        clock.now += 1
    assert burst == [1_000, 1_000, 1_000, 30]
    assert served(model, table, [item(n) for n in range(100)]) == 10
    (verdict,) = model.admit(table, [item(1)])
    assert verdict is not None
    assert (verdict.code, verdict.reason) == (PROVISIONED_ERROR, "TableWriteProvisionedThroughputExceeded")


def test_one_partition_serves_at_most_1000_units_a_second() -> None:
    model = CapacityModel(clock=Clock())
    same_key = [{"pk": {"S": "hot"}, "sk": {"S": str(n)}} for n in range(3_000)]

    verdicts = model.admit(shape(), same_key)

    assert sum(v is None for v in verdicts) == 1_000, "the table allows 4,000; the hot partition 1,000"
    throttled = next(v for v in verdicts if v is not None)
    assert (throttled.code, throttled.reason) == (THROTTLING_ERROR, "TableWriteKeyRangeThroughputExceeded")


def test_a_table_can_be_given_a_fixed_limit_or_left_unthrottled() -> None:
    model = CapacityModel(clock=Clock())
    model.configure("events", write_units_per_second=100)
    assert served(model, shape(), [item(n) for n in range(500)]) == 100

    model.configure("events", enabled=False)
    assert served(model, shape(), [item(n) for n in range(50_000)]) == 50_000
    assert served(CapacityModel(enabled=False, clock=Clock()), shape(), [item(n) for n in range(9_000)]) == 9_000


# --- what a request is answered with ------------------------------------------------------------------------


def _batch(count: int, table: str = "events") -> dict[str, Any]:
    return {"RequestItems": {table: [{"PutRequest": {"Item": item(n)}} for n in range(count)]}}


def test_a_partly_throttled_batch_writes_what_fits_and_returns_the_rest_as_unprocessed() -> None:
    model = CapacityModel(clock=Clock())
    model.configure("events", write_units_per_second=10)

    decision = decide(model, "BatchWriteItem", _batch(25), lambda name: shape())

    assert decision.error is None
    assert decision.body is not None
    assert len(json.loads(decision.body)["RequestItems"]["events"]) == 10
    assert len(decision.unprocessed["events"]) == 15


def test_a_wholly_throttled_batch_fails_with_dynamodbs_error() -> None:
    model = CapacityModel(clock=Clock())
    model.configure("events", write_units_per_second=1)
    decide(model, "BatchWriteItem", _batch(1), lambda name: shape())

    decision = decide(model, "BatchWriteItem", _batch(5), lambda name: shape())

    assert decision.error is not None and decision.error.code == THROTTLING_ERROR
    assert model.stats["events"].throttled_requests == 1


def test_a_throttled_single_write_fails_and_an_unknown_table_is_left_to_moto() -> None:
    model = CapacityModel(clock=Clock())
    model.configure("events", write_units_per_second=1)
    assert decide(model, "PutItem", {"TableName": "events", "Item": item(1)}, lambda name: shape()).error is None

    assert decide(model, "UpdateItem", {"TableName": "events"}, lambda name: shape()).error is not None
    assert decide(model, "PutItem", {"TableName": "nope", "Item": item(1)}, lambda name: None).error is None


# --- through the local AWS ----------------------------------------------------------------------------------


def test_the_local_aws_throttles_a_table_to_its_on_demand_maximum(moto_endpoint: str) -> None:
    client = clients.aws_client("dynamodb", moto_endpoint)
    strict = _retry_free_client(moto_endpoint)
    name = f"capacity-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        OnDemandThroughput={"MaxWriteRequestUnits": 1},
    )
    assert client.describe_table(TableName=name)["Table"]["OnDemandThroughput"]["MaxWriteRequestUnits"] == 1
    requests = [{"PutRequest": {"Item": {"pk": {"S": f"k{n}"}}}} for n in range(25)]

    first = strict.batch_write_item(RequestItems={name: requests})
    with pytest.raises(ClientError) as caught:
        strict.batch_write_item(RequestItems={name: requests})

    assert len(first["UnprocessedItems"][name]) == 24, "1 WRU/s: one of 25 written"
    error = caught.value.response
    assert error["Error"]["Code"] == THROTTLING_ERROR
    assert error["throttlingReasons"][0]["reason"] == "TableWriteMaxOnDemandThroughputExceeded"
    stored = client.scan(TableName=name, Select="COUNT")["Count"]
    assert stored == 25 - len(first["UnprocessedItems"][name]), "what was reported unprocessed was not written"
    with urllib.request.urlopen(f"{moto_endpoint}/_emulator/dynamodb-capacity") as response:
        counters = json.loads(response.read())["tables"][name]
    assert counters["written_items"] == stored and counters["throttled_requests"] == 1
    client.delete_table(TableName=name)


def _retry_free_client(endpoint: str) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
