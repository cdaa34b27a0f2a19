"""The local AWS's fixes to moto answer exactly as moto does, only cheaper."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tools.emulator.aws import moto_fixes


@pytest.mark.parametrize("fixed", [False, True], ids=["moto", "fixed"])
def test_the_item_size_limit_is_the_same_with_the_linear_check(monkeypatch: pytest.MonkeyPatch, fixed: bool) -> None:
    from moto.dynamodb.models import dynamo_type  # noqa: PLC0415

    monkeypatch.setattr(dynamo_type.Item, "__init__", dynamo_type.Item.__init__)  # undone after the test
    if fixed:
        moto_fixes.linear_item_size()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="t", Item={"k": {"S": "ok"}, **{f"a{n}": {"S": "x" * 1000} for n in range(390)}})
        with pytest.raises(ClientError, match="Item size has exceeded"):
            dynamodb.put_item(TableName="t", Item={"k": {"S": "big"}, "v": {"S": "x" * 410_000}})
        assert [i["k"]["S"] for i in dynamodb.scan(TableName="t")["Items"]] == ["ok"]


def test_a_completed_upload_answers_no_such_upload_as_s3_does(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_fixes.no_such_upload()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="uploads")
        upload = s3.create_multipart_upload(Bucket="uploads", Key="k")["UploadId"]
        part = s3.upload_part(Bucket="uploads", Key="k", UploadId=upload, PartNumber=1, Body=b"x")
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        s3.complete_multipart_upload(Bucket="uploads", Key="k", UploadId=upload, MultipartUpload=parts)
        aborted = s3.create_multipart_upload(Bucket="uploads", Key="k")["UploadId"]
        s3.abort_multipart_upload(Bucket="uploads", Key="k", UploadId=aborted)

        with pytest.raises(ClientError, match="NoSuchUpload"):
            s3.upload_part(Bucket="uploads", Key="k", UploadId=upload, PartNumber=2, Body=b"y")
        with pytest.raises(ClientError, match="NoSuchUpload"):
            s3.complete_multipart_upload(Bucket="uploads", Key="k", UploadId=aborted, MultipartUpload=parts)
        assert s3.get_object(Bucket="uploads", Key="k")["Body"].read() == b"x"
