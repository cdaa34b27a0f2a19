"""Plan of modules/lambda on its own: the function, its least-privilege role, its logs, retries and trigger.

The non-default knobs (S3 artifact, customer managed key, suffix filters, reserved concurrency) are checked in
the root's production plan (test_plan_root), which also proves the root passes them through. Variants that only
change one input (log levels, outcome events off or with another source, suffix filter ids, an S3 package without
a version) are planned offline by the module's own `terraform test` (modules/lambda/tests), in seconds.
"""

from __future__ import annotations

from typing import Any

import pytest

from .planning import ACCOUNT_ID, REGION, Plan, Workdir

ENV = "qa7"
BUCKET = f"shipment-files-{ACCOUNT_ID}-{REGION}-{ENV}"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:shipment-processor-failures-{ENV}"
LOG_GROUP = f"/aws/lambda/shipment-processor-{ENV}"
INPUTS = {
    "environment": ENV,
    "account_id": ACCOUNT_ID,
    "region": REGION,
    "bucket_id": BUCKET,
    "bucket_arn": BUCKET_ARN,
    "metadata_table_name": f"shipment-metadata-{ENV}",
    "metadata_table_arn": f"{TABLE_ARN}shipment-metadata-{ENV}",
    "events_table_name": f"shipment-events-{ENV}",
    "events_table_arn": f"{TABLE_ARN}shipment-events-{ENV}",
}
LOCAL_PACKAGE = {"package_path": "build/shipment_processor.zip"}

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def module(workdir) -> Workdir:
    return workdir("modules/lambda")


@pytest.fixture(scope="module")
def plan(module: Workdir) -> Plan:
    return module.plan(**INPUTS, **LOCAL_PACKAGE)


def statements(plan: Plan) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in plan.policy("aws_iam_role_policy.this")["Statement"]}


def as_set(value: str | list[str]) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


# --- function ---


def test_the_function_runs_the_contract_handler_on_python_3_12_with_256_mb_and_30_s(plan: Plan) -> None:
    function = plan["aws_lambda_function.this"]

    assert function["function_name"] == f"shipment-processor-{ENV}"
    assert function["handler"] == "shipment_processor.handler.lambda_handler"
    assert function["runtime"] == "python3.12"
    assert function["memory_size"] == 256
    assert function["timeout"] == 30
    assert function["reserved_concurrent_executions"] == -1


def test_the_local_zip_is_deployed_with_its_content_hash(plan: Plan) -> None:
    function = plan["aws_lambda_function.this"]

    assert function["filename"] == "build/shipment_processor.zip"
    assert len(function["source_code_hash"]) == 44  # base64 of a SHA-256
    assert function["s3_bucket"] is None


def test_the_function_environment_is_exactly_the_handler_contract(plan: Plan) -> None:
    assert plan["aws_lambda_function.this"]["environment"][0]["variables"] == {
        "METADATA_TABLE": f"shipment-metadata-{ENV}",
        "EVENTS_TABLE": f"shipment-events-{ENV}",
        "ENVIRONMENT": ENV,
        "METRICS_NAMESPACE": f"ShipmentProcessing/{ENV}",
        "INCOMING_PREFIX": "incoming/",
        "REJECTS_PREFIX": "rejected/",
        "MAX_OBJECT_BYTES": "536870912",
        "MAX_DECOMPRESSED_BYTES": "2147483648",
        "MAX_RECORD_BYTES": "65536",
        "MAX_RECORDS": "10000000",
        "CLAIM_TIMEOUT_S": "900",
        "WRITE_CONCURRENCY": "4",
        "MAX_INVOCATIONS": "500",
        "CHECKPOINT_MARGIN_MS": "5000",
        "LOG_LEVEL": "INFO",
        "OUTCOME_EVENTS": "on",
        "OUTCOME_EVENT_SOURCE": f"shipment-processing.{ENV}",
        "EVENTS_WRITE_PATH": "direct",
        "FUNCTION_TIMEOUT_S": "30",
    }


def test_the_outcome_event_source_is_output_for_eventbridge_rules(plan: Plan) -> None:
    assert plan.outputs["outcome_event_source"] == f"shipment-processing.{ENV}"


def test_the_metrics_namespace_is_output_for_the_monitoring_module(plan: Plan) -> None:
    assert plan.outputs["metrics_namespace"] == f"ShipmentProcessing/{ENV}"


def test_the_function_logs_json_to_its_own_log_group_kept_7_days(plan: Plan) -> None:
    logging = plan["aws_lambda_function.this"]["logging_config"][0]
    group = plan["aws_cloudwatch_log_group.this"]

    assert logging["log_format"] == "JSON"
    assert logging["log_group"] == LOG_GROUP
    assert (group["name"], group["retention_in_days"]) == (LOG_GROUP, 7)


# --- resumable processing ---


def test_lambda_may_run_the_functions_own_chain_of_invocations(plan: Plan) -> None:
    # Recursive loop detection would stop the chain after ~16 invocations; MAX_INVOCATIONS bounds it instead.
    recursion = plan["aws_lambda_function_recursion_config.this"]

    assert recursion == {"function_name": f"shipment-processor-{ENV}", "recursive_loop": "Allow"}


# --- role ---


def test_only_lambda_may_assume_the_role(plan: Plan) -> None:
    (statement,) = plan.policy("aws_iam_role.this", "assume_role_policy")["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_the_role_is_named_with_the_region_because_iam_is_global(plan: Plan) -> None:
    assert plan["aws_iam_role.this"]["name"] == f"shipment-processor-{ENV}-{REGION}"


def test_the_role_grants_exactly_what_the_handler_does_on_exactly_its_resources(plan: Plan) -> None:
    granted = {sid: (as_set(s["Action"]), as_set(s["Resource"])) for sid, s in statements(plan).items()}

    assert granted == {
        "ReadIncomingObjects": ({"s3:GetObject", "s3:GetObjectVersion"}, {f"{BUCKET_ARN}/incoming/*"}),
        "ListIncomingKeys": ({"s3:ListBucket"}, {BUCKET_ARN}),
        "WriteRejectsReports": ({"s3:PutObject", "s3:AbortMultipartUpload"}, {f"{BUCKET_ARN}/rejected/*"}),
        "RecogniseFinishedRejectsReports": ({"s3:GetObject"}, {f"{BUCKET_ARN}/rejected/*"}),
        "CarryPartialReports": ({"s3:GetObject", "s3:DeleteObject"}, {f"{BUCKET_ARN}/rejected/.partial/*"}),
        "ClaimAndRecordFiles": (
            {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
            {INPUTS["metadata_table_arn"]},
        ),
        "ContinueInNewInvocation": (
            {"lambda:InvokeFunction"},
            {f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:shipment-processor-{ENV}"},
        ),
        "PublishOutcomeEvents": ({"events:PutEvents"}, {f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default"}),
        "StoreShipmentEvents": ({"dynamodb:BatchWriteItem"}, {INPUTS["events_table_arn"]}),
        "WriteOwnLogs": (
            {"logs:CreateLogStream", "logs:PutLogEvents"},
            {f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{LOG_GROUP}:*"},
        ),
        "SendToFailureQueue": ({"sqs:SendMessage"}, {QUEUE_ARN}),
    }
    assert {s["Effect"] for s in statements(plan).values()} == {"Allow"}


def test_listing_is_limited_to_keys_below_incoming(plan: Plan) -> None:
    # Without ListBucket a missing object or version answers 403, and the handler's "no longer exists" path is dead.
    assert statements(plan)["ListIncomingKeys"]["Condition"] == {"StringLike": {"s3:prefix": "incoming/*"}}


def test_outcome_events_may_only_carry_this_environments_source(plan: Plan) -> None:
    assert statements(plan)["PublishOutcomeEvents"]["Condition"] == {
        "StringEquals": {"events:source": f"shipment-processing.{ENV}"}
    }


def test_no_statement_uses_a_wildcard_action_or_resource(plan: Plan) -> None:
    for statement in statements(plan).values():
        assert not any("*" in action for action in as_set(statement["Action"])), statement
        assert "*" not in as_set(statement["Resource"]), statement


def test_without_a_kms_key_the_role_gets_no_kms_permission(plan: Plan) -> None:
    assert not [s for s in statements(plan).values() if any(a.startswith("kms:") for a in as_set(s["Action"]))]


# --- retries and the failure queue ---


def test_failed_async_events_are_retried_twice_then_sent_to_the_failure_queue(plan: Plan) -> None:
    invoke = plan["aws_lambda_function_event_invoke_config.this"]

    assert invoke["function_name"] == f"shipment-processor-{ENV}"
    assert invoke["maximum_retry_attempts"] == 2
    assert invoke["maximum_event_age_in_seconds"] == 3600
    assert invoke["destination_config"][0]["on_failure"] == [{"destination": QUEUE_ARN}]
    assert invoke["destination_config"][0]["on_success"] == []


def test_the_function_has_no_dead_letter_config_moto_would_ignore(plan: Plan) -> None:
    assert plan["aws_lambda_function.this"]["dead_letter_config"] == []


def test_the_failure_queue_is_encrypted_and_keeps_messages_14_days(plan: Plan) -> None:
    queue = plan["aws_sqs_queue.failures"]

    assert queue["name"] == f"shipment-processor-failures-{ENV}"
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["message_retention_seconds"] == 14 * 24 * 3600


# --- trigger ---


def test_only_s3_from_the_shipment_bucket_and_account_may_invoke_the_function(plan: Plan) -> None:
    permission = plan["aws_lambda_permission.s3"]

    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["source_arn"] == BUCKET_ARN
    assert permission["source_account"] == ACCOUNT_ID


def test_by_default_every_new_object_under_incoming_triggers_the_function(plan: Plan) -> None:
    notification = plan["aws_s3_bucket_notification.this"]

    assert notification["bucket"] == BUCKET
    assert [
        (f["id"], f["events"], f["filter_prefix"], f["filter_suffix"]) for f in notification["lambda_function"]
    ] == [(f"shipment-processor-{ENV}", ["s3:ObjectCreated:*"], "incoming/", None)]


def test_rejects_reports_can_never_trigger_the_function(plan: Plan) -> None:
    rejects_prefix = plan["aws_lambda_function.this"]["environment"][0]["variables"]["REJECTS_PREFIX"]
    for notification_filter in plan["aws_s3_bucket_notification.this"]["lambda_function"]:
        assert notification_filter["filter_prefix"]
        assert not rejects_prefix.startswith(notification_filter["filter_prefix"])


# --- refused inputs ---

# One refused plan carries every bad knob: terraform reports each failed validation.
BAD_KNOBS = {
    "runtime": "python3.11",
    "memory_mb": 64,
    "timeout_s": 901,
    "log_retention_days": 10,
    "reserved_concurrency": -1,
    "log_level": "TRACE",
    "notification_suffixes": [".gz", ".csv.gz"],
}


@pytest.mark.parametrize(
    "message",
    [
        "runtime must be python3.12 or python3.13.",
        "memory_mb must be a whole number between 128 and 10240.",
        "timeout_s must be a whole number between 1 and 900.",
        "log_retention_days must be one of the values CloudWatch Logs accepts",
        "reserved_concurrency must be null or a whole number >= 0",
        "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        "No notification suffix may end with another one (S3 rejects overlapping filters",
    ],
    ids=["runtime", "memory", "timeout", "retention", "reserved-concurrency", "log-level", "overlapping-suffixes"],
)
def test_a_bad_setting_is_refused_with_a_clear_message(module: Workdir, message: str) -> None:
    assert message in module.plan_error(**INPUTS, **LOCAL_PACKAGE, **BAD_KNOBS)


# Preconditions of the plan itself: a package given twice (and missing), prefixes that would loop, a key of
# another region.
BAD_WIRING = {
    "package_path": "build/missing.zip",
    "package_s3": {"bucket": "artifacts", "key": "shipment_processor.zip", "version": "v1"},
    "rejects_prefix": "incoming/",
    "kms_key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/0f6a1a3e-1111-2222-3333-444455556666",
}


@pytest.mark.parametrize(
    "message",
    [
        "Set exactly one of package_path (local zip) and package_s3 (S3 artifact).",
        "Deployment package build/missing.zip not found: run `make package` first (or set package_s3).",
        "rejects_prefix and incoming_prefix overlap: the function would be triggered by its own rejects reports.",
        f"kms_key_arn is in us-east-1, but the function is deployed to {REGION}",
    ],
    ids=["two-packages", "missing-zip", "self-triggering-prefixes", "kms-key-of-another-region"],
)
def test_wiring_that_cannot_work_fails_the_plan(module: Workdir, message: str) -> None:
    assert message in module.plan_error(**INPUTS, **BAD_WIRING)
