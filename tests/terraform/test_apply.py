"""One real apply of the root configuration against the session's moto server, checked through boto3.

The tests run in file order on one worker: apply (fixture) -> what exists -> no drift after a rebuild ->
destroy. Plan tests cover every property in detail; these prove the plan is what AWS (moto) ends up holding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools.emulator import local_deploy, local_lambda
from tools.packager import lambda_zip
from tools.terraform import tfwork

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "ci"
PREFIX = "parcels"  # not the default: every name, and the operator CLI's --env, must follow it
SHIPPER_PRINCIPAL = "arn:aws:iam::123456789012:role/acme-uploader"

pytestmark = [pytest.mark.terraform, pytest.mark.slow]


@dataclass
class Deployment:
    workdir: Path
    endpoint: str
    outputs: dict[str, str]
    apply_seconds: float

    def client(self, service: str) -> Any:
        return local_lambda.aws_client(service, self.endpoint)

    def terraform(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return tfwork.terraform(list(args), self.workdir, check=check, capture=True, env=dict(os.environ))


@pytest.fixture(scope="module")
def deployment(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # aws_s3_bucket_lifecycle_configuration takes ~55 s against moto (a provider waiter polling for a consistency
    # moto already has); test_plan_s3 asserts both lifecycle rules from the plan, so this apply leaves that one
    # resource out, with the same override `tools.emulator.local_deploy --skip-lifecycle` uses. The local AWS serves
    # Lambda's recursion-config API (moto does not), so the recursion config is applied and read back.
    workdir = tfwork.prepare_workdir(
        ROOT,
        tmp_path_factory.mktemp("apply") / "root",
        moto_endpoint,
        extra_files=local_deploy.SKIP_LIFECYCLE_OVERRIDE,
    )
    # Build from a snapshot of the sources so the rebuild test compares like with like.
    shutil.copytree(ROOT / "lambda_src", workdir / "lambda_src", ignore=shutil.ignore_patterns("__pycache__"))
    lambda_zip.build(workdir / "lambda_src", workdir / "build" / "shipment_processor.zip")
    (workdir / "terraform.tfvars.json").write_text(
        json.dumps(
            {
                "environment": ENVIRONMENT,
                "name_prefix": PREFIX,
                "package_path": "build/shipment_processor.zip",
                "force_destroy": True,
                "shipper_principals": {"acme": [SHIPPER_PRINCIPAL]},
                "alarm_email_addresses": ["ops@example.com"],
            }
        )
    )
    env = dict(os.environ)
    tfwork.terraform(["init", "-input=false", "-no-color"], workdir, env=env, capture=True)
    started = time.monotonic()
    applied = tfwork.terraform(
        ["apply", "-auto-approve", "-input=false", "-no-color"], workdir, env=env, check=False, capture=True
    )
    apply_seconds = time.monotonic() - started
    assert applied.returncode == 0, applied.stdout[-4000:] + applied.stderr[-4000:]
    print(f"\nroot apply against moto took {apply_seconds:.1f} s")
    raw = json.loads(tfwork.terraform(["output", "-json"], workdir, env=env, capture=True).stdout)
    result = Deployment(workdir, moto_endpoint, {k: v["value"] for k, v in raw.items()}, apply_seconds)
    yield result
    if (workdir / "terraform.tfstate").exists() and json.loads((workdir / "terraform.tfstate").read_text()).get(
        "resources"
    ):
        # test_destroy did not run or failed: clean up anyway so the session's moto server stays tidy.
        tfwork.terraform(["destroy", "-auto-approve", "-no-color"], workdir, env=env, check=False, capture=True)


def test_outputs_carry_the_environment_suffix(deployment: Deployment) -> None:
    outputs = deployment.outputs
    assert outputs["bucket_name"] == f"{PREFIX}-files-123456789012-{tfwork.LOCAL_REGION}-{ENVIRONMENT}"
    assert outputs["metadata_table_name"] == f"{PREFIX}-metadata-{ENVIRONMENT}"
    assert outputs["events_table_name"] == f"{PREFIX}-events-{ENVIRONMENT}"
    assert outputs["function_name"] == f"{PREFIX}-processor-{ENVIRONMENT}"
    assert outputs["metrics_namespace"] == f"ShipmentProcessing/{ENVIRONMENT}"
    assert outputs["failure_queue_url"].endswith(f"{PREFIX}-processor-failures-{ENVIRONMENT}")


def test_bucket_is_versioned_encrypted_private_and_denies_insecure_transport(deployment: Deployment) -> None:
    s3 = deployment.client("s3")
    bucket = deployment.outputs["bucket_name"]

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    statements = {s["Sid"]: s for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]}
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyTlsBelow12"]["Effect"] == "Deny"
    shipper = [s for s in statements.values() if s["Effect"] == "Allow" and "Upload" in s["Sid"]]
    assert len(shipper) == 1
    assert shipper[0]["Action"] in ("s3:PutObject", ["s3:PutObject"])
    assert shipper[0]["Resource"] == f"arn:aws:s3:::{bucket}/incoming/acme/*"


def test_the_metadata_table_has_the_three_lookup_indexes(deployment: Deployment) -> None:
    table = deployment.client("dynamodb").describe_table(TableName=deployment.outputs["metadata_table_name"])["Table"]
    indexes = {
        i["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]],
            i["Projection"]["ProjectionType"],
        )
        for i in table["GlobalSecondaryIndexes"]
    }

    assert indexes == {
        "by-day": ([("upload_day", "HASH"), ("upload_timestamp", "RANGE")], "ALL"),
        "by-shipper": ([("shipper", "HASH"), ("upload_timestamp", "RANGE")], "ALL"),
        "by-problem": ([("problem_status", "HASH"), ("upload_timestamp", "RANGE")], "ALL"),
    }


def test_the_bucket_refuses_unreadable_uploads_and_lets_the_shipper_read_its_rejects(deployment: Deployment) -> None:
    policy = deployment.client("s3").get_bucket_policy(Bucket=deployment.outputs["bucket_name"])["Policy"]
    statements = {s["Sid"]: s for s in json.loads(policy)["Statement"]}
    bucket = deployment.outputs["bucket_name"]

    assert {"DenyCustomerProvidedKeys", "DenyOtherEncryption", "DenyUnreadableStorageClasses"} <= set(statements)
    assert statements["ShipperReadRejectsAcme"]["Resource"] == f"arn:aws:s3:::{bucket}/rejected/incoming/acme/*"


def test_tables_have_the_seed_keys_on_demand_billing_and_point_in_time_recovery(deployment: Deployment) -> None:
    dynamodb = deployment.client("dynamodb")
    expected_keys = {
        deployment.outputs["metadata_table_name"]: [("filename", "HASH"), ("upload_timestamp", "RANGE")],
        deployment.outputs["events_table_name"]: [("shipment_id", "HASH"), ("event_key", "RANGE")],
    }
    for name, keys in expected_keys.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == keys
        assert {a["AttributeType"] for a in table["AttributeDefinitions"]} == {"S"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_function_runs_the_deployed_package_with_the_environment_contract(deployment: Deployment) -> None:
    config = deployment.client("lambda").get_function_configuration(FunctionName=deployment.outputs["function_name"])

    assert config["Handler"] == "shipment_processor.handler.lambda_handler"
    assert config["Runtime"] in ("python3.12", "python3.13")
    assert config["MemorySize"] == 256
    assert config["Timeout"] == 30
    assert config["CodeSha256"] == lambda_zip.source_code_hash(deployment.workdir / "build" / "shipment_processor.zip")
    variables = config["Environment"]["Variables"]
    assert variables["METADATA_TABLE"] == deployment.outputs["metadata_table_name"]
    assert variables["EVENTS_TABLE"] == deployment.outputs["events_table_name"]
    assert variables["ENVIRONMENT"] == ENVIRONMENT
    assert variables["METRICS_NAMESPACE"] == deployment.outputs["metrics_namespace"]
    assert variables["INCOMING_PREFIX"] == "incoming/"
    assert variables["REJECTS_PREFIX"] == "rejected/"
    for limit in ("MAX_OBJECT_BYTES", "MAX_DECOMPRESSED_BYTES", "MAX_RECORD_BYTES", "MAX_RECORDS"):
        assert int(variables[limit]) > 0


def test_failed_async_invocations_go_to_the_encrypted_failure_queue_after_two_retries(deployment: Deployment) -> None:
    invoke = deployment.client("lambda").get_function_event_invoke_config(
        FunctionName=deployment.outputs["function_name"]
    )
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == deployment.outputs["failure_queue_arn"]
    attributes = deployment.client("sqs").get_queue_attributes(
        QueueUrl=deployment.outputs["failure_queue_url"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes.get("SqsManagedSseEnabled") == "true" or "KmsMasterKeyId" in attributes


def test_the_function_may_continue_itself_past_lambdas_recursion_limit(deployment: Deployment) -> None:
    config = deployment.client("lambda").get_function_recursion_config(FunctionName=deployment.outputs["function_name"])

    assert config["RecursiveLoop"] == "Allow"


def test_operators_find_saved_queries_over_the_function_logs(deployment: Deployment) -> None:
    queries = deployment.client("logs").describe_query_definitions(queryDefinitionNamePrefix=f"{PREFIX}-processing-")

    names = {q["name"].rsplit("/", 1)[1]: q for q in queries["queryDefinitions"]}
    assert set(names) >= {"failed-files", "slowest-files", "rejects-by-reason", "timeouts"}
    assert names["failed-files"]["logGroupNames"] == [deployment.outputs["log_group_name"]]


def test_new_objects_under_incoming_and_nothing_else_notify_the_function(deployment: Deployment) -> None:
    notification = deployment.client("s3").get_bucket_notification_configuration(
        Bucket=deployment.outputs["bucket_name"]
    )
    configurations = notification["LambdaFunctionConfigurations"]

    assert configurations, "the bucket has no Lambda notification"
    for configuration in configurations:
        assert configuration["LambdaFunctionArn"] == deployment.outputs["function_arn"]
        assert configuration["Events"] == ["s3:ObjectCreated:*"]
        rules = {r["Name"].lower(): r["Value"] for r in configuration["Filter"]["Key"]["FilterRules"]}
        assert rules["prefix"] == "incoming/"


def test_the_function_log_group_keeps_logs_for_the_retention_period(deployment: Deployment) -> None:
    name = f"/aws/lambda/{deployment.outputs['function_name']}"
    groups = deployment.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(name, 7)]


def test_alarms_watch_failure_rate_errors_and_the_failure_queue_and_notify_the_topic(deployment: Deployment) -> None:
    alarms = deployment.client("cloudwatch").describe_alarms()["MetricAlarms"]
    ours = {a["AlarmName"]: a for a in alarms if a["AlarmName"].endswith(f"-{ENVIRONMENT}")}
    topic = deployment.outputs["alarm_topic_arn"]

    assert len(ours) == 5, sorted(ours)
    for alarm in ours.values():
        assert alarm["AlarmActions"] == [topic]
    rate = ours[deployment.outputs["failure_rate_alarm_name"]]
    assert rate["Threshold"] == 5
    assert rate["ComparisonOperator"] == "GreaterThanThreshold"
    assert rate["TreatMissingData"] == "notBreaching"
    assert rate["OKActions"] == [topic]
    queries = {q["Id"]: q for q in rate["Metrics"]}
    expression = next(q["Expression"] for q in rate["Metrics"] if "Expression" in q)
    assert "FILL" in expression
    metric_queries = [q for q in queries.values() if "MetricStat" in q]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in metric_queries} == {
        "ProcessingSuccess",
        "ProcessingFailure",
        "NumberOfMessagesSent",  # events that reached the failure queue count as failed files
    }
    dead = queries["dead"]["MetricStat"]["Metric"]
    assert (dead["Namespace"], dead["Dimensions"]) == (
        "AWS/SQS",
        [{"Name": "QueueName", "Value": deployment.outputs["failure_queue_arn"].rsplit(":", 1)[1]}],
    )
    metric_queries = [q for q in metric_queries if q["Id"] != "dead"]
    for query in metric_queries:
        assert query["MetricStat"]["Metric"]["Namespace"] == deployment.outputs["metrics_namespace"]
        assert query["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "Environment", "Value": ENVIRONMENT}]
        assert query["MetricStat"]["Period"] == 300
    subscriptions = deployment.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]


def shipment_ops(deployment: Deployment, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator CLI as an operator runs it against a real account: the usual credential chain and region, with
    nothing of the deployment but what it finds (the local AWS stands in through AWS_ENDPOINT_URL)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_ENDPOINT_URL": deployment.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    command = [sys.executable, "-m", "tools.ops", "--region", tfwork.LOCAL_REGION, *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _alarm_names(deployment: Deployment) -> list[str]:
    return sorted(v for k, v in deployment.outputs.items() if k.endswith("_alarm_name"))


def test_the_operator_cli_finds_an_environment_by_its_name_whatever_its_name_prefix(
    deployment: Deployment, tmp_path: Path
) -> None:
    alarms = shipment_ops(deployment, tmp_path, "--env", ENVIRONMENT, "alarms", "--json")
    files = shipment_ops(deployment, tmp_path, "--env", ENVIRONMENT, "files", "--json")
    named = shipment_ops(deployment, tmp_path, "--env", ENVIRONMENT, "--name-prefix", PREFIX, "alarms", "--json")

    assert alarms.returncode == 0, alarms.stderr
    assert sorted(a["name"] for a in json.loads(alarms.stdout)) == _alarm_names(deployment)
    assert (files.returncode, json.loads(files.stdout or "null")) == (0, []), files.stderr  # its metadata table
    assert json.loads(named.stdout) == json.loads(alarms.stdout)


def test_the_operator_cli_names_what_it_did_not_find(deployment: Deployment, tmp_path: Path) -> None:
    missing = shipment_ops(deployment, tmp_path, "--env", "nope", "alarms")
    other_prefix = shipment_ops(deployment, tmp_path, "--env", ENVIRONMENT, "--name-prefix", "shipment", "alarms")

    assert missing.returncode == 2 and "no deployment of environment 'nope'" in missing.stderr
    assert other_prefix.returncode == 2 and f"shipment-processor-{ENVIRONMENT}" in other_prefix.stderr


def test_the_operator_cli_reads_names_from_terraform_outputs(deployment: Deployment, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(deployment.terraform("output", "-json").stdout)

    alarms = shipment_ops(deployment, tmp_path, "--outputs", str(outputs), "alarms", "--json")

    assert alarms.returncode == 0, alarms.stderr
    assert sorted(a["name"] for a in json.loads(alarms.stdout)) == _alarm_names(deployment)


def test_a_rebuilt_package_and_a_second_plan_show_no_changes(deployment: Deployment) -> None:
    # Fresh build, fresh file times: the deterministic zip keeps source_code_hash, so no Lambda update.
    zip_path = deployment.workdir / "build" / "shipment_processor.zip"
    before = zip_path.read_bytes()
    zip_path.unlink()
    for source in (deployment.workdir / "lambda_src").rglob("*.py"):
        source.touch()
    lambda_zip.build(deployment.workdir / "lambda_src", zip_path)
    assert zip_path.read_bytes() == before

    plan_file = deployment.workdir / "second.tfplan"
    plan = deployment.terraform("plan", "-input=false", "-no-color", f"-out={plan_file}")
    shown = json.loads(deployment.terraform("show", "-json", str(plan_file)).stdout)

    changed = {
        (change["address"], attribute)
        for change in shown.get("resource_changes", [])
        if change["change"]["actions"] != ["no-op"]
        for attribute in _changed_attributes(change["change"])
    }
    # The one known moto gap: moto 5.2 neither stores nor returns a function's LoggingConfig, so the provider
    # reads it back empty and wants to set log_format = JSON again. Everything else must be unchanged - and the
    # Lambda code in particular, whose source_code_hash survived the rebuild.
    assert changed <= {("module.lambda.aws_lambda_function.this", "logging_config")}, plan.stdout[-6000:]


def _changed_attributes(change: dict) -> set[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    return {
        key
        for key in set(before) | set(after) | set(unknown)
        if before.get(key) != after.get(key) or unknown.get(key) is True
    }


def test_destroy_removes_every_resource(deployment: Deployment) -> None:
    destroyed = deployment.terraform("destroy", "-auto-approve", "-input=false", "-no-color", check=False)
    assert destroyed.returncode == 0, destroyed.stdout[-4000:] + destroyed.stderr[-4000:]

    state = json.loads((deployment.workdir / "terraform.tfstate").read_text())
    assert state.get("resources", []) == []
    assert deployment.outputs["bucket_name"] not in [
        b["Name"] for b in deployment.client("s3").list_buckets()["Buckets"]
    ]
    # The session's server may hold other tests' deployments (other environments): look for this one's only.
    functions = [f["FunctionName"] for f in deployment.client("lambda").list_functions()["Functions"]]
    assert deployment.outputs["function_name"] not in functions
    tables = deployment.client("dynamodb").list_tables()["TableNames"]
    assert deployment.outputs["metadata_table_name"] not in tables
    assert deployment.outputs["events_table_name"] not in tables
