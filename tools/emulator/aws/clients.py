"""Clients of the local AWS: boto3 clients with fake credentials, so nothing here can reach a real account."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from tools.terraform import tfwork

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "test"}


def aws_client(service: str, endpoint: str, region: str = tfwork.LOCAL_REGION) -> Any:
    """A boto3 client for the local AWS with fake credentials (never a real account)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"mode": "standard", "max_attempts": 5}, s3={"addressing_style": "path"}),
        verify=os.environ.get("AWS_CA_BUNDLE") if endpoint.startswith("https:") else None,
    )
