"""Plan of modules/s3 on its own: a private, versioned, encrypted bucket that shippers can only add files to.

The SSE-KMS variant and a bucket without shippers are checked in the root's production plan (test_plan_root).
"""

from __future__ import annotations

from typing import Any

import pytest

from .planning import ACCOUNT_ID, REGION, Plan, Workdir

ENV = "qa7"
BASE = {"environment": ENV, "account_id": ACCOUNT_ID, "region": REGION}
SHIPPERS = {
    "acme-freight": ["arn:aws:iam::123456789012:role/acme-uploader"],
    "globex_eu": ["arn:aws:iam::210987654321:root", "arn:aws:iam::123456789012:user/globex-ci"],
}
BUCKET = f"shipment-files-{ACCOUNT_ID}-{REGION}-{ENV}"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def module(workdir) -> Workdir:
    return workdir("modules/s3")


@pytest.fixture(scope="module")
def plan(module: Workdir) -> Plan:
    return module.plan(**BASE, shipper_principals=SHIPPERS)


def statements(plan: Plan) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in plan.policy("aws_s3_bucket_policy.this")["Statement"]}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_the_bucket_name_is_unique_per_account_region_and_environment(plan: Plan) -> None:
    bucket = plan["aws_s3_bucket.this"]

    assert bucket["bucket"] == BUCKET
    assert bucket["force_destroy"] is False
    assert plan.outputs == {"bucket_id": BUCKET, "bucket_arn": BUCKET_ARN}


def test_versioning_is_enabled(plan: Plan) -> None:
    assert plan["aws_s3_bucket_versioning.this"]["versioning_configuration"][0]["status"] == "Enabled"


def test_objects_are_encrypted_with_sse_s3_by_default(plan: Plan) -> None:
    rule = plan["aws_s3_bucket_server_side_encryption_configuration.this"]["rule"][0]

    assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "AES256"
    assert not rule["apply_server_side_encryption_by_default"][0]["kms_master_key_id"]


def test_all_four_public_access_blocks_are_on(plan: Plan) -> None:
    block = plan["aws_s3_bucket_public_access_block.this"]

    assert {k: block[k] for k in block if k != "bucket"} == {
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
    }


def test_acls_are_disabled_by_bucket_owner_enforced_ownership(plan: Plan) -> None:
    assert plan["aws_s3_bucket_ownership_controls.this"]["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]


def test_requests_without_tls_are_denied_on_the_bucket_and_its_objects(plan: Plan) -> None:
    deny = statements(plan)["DenyInsecureTransport"]

    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert sorted(as_list(deny["Resource"])) == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_requests_over_tls_older_than_1_2_are_denied(plan: Plan) -> None:
    deny = statements(plan)["DenyTlsBelow12"]

    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert sorted(as_list(deny["Resource"])) == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert deny["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}


def test_each_shipper_may_only_put_objects_below_its_own_incoming_prefix(plan: Plan) -> None:
    allowed = {sid: s for sid, s in statements(plan).items() if s["Effect"] == "Allow"}

    assert set(allowed) == {"ShipperUploadAcmeFreight", "ShipperUploadGlobexEu"}
    granted = {
        statement["Resource"]: (statement["Action"], sorted(as_list(statement["Principal"]["AWS"])))
        for statement in allowed.values()
    }
    assert granted == {
        f"{BUCKET_ARN}/incoming/acme-freight/*": ("s3:PutObject", ["arn:aws:iam::123456789012:role/acme-uploader"]),
        f"{BUCKET_ARN}/incoming/globex_eu/*": (
            "s3:PutObject",
            ["arn:aws:iam::123456789012:user/globex-ci", "arn:aws:iam::210987654321:root"],
        ),
    }
    for statement in allowed.values():
        assert set(statement) == {"Sid", "Effect", "Action", "Resource", "Principal"}  # no extra grants


def test_noncurrent_versions_expire_after_30_days_and_stale_multipart_uploads_after_7(plan: Plan) -> None:
    rules = {rule["id"]: rule for rule in plan["aws_s3_bucket_lifecycle_configuration.this"]["rule"]}

    assert set(rules) == {"expire-noncurrent-versions", "abort-incomplete-multipart-uploads"}
    for rule in rules.values():
        assert rule["status"] == "Enabled"
        # The whole bucket: an empty filter.
        assert rule["filter"][0]["prefix"] in ("", None)
        assert rule["filter"][0]["and"] == [] and rule["filter"][0]["tag"] == []
    expire = rules["expire-noncurrent-versions"]["noncurrent_version_expiration"][0]
    assert expire["noncurrent_days"] == 30
    abort = rules["abort-incomplete-multipart-uploads"]["abort_incomplete_multipart_upload"][0]
    assert abort["days_after_initiation"] == 7


# One refused plan holds every bad shipper; terraform reports each broken rule with the names that broke it.
BAD_SHIPPERS = {
    "../etc": ["arn:aws:iam::123456789012:root"],
    "Acme": ["arn:aws:iam::123456789012:root"],
    "acme/west": ["arn:aws:iam::123456789012:root"],
    "wildcard": ["*"],
    "nobody": [],
    "acme-eu": ["arn:aws:iam::123456789012:root"],
    "acme_eu": ["arn:aws:iam::123456789012:root"],
}


@pytest.mark.parametrize(
    "message",
    [
        "Each shipper name must be 1-64 characters of lowercase letters, digits, '-' and '_', starting and ending "
        "with a letter or digit (it becomes the key prefix incoming/<shipper>/). "
        'Refused: ["../etc","Acme","acme/west"].',
        "every principal must be an IAM ARN (arn:aws:iam::<account>:root|role/...|user/...). "
        'Refused shippers: ["nobody","wildcard"].',
        "Shipper names must stay distinct when '-' and '_' are ignored (they name the bucket policy statements). "
        'Colliding: ["acme-eu","acme_eu"].',
    ],
    ids=["path-unsafe-names", "principals-not-iam-arns", "colliding-statement-ids"],
)
def test_unsafe_shippers_are_refused_by_name(module: Workdir, message: str) -> None:
    assert message in module.plan_error(**BASE, shipper_principals=BAD_SHIPPERS)


def test_a_bucket_name_over_63_characters_is_refused_at_plan(module: Workdir) -> None:
    error = module.plan_error(environment="a" * 20, account_id=ACCOUNT_ID, region="xx-southsoutheast-1")

    assert "is longer than 63 characters; shorten the environment name" in error
