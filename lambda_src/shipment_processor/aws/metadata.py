"""The metadata table: conditional writes that say what stood in their way, consistent reads, and the conversion
between plain Python values and DynamoDB attribute values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from .clients import error_code

Item = dict[str, Any]

Conflict = Item
"""What a failed conditional write found in its place (DynamoDB's ALL_OLD; empty when there is no item)."""


class MetadataTable:
    """The file items of the metadata table: conditional writes that return what stood in their way, and reads."""

    def __init__(self, client: Callable[[], Any], table: str) -> None:
        self._client, self.table = client, table

    def put_if(self, item: Mapping[str, Any], condition: str, values: Mapping[str, Any]) -> Conflict | None:
        """PutItem when ``condition`` holds: None when written, else the item that stood in the way.

        A retried request whose first attempt was applied (its response lost) fails its own condition; the
        caller recognises its own write in the returned item (its claim token).
        """
        params: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_dynamodb(item),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:  # DynamoDB refuses an empty ExpressionAttributeValues
            params["ExpressionAttributeValues"] = to_dynamodb(values)
        if names := _names(condition):
            params["ExpressionAttributeNames"] = names
        try:
            self._client().put_item(**params)
        except ClientError as exc:
            return self._conflict(exc, item["filename"], item["upload_timestamp"])
        return None

    def update_if(
        self,
        key: Mapping[str, str],
        update: str,
        condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
    ) -> tuple[Item | None, Conflict | None]:
        """UpdateItem when ``condition`` holds: (the item as written, None), or (None, what stood in the way)."""
        params: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_dynamodb(key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            params["ExpressionAttributeValues"] = to_dynamodb(values)
        names = {**_names(update, condition), **(names or {})}
        if names:
            params["ExpressionAttributeNames"] = names
        try:
            response = self._client().update_item(**params)
        except ClientError as exc:
            return None, self._conflict(exc, key["filename"], key["upload_timestamp"])
        return from_dynamodb(response.get("Attributes", {})), None

    def _conflict(self, exc: ClientError, filename: str, upload_timestamp: str) -> Conflict:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise exc
        if "Item" in exc.response:
            return from_dynamodb(exc.response["Item"])
        return self.get_metadata(filename, upload_timestamp) or {}  # ALL_OLD is empty when nothing was there

    def get_metadata(self, filename: str, upload_timestamp: str) -> Item | None:
        """The metadata item as plain Python values (consistent read)."""
        response = self._client().get_item(
            TableName=self.table,
            Key=to_dynamodb({"filename": filename, "upload_timestamp": upload_timestamp}),
            ConsistentRead=True,
        )
        return from_dynamodb(response["Item"]) if "Item" in response else None


def to_dynamodb(item: Mapping[str, Any]) -> Item:
    """Plain values -> DynamoDB attribute values: text, whole numbers, booleans, lists and maps; None is left
    out (of maps too)."""
    return {name: _attribute(value) for name, value in item.items() if value is not None}


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": to_dynamodb(value)}
    return {"L": [_attribute(v) for v in value]}


def from_dynamodb(item: Mapping[str, Any]) -> Item:
    """DynamoDB attribute values -> plain values (the inverse of :func:`to_dynamodb`)."""
    return {name: _value(attribute) for name, attribute in item.items()}


def _value(attribute: Mapping[str, Any]) -> Any:
    kind, value = next(iter(attribute.items()))
    if kind == "N":
        return int(value) if "." not in value and "e" not in value.lower() else float(value)
    if kind == "L":
        return [_value(v) for v in value]
    if kind == "M":
        return from_dynamodb(value)
    if kind == "NULL":
        return None
    return value


def _names(*expressions: str) -> dict[str, str]:
    """``#name`` placeholders of expressions, each standing for the attribute of that name (many attribute
    names here, such as ``segment`` and ``attempt``, are DynamoDB reserved words)."""
    return {f"#{name}": name for expression in expressions for name in re.findall(r"#(\w+)", expression)}
