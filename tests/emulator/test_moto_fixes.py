"""The local AWS's fixes to moto answer exactly as moto does, only cheaper."""

from __future__ import annotations

from typing import Any

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


def _queries(dynamodb: Any) -> list[Any]:
    """The answers to Queries of every kind a table and its index are asked, pages followed."""

    def pages(**request: Any) -> list[Any]:
        answers = []
        while True:
            page = dynamodb.query(**request)
            answers.append((page["Items"], page["Count"], page["ScannedCount"], page.get("LastEvaluatedKey")))
            if "LastEvaluatedKey" not in page:
                return answers
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    shipment = {":s": {"S": "S-3"}}
    return [
        pages(TableName="events", KeyConditionExpression="s = :s", ExpressionAttributeValues=shipment),
        pages(TableName="events", KeyConditionExpression="s = :s", ExpressionAttributeValues=shipment, Limit=4),
        pages(
            TableName="events",
            KeyConditionExpression="s = :s AND e BETWEEN :a AND :b",
            ExpressionAttributeValues={**shipment, ":a": {"S": "E-02"}, ":b": {"S": "E-06"}},
            ScanIndexForward=False,
        ),
        pages(
            TableName="events",
            KeyConditionExpression="s = :s AND begins_with(e, :p)",
            FilterExpression="v > :v",
            ProjectionExpression="e, v",
            ExpressionAttributeValues={**shipment, ":p": {"S": "E-0"}, ":v": {"N": "3"}},
        ),
        pages(TableName="events", KeyConditionExpression="s = :s", ExpressionAttributeValues={":s": {"S": "none"}}),
        pages(
            TableName="events",
            IndexName="by-status",
            KeyConditionExpression="st = :st",
            ExpressionAttributeValues={":st": {"S": "LOST"}},
        ),
        pages(TableName="files", KeyConditionExpression="f = :f", ExpressionAttributeValues={":f": {"S": "F-2"}}),
    ]


def test_a_table_query_reading_only_its_partition_answers_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    for name in ("all_items", "query"):
        monkeypatch.setattr(Table, name, getattr(Table, name))  # undone after the test
    monkeypatch.setattr(Table, "_partition_query", False, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(
            TableName="events",
            KeySchema=[{"AttributeName": "s", "KeyType": "HASH"}, {"AttributeName": "e", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("s", "e", "st")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [{"AttributeName": "st", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName="files",
            KeySchema=[{"AttributeName": "f", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "f", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for s in range(6):
            for e in range(9, -1, -1):  # stored out of order
                item = {"s": {"S": f"S-{s}"}, "e": {"S": f"E-{e:02d}"}, "v": {"N": str(e)}, "pad": {"S": "x" * 200}}
                dynamodb.put_item(TableName="events", Item={**item, "st": {"S": "LOST" if e % 4 == 1 else "OK"}})
            dynamodb.put_item(TableName="files", Item={"f": {"S": f"F-{s}"}, "n": {"N": str(s)}})
        moto_answers = _queries(dynamodb)

        moto_fixes.partition_query()

        assert _queries(dynamodb) == moto_answers
        assert [len(answer[0][0]) for answer in moto_answers] == [10, 4, 5, 6, 0, 18, 1]
