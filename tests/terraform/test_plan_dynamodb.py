"""Plan of modules/dynamodb on its own: the file metadata and shipment events tables.

Deletion protection on and a customer managed key are checked in the root's production plan (test_plan_root).
"""

from __future__ import annotations

import pytest

from .planning import ACCOUNT_ID, REGION, Plan, Workdir

ENV = "qa7"
BASE = {"environment": ENV, "account_id": ACCOUNT_ID, "region": REGION}
METADATA = 'aws_dynamodb_table.this["metadata"]'
EVENTS = 'aws_dynamodb_table.this["events"]'

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def module(workdir) -> Workdir:
    return workdir("modules/dynamodb")


@pytest.fixture(scope="module")
def plan(module: Workdir) -> Plan:
    return module.plan(**BASE)


def test_the_metadata_table_keeps_the_seed_keys(plan: Plan) -> None:
    table = plan[METADATA]

    assert table["name"] == f"shipment-metadata-{ENV}"
    assert (table["hash_key"], table["range_key"]) == ("filename", "upload_timestamp")
    assert sorted((a["name"], a["type"]) for a in table["attribute"]) == [
        ("filename", "S"),
        ("problem_status", "S"),
        ("shipper", "S"),
        ("upload_day", "S"),
        ("upload_timestamp", "S"),
    ]


def test_files_are_found_by_day_shipper_or_problem_without_a_scan(plan: Plan) -> None:
    indexes = {i["name"]: i for i in plan[METADATA]["global_secondary_index"]}

    assert {name: (i["hash_key"], i["range_key"]) for name, i in indexes.items()} == {
        "by-day": ("upload_day", "upload_timestamp"),
        "by-shipper": ("shipper", "upload_timestamp"),
        "by-problem": ("problem_status", "upload_timestamp"),
    }
    assert {i["projection_type"] for i in indexes.values()} == {"ALL"}
    assert plan.outputs["metadata_table_index_names"] == ["by-day", "by-problem", "by-shipper"]


def test_the_events_table_is_keyed_by_shipment_and_event(plan: Plan) -> None:
    table = plan[EVENTS]

    assert table["name"] == f"shipment-events-{ENV}"
    assert (table["hash_key"], table["range_key"]) == ("shipment_id", "event_key")
    assert sorted((a["name"], a["type"]) for a in table["attribute"]) == [("event_key", "S"), ("shipment_id", "S")]


def test_there_are_exactly_the_two_tables_and_the_events_table_has_no_index(plan: Plan) -> None:
    tables = plan.of_type("aws_dynamodb_table")

    assert sorted(tables) == sorted([METADATA, EVENTS])
    assert plan[EVENTS]["global_secondary_index"] == []
    for table in tables.values():
        assert table["local_secondary_index"] == []


def test_both_tables_bill_on_demand_with_point_in_time_recovery(plan: Plan) -> None:
    for table in plan.of_type("aws_dynamodb_table").values():
        assert table["billing_mode"] == "PAY_PER_REQUEST"
        assert table["point_in_time_recovery"][0]["enabled"] is True


def test_both_tables_are_encrypted_with_the_aws_managed_key_by_default(plan: Plan) -> None:
    for table in plan.of_type("aws_dynamodb_table").values():
        sse = table["server_side_encryption"][0]
        assert sse["enabled"] is True
        assert not sse.get("kms_key_arn")


def test_deletion_protection_is_off_by_default_so_dev_can_be_destroyed(plan: Plan) -> None:
    for table in plan.of_type("aws_dynamodb_table").values():
        assert table["deletion_protection_enabled"] is False


def test_outputs_give_names_and_plan_time_arns(plan: Plan) -> None:
    prefix = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/"

    assert plan.outputs == {
        "metadata_table_name": f"shipment-metadata-{ENV}",
        "metadata_table_arn": f"{prefix}shipment-metadata-{ENV}",
        "events_table_name": f"shipment-events-{ENV}",
        "events_table_arn": f"{prefix}shipment-events-{ENV}",
        "metadata_table_index_names": ["by-day", "by-problem", "by-shipper"],
    }


@pytest.mark.parametrize(
    "message",
    [
        "environment must be 1-20 characters of lowercase letters, digits and hyphens.",
        "account_id must be a 12-digit AWS account id.",
        "region must be an AWS region name such as eu-west-1.",
        "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>).",
    ],
    ids=["environment", "account", "region", "kms-key"],
)
def test_a_bad_input_is_refused_with_a_clear_message(module: Workdir, message: str) -> None:
    bad = {"environment": "Bad_Name", "account_id": "12345", "region": "Europe", "kms_key_arn": "alias/my-key"}
    assert message in module.plan_error(**bad)


def test_the_events_table_can_cap_its_on_demand_writes_and_reads(module: Workdir) -> None:
    capped = module.plan(**BASE, events_max_write_request_units=4000, events_max_read_request_units=500)

    events, metadata = capped.resources[EVENTS], capped.resources[METADATA]
    assert events["billing_mode"] == "PAY_PER_REQUEST"
    assert events["on_demand_throughput"] == [{"max_write_request_units": 4000, "max_read_request_units": 500}]
    assert metadata["on_demand_throughput"] in ([], [{"max_write_request_units": None, "max_read_request_units": None}])
    assert capped.of_type("aws_appautoscaling_target") == {}


def test_a_provisioned_events_table_is_auto_scaled_between_its_floor_and_ceiling(module: Workdir) -> None:
    provisioned = module.plan(
        **BASE,
        events_billing_mode="PROVISIONED",
        events_write_capacity={"min": 200, "max": 8000, "target_utilization": 60},
        events_read_capacity={"min": 2, "max": 20},
    )

    events = provisioned.resources[EVENTS]
    assert (events["billing_mode"], events["write_capacity"], events["read_capacity"]) == ("PROVISIONED", 200, 2)
    assert provisioned.resources[METADATA]["billing_mode"] == "PAY_PER_REQUEST"
    targets = {
        target["scalable_dimension"]: (target["resource_id"], target["min_capacity"], target["max_capacity"])
        for target in provisioned.of_type("aws_appautoscaling_target").values()
    }
    assert targets == {
        "dynamodb:table:WriteCapacityUnits": (f"table/shipment-events-{ENV}", 200, 8000),
        "dynamodb:table:ReadCapacityUnits": (f"table/shipment-events-{ENV}", 2, 20),
    }
    policies = {
        policy["scalable_dimension"]: (
            policy["policy_type"],
            policy["target_tracking_scaling_policy_configuration"][0]["target_value"],
            policy["target_tracking_scaling_policy_configuration"][0]["predefined_metric_specification"][0][
                "predefined_metric_type"
            ],
        )
        for policy in provisioned.of_type("aws_appautoscaling_policy").values()
    }
    assert policies == {
        "dynamodb:table:WriteCapacityUnits": ("TargetTrackingScaling", 60, "DynamoDBWriteCapacityUtilization"),
        "dynamodb:table:ReadCapacityUnits": ("TargetTrackingScaling", 70, "DynamoDBReadCapacityUtilization"),
    }


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"events_billing_mode": "PROVISIONED"}, "events_write_capacity is required with events_billing_mode"),
        (
            {"events_billing_mode": "PROVISIONED", "events_write_capacity": {"min": 1, "max": 10},
             "events_max_write_request_units": 50},
            "events_max_write_request_units applies to on-demand tables only",
        ),
    ],
    ids=["provisioned-without-capacity", "cap-on-provisioned"],
)  # fmt: skip
def test_capacity_settings_that_cannot_apply_are_refused_with_a_clear_message(
    module: Workdir, inputs: dict, message: str
) -> None:
    assert message in module.plan_error(**BASE, **inputs)
