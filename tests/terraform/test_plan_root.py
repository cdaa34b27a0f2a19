"""Plan of the root configuration: the modules wired together, names, tags, knobs and the root's variable checks.

Two plans shared by the tests below: environment=qa7 with every other knob at its default, and "production" with
every knob changed (customer managed key, S3 artifact, suffix filters, ...) to prove the root passes each one to
its module. The module files (test_plan_<module>.py) test each module's properties in depth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .planning import ACCOUNT_ID, REGION, Plan, Workdir

ROOT = Path(__file__).resolve().parents[2]
ENV = "qa7"
SHIPPERS = {
    "acme-freight": ["arn:aws:iam::123456789012:role/acme-uploader"],
    "globex": ["arn:aws:iam::210987654321:root"],
}
PROFILES = {
    "acme-freight": json.dumps(
        {
            "csv": {"delimiter": ";"},
            "columns": {"shipment_id": "Sendung", "timestamp": ["Datum", "Zeit"]},
            "statuses": {"map": {"zugestellt": "DELIVERED"}},
            "timestamps": {"formats": ["%d.%m.%Y %H:%M"], "zone": "Europe/Berlin"},
        }
    )
}
BUCKET = f"shipment-files-{ACCOUNT_ID}-{REGION}-{ENV}"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"

# The attribute that names each named resource type; the other types configure or connect named ones.
NAME_ATTRIBUTE = {
    "aws_s3_bucket": "bucket",
    "aws_dynamodb_table": "name",
    "aws_sqs_queue": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_iam_role": "name",
    "aws_iam_role_policy": "name",
    "aws_lambda_function": "function_name",
    "aws_sns_topic": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_cloudwatch_dashboard": "dashboard_name",
    "aws_kms_alias": "name",
}
UNNAMED_TYPES = {
    "aws_s3_object",  # the shipper profiles, config/shipper-profiles.json
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_notification",
    "aws_lambda_function_event_invoke_config",
    "aws_lambda_permission",
    "aws_lambda_function_recursion_config",
    "aws_sns_topic_subscription",
    "aws_kms_key",  # the alarm topic's own key when no kms_key_arn is given; its alias carries the name
    "aws_cloudwatch_query_definition",  # "<folder>/<question>": the folder carries the environment
}
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0f6a1a3e-1111-2222-3333-444455556666"
SUFFIXES = [".csv", ".csv.gz", ".json", ".jsonl"]
# Every knob away from its default, as a production environment might set them (no shippers, no subscribers).
PRODUCTION = {
    "environment": ENV,
    "kms_key_arn": KMS_KEY,
    "dynamodb_deletion_protection": True,
    "package_s3": {"bucket": "artifacts-bucket", "key": "shipment_processor/1.2.3.zip", "version": "v42"},
    "lambda_runtime": "python3.13",
    "lambda_memory_mb": 512,
    "lambda_timeout_s": 60,
    "log_retention_days": 30,
    "reserved_concurrency": 5,
    "log_level": "WARNING",
    "notification_suffixes": SUFFIXES,
    "max_records": 1000,
    "claim_timeout_s": 120,
    "write_concurrency": 8,
    "max_invocations": 50,
    "checkpoint_margin_ms": 10000,
    "outcome_events_enabled": False,
    "events_write_path": "sdk",
    "incoming_expiration_days": 365,
    "rejects_expiration_days": 30,
    "events_billing_mode": "PROVISIONED",
    "events_write_capacity": {"min": 500, "max": 6000},
}

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def root(workdir) -> Workdir:
    return workdir(".")


@pytest.fixture(scope="module")
def plan(root: Workdir) -> Plan:
    """Defaults everywhere but the environment, two shippers (one with a profile) and one alarm subscriber."""
    return root.plan(
        environment=ENV,
        shipper_principals=SHIPPERS,
        shipper_profiles=PROFILES,
        alarm_email_addresses=["ops@example.com"],
    )


@pytest.fixture(scope="module")
def production(root: Workdir) -> Plan:
    return root.plan(**PRODUCTION)


def test_the_root_creates_every_resource_of_the_design(plan: Plan) -> None:
    types = {address.split(".")[2] for address in plan.resources}

    assert types == set(NAME_ATTRIBUTE) | UNNAMED_TYPES


# IAM roles and CloudWatch dashboards are account-wide: the same environment in two regions needs two names.
ACCOUNT_GLOBAL_TYPES = {"aws_iam_role", "aws_cloudwatch_dashboard"}


def names(plan: Plan) -> dict[str, str]:
    return {
        address: values[NAME_ATTRIBUTE[address.split(".")[2]]]
        for address, values in plan.resources.items()
        if address.split(".")[2] in NAME_ATTRIBUTE
    }


def test_every_name_carries_the_environment_suffix(plan: Plan) -> None:
    regional = {a: n for a, n in names(plan).items() if a.split(".")[2] not in ACCOUNT_GLOBAL_TYPES}

    assert len(names(plan)) == 16  # two tables, five alarms and the topic key alias among them
    assert {address: name for address, name in regional.items() if not name.endswith(f"-{ENV}")} == {}


def test_every_account_global_name_carries_the_region_too(plan: Plan) -> None:
    global_names = {a: n for a, n in names(plan).items() if a.split(".")[2] in ACCOUNT_GLOBAL_TYPES}

    assert sorted(global_names.values()) == [
        f"shipment-processing-{ENV}-{REGION}",
        f"shipment-processor-{ENV}-{REGION}",
    ]


def test_a_name_prefix_renames_every_resource(root: Workdir) -> None:
    renamed = root.plan(environment=ENV, name_prefix="parcels")

    assert {a: n for a, n in names(renamed).items() if "parcels" not in n} == {}
    assert renamed.outputs["bucket_name"] == f"parcels-files-{ACCOUNT_ID}-{REGION}-{ENV}"


def test_resources_that_refer_to_a_name_use_the_suffixed_one(plan: Plan) -> None:
    assert plan.one("aws_s3_bucket_notification")["bucket"] == BUCKET
    assert plan.one("aws_lambda_permission")["function_name"] == f"shipment-processor-{ENV}"
    assert plan.one("aws_lambda_function_event_invoke_config")["function_name"] == f"shipment-processor-{ENV}"


def test_every_taggable_resource_carries_the_default_tags(plan: Plan) -> None:
    taggable = {address: values for address, values in plan.resources.items() if "tags_all" in values}

    assert len(taggable) >= 10
    for address, values in taggable.items():
        tags = values["tags_all"]
        assert tags["Project"] == "shipment-processing", address
        assert tags["Environment"] == ENV, address
        assert tags["ManagedBy"] == "terraform", address


def test_outputs_name_the_planned_resources(plan: Plan) -> None:
    assert plan.outputs == {
        "bucket_name": BUCKET,
        "bucket_arn": BUCKET_ARN,
        "metadata_table_name": f"shipment-metadata-{ENV}",
        "metadata_table_arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/shipment-metadata-{ENV}",
        "events_table_name": f"shipment-events-{ENV}",
        "events_table_arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/shipment-events-{ENV}",
        "function_name": f"shipment-processor-{ENV}",
        "log_group_name": f"/aws/lambda/shipment-processor-{ENV}",
        "failure_queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:shipment-processor-failures-{ENV}",
        "alarm_topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:shipment-alarms-{ENV}",
        "dashboard_name": f"shipment-processing-{ENV}-{REGION}",
        "metrics_namespace": f"ShipmentProcessing/{ENV}",
        "failure_rate_alarm_name": f"shipment-file-failure-rate-{ENV}",
        "function_errors_alarm_name": f"shipment-processor-errors-{ENV}",
        "failure_queue_alarm_name": f"shipment-processor-failed-events-{ENV}",
        "failure_queue_age_alarm_name": f"shipment-processor-failed-events-age-{ENV}",
        "destination_delivery_failures_alarm_name": f"shipment-processor-destination-failures-{ENV}",
        "outcome_event_source": f"shipment-processing.{ENV}",
        "metadata_table_index_names": ["by-day", "by-problem", "by-shipper"],
        # Known only once AWS has created them:
        "function_arn": None,
        "function_role_arn": None,
        "failure_queue_url": None,
    }


def test_the_function_is_configured_with_the_root_defaults(plan: Plan) -> None:
    function = plan.one("aws_lambda_function")

    assert function["runtime"] == "python3.12"
    assert function["memory_size"] == 256
    assert function["timeout"] == 30
    assert function["reserved_concurrent_executions"] == -1  # unreserved
    assert function["filename"] == "build/shipment_processor.zip"
    assert function["source_code_hash"]
    assert plan.one("aws_cloudwatch_log_group")["retention_in_days"] == 7


def test_the_function_environment_names_the_planned_tables_and_namespace(plan: Plan) -> None:
    variables = plan.one("aws_lambda_function")["environment"][0]["variables"]

    assert variables["METADATA_TABLE"] == plan.outputs["metadata_table_name"]
    assert variables["EVENTS_TABLE"] == plan.outputs["events_table_name"]
    assert variables["METRICS_NAMESPACE"] == plan.outputs["metrics_namespace"]
    assert variables["ENVIRONMENT"] == ENV


def test_the_role_may_touch_only_the_planned_bucket_tables_log_group_and_queue(plan: Plan) -> None:
    policy = plan.policy("module.lambda.aws_iam_role_policy.this")
    resources = set()
    for statement in policy["Statement"]:
        found = statement["Resource"]
        resources.update([found] if isinstance(found, str) else found)

    assert resources == {
        BUCKET_ARN,  # s3:ListBucket, limited to the incoming/ prefix
        f"{BUCKET_ARN}/incoming/*",
        f"{BUCKET_ARN}/rejected/*",
        f"{BUCKET_ARN}/rejected/.partial/*",
        f"{BUCKET_ARN}/config/shipper-profiles.json",
        plan.outputs["metadata_table_arn"],
        plan.outputs["events_table_arn"],
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{plan.outputs['log_group_name']}:*",
        plan.outputs["failure_queue_arn"],
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{plan.outputs['function_name']}",
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default",
    }


def test_the_bucket_notifies_the_function_only_for_new_objects_under_incoming(plan: Plan) -> None:
    notification = plan.one("aws_s3_bucket_notification")

    assert notification["bucket"] == BUCKET
    assert [(f["events"], f["filter_prefix"]) for f in notification["lambda_function"]] == [
        (["s3:ObjectCreated:*"], "incoming/")
    ]
    permission = plan.one("aws_lambda_permission")
    assert (permission["principal"], permission["source_arn"], permission["source_account"]) == (
        "s3.amazonaws.com",
        BUCKET_ARN,
        ACCOUNT_ID,
    )


def test_failed_events_go_to_the_planned_failure_queue(plan: Plan) -> None:
    invoke = plan.one("aws_lambda_function_event_invoke_config")

    assert invoke["maximum_retry_attempts"] == 2
    assert invoke["destination_config"][0]["on_failure"][0]["destination"] == plan.outputs["failure_queue_arn"]


def test_alarms_watch_what_the_lambda_module_created_and_notify_the_topic(plan: Plan) -> None:
    alarms = {a["alarm_name"]: a for a in plan.of_type("aws_cloudwatch_metric_alarm").values()}
    rate = alarms[plan.outputs["failure_rate_alarm_name"]]
    metrics = {q["id"]: q["metric"][0] for q in rate["metric_query"] if q["metric"]}

    assert {metrics["success"]["namespace"], metrics["failure"]["namespace"]} == {plan.outputs["metrics_namespace"]}
    assert metrics["dead"]["dimensions"] == {"QueueName": plan.outputs["failure_queue_arn"].rsplit(":", 1)[1]}
    assert alarms[plan.outputs["function_errors_alarm_name"]]["dimensions"] == {
        "FunctionName": plan.outputs["function_name"]
    }
    assert alarms[plan.outputs["failure_queue_alarm_name"]]["dimensions"] == {
        "QueueName": f"shipment-processor-failures-{ENV}"
    }
    for alarm in alarms.values():
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [plan.outputs["alarm_topic_arn"]]


def test_shipper_profiles_are_written_where_the_function_reads_them(plan: Plan) -> None:
    profiles = plan.one("aws_s3_object")
    variables = plan.one("aws_lambda_function")["environment"][0]["variables"]

    assert profiles["key"] == "config/shipper-profiles.json"  # in the bucket, whose id is known after apply
    assert json.loads(profiles["content"]) == {
        "format": 1,
        "profiles": {name: json.loads(text) for name, text in PROFILES.items()},
    }
    assert (variables["PROFILES_BUCKET"], variables["PROFILES_KEY"]) == (BUCKET, "config/shipper-profiles.json")


def test_each_shipper_may_upload_only_below_its_own_prefix(plan: Plan) -> None:
    policy = plan.policy("module.s3.aws_s3_bucket_policy.this")
    allowed = {
        s["Resource"]: (s["Action"], s["Principal"]["AWS"]) for s in policy["Statement"] if s["Effect"] == "Allow"
    }

    assert allowed == {
        f"{BUCKET_ARN}/incoming/acme-freight/*": ("s3:PutObject", "arn:aws:iam::123456789012:role/acme-uploader"),
        f"{BUCKET_ARN}/incoming/globex/*": ("s3:PutObject", "arn:aws:iam::210987654321:root"),
        f"{BUCKET_ARN}/rejected/incoming/acme-freight/*": (
            "s3:GetObject",
            "arn:aws:iam::123456789012:role/acme-uploader",
        ),
        f"{BUCKET_ARN}/rejected/incoming/globex/*": ("s3:GetObject", "arn:aws:iam::210987654321:root"),
    }


# --- the production plan: every knob reaches its module ---


def test_the_function_knobs_reach_the_function(production: Plan) -> None:
    function = production.one("aws_lambda_function")

    assert function["runtime"] == "python3.13"
    assert function["memory_size"] == 512
    assert function["timeout"] == 60
    assert function["reserved_concurrent_executions"] == 5
    variables = function["environment"][0]["variables"]
    assert variables["LOG_LEVEL"] == "WARNING"
    assert function["logging_config"][0]["application_log_level"] == "INFO"  # never above INFO: EMF lines are INFO
    assert {name: variables[name] for name in ("MAX_RECORDS", "CLAIM_TIMEOUT_S", "WRITE_CONCURRENCY")} == {
        "MAX_RECORDS": "1000",
        "CLAIM_TIMEOUT_S": "120",
        "WRITE_CONCURRENCY": "8",
    }
    assert (variables["MAX_INVOCATIONS"], variables["CHECKPOINT_MARGIN_MS"]) == ("50", "10000")
    assert (variables["OUTCOME_EVENTS"], variables["EVENTS_WRITE_PATH"]) == ("off", "sdk")
    assert variables["FUNCTION_TIMEOUT_S"] == "60", "what config.py checks the margin and claim timeout against"
    assert production.one("aws_cloudwatch_log_group")["retention_in_days"] == 30


def test_an_s3_artifact_replaces_the_local_package(production: Plan) -> None:
    function = production.one("aws_lambda_function")

    assert (function["s3_bucket"], function["s3_key"], function["s3_object_version"]) == (
        "artifacts-bucket",
        "shipment_processor/1.2.3.zip",
        "v42",
    )
    assert function["filename"] is None


def test_the_kms_key_encrypts_bucket_tables_queue_topic_logs_and_function_environment(production: Plan) -> None:
    rule = production.one("aws_s3_bucket_server_side_encryption_configuration")["rule"][0]
    assert rule["apply_server_side_encryption_by_default"][0] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": KMS_KEY,
    }
    assert rule["bucket_key_enabled"] is True
    for table in production.of_type("aws_dynamodb_table").values():
        assert table["server_side_encryption"][0] == {"enabled": True, "kms_key_arn": KMS_KEY}
    assert production.one("aws_sqs_queue")["kms_master_key_id"] == KMS_KEY
    assert production.one("aws_sns_topic")["kms_master_key_id"] == KMS_KEY
    assert production.of_type("aws_kms_key") == {}  # a given key replaces the topic's own
    assert production.one("aws_cloudwatch_log_group")["kms_key_id"] == KMS_KEY
    assert production.one("aws_lambda_function")["kms_key_arn"] == KMS_KEY


def test_the_role_may_use_the_kms_key_and_no_other(plan: Plan, production: Plan) -> None:
    def kms_statements(checked: Plan) -> list[dict]:
        policy = checked.policy("module.lambda.aws_iam_role_policy.this")
        return [s for s in policy["Statement"] if any(a.startswith("kms:") for a in as_list(s["Action"]))]

    assert kms_statements(plan) == []
    (statement,) = kms_statements(production)
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert as_list(statement["Resource"]) == [KMS_KEY]


def test_the_events_capacity_knobs_reach_the_events_table(plan: Plan, production: Plan) -> None:
    assert {t["billing_mode"] for t in plan.of_type("aws_dynamodb_table").values()} == {"PAY_PER_REQUEST"}
    assert plan.of_type("aws_appautoscaling_target") == {}
    events = production.resources['module.dynamodb.aws_dynamodb_table.this["events"]']
    assert (events["billing_mode"], events["write_capacity"]) == ("PROVISIONED", 500)
    write = production.resources['module.dynamodb.aws_appautoscaling_target.events["write"]']
    assert (write["min_capacity"], write["max_capacity"]) == (500, 6000)


def test_deletion_protection_reaches_both_tables(plan: Plan, production: Plan) -> None:
    assert {t["deletion_protection_enabled"] for t in plan.of_type("aws_dynamodb_table").values()} == {False}
    assert {t["deletion_protection_enabled"] for t in production.of_type("aws_dynamodb_table").values()} == {True}


def test_suffix_filters_add_one_incoming_filter_per_suffix(production: Plan) -> None:
    filters = production.one("aws_s3_bucket_notification")["lambda_function"]

    assert sorted(f["filter_suffix"] for f in filters) == sorted(SUFFIXES)
    assert {(tuple(f["events"]), f["filter_prefix"]) for f in filters} == {(("s3:ObjectCreated:*",), "incoming/")}


def test_the_lifecycle_knobs_reach_the_bucket(plan: Plan, production: Plan) -> None:
    def rules(checked: Plan) -> dict[str, dict]:
        return {r["id"]: r for r in checked.one("aws_s3_bucket_lifecycle_configuration")["rule"]}

    assert "expire-incoming-files" not in rules(plan)
    assert rules(production)["expire-incoming-files"]["expiration"][0]["days"] == 365
    assert rules(production)["expire-rejects-reports"]["expiration"][0]["days"] == 30


def test_without_shippers_the_bucket_policy_only_denies(production: Plan) -> None:
    policy = production.policy("module.s3.aws_s3_bucket_policy.this")

    assert {s["Effect"] for s in policy["Statement"]} == {"Deny"}


def test_without_addresses_the_topic_has_no_subscription(production: Plan) -> None:
    assert production.of_type("aws_sns_topic_subscription") == {}


# --- refused input ---


@pytest.mark.parametrize(
    "message",
    [
        "environment must be 1-20 characters of lowercase letters, digits and hyphens (it ends up in bucket, table "
        "and function names).",
        "lambda_runtime must be python3.12 or python3.13 (earlier runtimes are deprecated).",
        "aws_region must be an AWS region name such as eu-west-1.",
    ],
    ids=["environment", "runtime", "region"],
)
def test_a_bad_root_variable_fails_the_plan_with_a_clear_message(root: Workdir, message: str) -> None:
    # One refused plan: terraform reports every failed validation.
    assert message in root.plan_error(environment="Bad_Name", lambda_runtime="python3.10", aws_region="Europe")


def test_the_environment_has_no_default_so_no_run_builds_dev_by_accident(root: Workdir) -> None:
    assert 'The root module input variable "environment" is not set' in root.plan_error()


def test_an_environment_other_than_the_selected_workspace_is_refused(root: Workdir) -> None:
    root.tf.execute_command("workspace", "new", "prod")
    try:
        error = root.plan_error(environment="dev")
    finally:
        root.tf.execute_command("workspace", "select", "default")
        root.tf.execute_command("workspace", "delete", "prod")

    assert "environment does not match the Terraform workspace" in error


def test_a_kms_key_of_another_region_is_refused(root: Workdir) -> None:
    error = root.plan_error(environment=ENV, kms_key_arn=KMS_KEY.replace(REGION, "us-east-1"))

    assert "kms_key_arn must be a key in aws_region" in error


def test_an_environment_name_longer_than_20_characters_is_refused(root: Workdir) -> None:
    assert "environment must be 1-20 characters" in root.plan_error(environment="a" * 21)


def test_modules_never_configure_a_provider() -> None:
    for tf_file in (ROOT / "modules").glob("*/*.tf"):
        assert not re.search(r'^\s*provider\s+"', tf_file.read_text(), re.MULTILINE), tf_file


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_the_lock_file_pins_only_the_aws_provider() -> None:
    lock = (ROOT / ".terraform.lock.hcl").read_text()

    assert re.findall(r'provider "([^"]+)"', lock) == ["registry.terraform.io/hashicorp/aws"]
    assert 'version     = "5.100.0"' in lock
