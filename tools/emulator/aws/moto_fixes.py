"""Fixes to moto that keep its answers and make it cheaper to run: the local AWS applies them at start.

``linear_item_size``: moto re-sums an item's every attribute each time one is set (quadratic in the attributes of
an item, about a third of moto's CPU per stored item here). Checking the whole item once against the same limit
accepts and refuses exactly the same items, and the emulator stores more of them per second.

``partition_query``: a Query of a table (not of an index) sorts every item of the table before it keeps those of
the one partition asked for: ten Queries of one shipment each in a table of 40,000 events cost 3.1 CPU-seconds,
0.01 reading that partition's items alone. Those are the same items, which moto then filters, sorts and pages as
before.

``no_such_upload``: S3 answers UploadPart and CompleteMultipartUpload for an upload that was completed or aborted
(or never existed) with ``404 NoSuchUpload``; moto fails with a KeyError (a 500). A client
that repeats a completion (a lost answer re-sent, a retried invocation) must see what S3 says.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any


def linear_item_size() -> None:
    """Check a new item's size once (attribute names + values) instead of once per attribute set."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: PLC0415
    from moto.dynamodb.models import dynamo_type  # noqa: PLC0415
    from moto.dynamodb.models.utilities import bytesize  # noqa: PLC0415

    limit = 405_000  # moto's own limit for LimitedSizeDict

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        converted = {name: dynamo_type.DynamoType(value) for name, value in attrs.items()}
        if sum(bytesize(name) + value.size() for name, value in converted.items()) > limit:
            raise ItemSizeTooLarge
        self.attrs = dynamo_type.LimitedSizeDict()
        dict.update(self.attrs, converted)  # later updates still go through LimitedSizeDict's own check

    dynamo_type.Item.__init__ = init


def partition_query() -> None:
    """A table Query looks at the items of its own partition, not at every item of the table sorted."""
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    if getattr(Table, "_partition_query", False):
        return
    asked = threading.local()  # the (table, partition key) a Query on this thread is looking for
    all_items, query = Table.all_items, Table.query
    signature = inspect.signature(query)

    def items(self: Any) -> Any:
        table, key = getattr(asked, "partition", (None, None))
        if table is not self:
            return all_items(self)
        held = self.items.get(key)
        if held is None:
            return []
        return list(held.values()) if self.range_key_attr else [held]  # moto filters and sorts them as before

    def partition_first(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        if arguments.get("index_name") or arguments["hash_key"] is None:
            return query(self, *args, **kwargs)
        asked.partition = (self, arguments["hash_key"])
        try:
            return query(self, *args, **kwargs)
        finally:
            asked.partition = (None, None)

    Table.all_items, Table.query = items, partition_first
    Table._partition_query = True  # type: ignore[attr-defined]


def no_such_upload() -> None:
    """Answer the multipart calls for an unknown upload id with NoSuchUpload, as S3 does (idempotent)."""
    from moto.s3.exceptions import NoSuchUpload  # noqa: PLC0415
    from moto.s3.models import S3Backend  # noqa: PLC0415

    if getattr(S3Backend, "_no_such_upload", False):
        return
    for name in ("upload_part", "complete_multipart_upload"):  # abort already answers NoSuchUpload
        original = getattr(S3Backend, name)

        def checked(self: Any, bucket_name: str, multipart_id: str, *args: Any, _original: Any = original) -> Any:
            if multipart_id not in self.get_bucket(bucket_name).multiparts:
                raise NoSuchUpload(upload_id=multipart_id)
            return _original(self, bucket_name, multipart_id, *args)

        setattr(S3Backend, name, checked)
    S3Backend._no_such_upload = True  # type: ignore[attr-defined]
