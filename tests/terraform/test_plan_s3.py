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
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0f6a1a3e-1111-2222-3333-444455556666"

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
    assert plan.outputs == {
        "bucket_id": BUCKET,
        "bucket_arn": BUCKET_ARN,
        "profiles_key": "config/shipper-profiles.json",
    }


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
    allowed = {sid: s for sid, s in statements(plan).items() if s["Effect"] == "Allow" and "Upload" in sid}

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


def test_each_shipper_may_read_its_own_rejects_reports_and_nothing_else(plan: Plan) -> None:
    readers = {
        sid: s
        for sid, s in statements(plan).items()
        if s["Effect"] == "Allow" and "s3:GetObject" in as_list(s["Action"])
    }

    assert {
        statement["Resource"]: (statement["Action"], sorted(as_list(statement["Principal"]["AWS"])))
        for statement in readers.values()
    } == {
        f"{BUCKET_ARN}/rejected/incoming/acme-freight/*": (
            "s3:GetObject",
            ["arn:aws:iam::123456789012:role/acme-uploader"],
        ),
        f"{BUCKET_ARN}/rejected/incoming/globex_eu/*": (
            "s3:GetObject",
            ["arn:aws:iam::123456789012:user/globex-ci", "arn:aws:iam::210987654321:root"],
        ),
    }
    # The handler's temporary report parts live in rejected/.partial/, below no shipper's prefix.
    assert not [r for r in (s["Resource"] for s in readers.values()) if ".partial" in r]


def test_no_shipper_may_read_uploads_list_or_delete(plan: Plan) -> None:
    granted = {a for s in statements(plan).values() if s["Effect"] == "Allow" for a in as_list(s["Action"])}

    assert granted == {"s3:PutObject", "s3:GetObject"}


def deny_put(plan: Plan, sid: str) -> dict[str, Any]:
    statement = statements(plan)[sid]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:PutObject")
    assert statement["Resource"] == f"{BUCKET_ARN}/*"
    return statement["Condition"]


def test_uploads_with_a_customer_provided_key_are_refused(plan: Plan) -> None:
    # SSE-C: S3 keeps no key, so the function could never read the file; refuse it at the door, not after retries.
    assert deny_put(plan, "DenyCustomerProvidedKeys") == {
        "Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}
    }


def test_uploads_may_only_ask_for_the_buckets_own_encryption(plan: Plan) -> None:
    assert deny_put(plan, "DenyOtherEncryption") == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "AES256"}
    }
    assert "DenyOtherKmsKeys" not in statements(plan)


def test_uploads_in_an_archive_or_low_durability_storage_class_are_refused(plan: Plan) -> None:
    condition = deny_put(plan, "DenyUnreadableStorageClasses")

    assert sorted(as_list(condition["StringNotEqualsIfExists"]["s3:x-amz-storage-class"])) == [
        "INTELLIGENT_TIERING",
        "STANDARD",
    ]


@pytest.fixture(scope="module")
def kms_plan(module: Workdir) -> Plan:
    return module.plan(**BASE, shipper_principals=SHIPPERS, kms_key_arn=KMS_KEY)


def test_with_a_kms_key_uploads_may_use_only_that_key(kms_plan: Plan) -> None:
    assert deny_put(kms_plan, "DenyOtherEncryption") == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert deny_put(kms_plan, "DenyOtherKmsKeys") == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY}
    }


def test_with_a_kms_key_every_shipper_principal_gets_a_grant_for_this_bucket_only(kms_plan: Plan) -> None:
    grants = kms_plan.of_type("aws_kms_grant").values()

    assert sorted(g["grantee_principal"] for g in grants) == sorted(p for ps in SHIPPERS.values() for p in ps)
    for grant in grants:
        assert grant["key_id"] == KMS_KEY
        assert sorted(grant["operations"]) == ["Decrypt", "GenerateDataKey"]
        assert grant["constraints"] == [
            {"encryption_context_equals": {"aws:s3:arn": BUCKET_ARN}, "encryption_context_subset": None}
        ]


def test_without_a_kms_key_there_are_no_grants(plan: Plan) -> None:
    assert plan.of_type("aws_kms_grant") == {}


def test_noncurrent_versions_expire_after_30_days_and_stale_multipart_uploads_after_7(plan: Plan) -> None:
    rules = {rule["id"]: rule for rule in plan["aws_s3_bucket_lifecycle_configuration.this"]["rule"]}
    rules = {
        k: v for k, v in rules.items() if k in {"expire-noncurrent-versions", "abort-incomplete-multipart-uploads"}
    }

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


def lifecycle_rules(plan: Plan) -> dict[str, dict[str, Any]]:
    return {rule["id"]: rule for rule in plan["aws_s3_bucket_lifecycle_configuration.this"]["rule"]}


def test_rejects_reports_expire_after_90_days_and_temporary_report_parts_after_2(plan: Plan) -> None:
    rules = lifecycle_rules(plan)

    assert rules["expire-rejects-reports"]["filter"][0]["prefix"] == "rejected/"
    assert rules["expire-rejects-reports"]["expiration"][0]["days"] == 90
    assert rules["expire-partial-rejects-reports"]["filter"][0]["prefix"] == "rejected/.partial/"
    assert rules["expire-partial-rejects-reports"]["expiration"][0]["days"] == 2
    assert {rule["status"] for rule in rules.values()} == {"Enabled"}


def test_uploaded_files_are_kept_by_default(plan: Plan) -> None:
    # an incoming_expiration_days rule, and name_prefix, are planned by the module's own terraform test
    assert "expire-incoming-files" not in lifecycle_rules(plan)


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
