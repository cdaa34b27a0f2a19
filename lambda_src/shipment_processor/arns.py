"""ARNs the handler builds or reads: the partition a region belongs to, and a function ARN without its
qualifier. Pure; no AWS.

A resource ARN starts with its partition (``aws``, ``aws-cn``, ``aws-us-gov``, ...), so an ARN built with a
hard-coded ``aws`` is wrong in every other partition
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html). The patterns are the region patterns of
botocore's partitions table, most specific first.
"""

from __future__ import annotations

import re

DEFAULT_PARTITION = "aws"
_PARTITIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-us-gov", re.compile(r"us-gov-\w+-\d+")),
    ("aws-iso-b", re.compile(r"us-isob-\w+-\d+")),
    ("aws-iso-f", re.compile(r"us-isof-\w+-\d+")),
    ("aws-iso", re.compile(r"us-iso-\w+-\d+")),
    ("aws-iso-e", re.compile(r"eu-isoe-\w+-\d+")),
    ("aws-eusc", re.compile(r"eusc-de-\w+-\d+")),
    ("aws-cn", re.compile(r"cn-\w+-\d+")),
)
# arn:<partition>:lambda:<region>:<account>:function:<name>[:<version or alias>]
_FUNCTION_ARN_PARTS = 7


def partition(region: str) -> str:
    """The partition of ``region`` (``aws`` for the commercial regions and for anything unknown)."""
    for name, pattern in _PARTITIONS:
        if pattern.fullmatch(region):
            return name
    return DEFAULT_PARTITION


def unqualified_function_arn(arn: str | None) -> str | None:
    """``arn`` without a version or alias qualifier: the function itself, whose async invoke configuration
    (retries, failure destination) and role grant the continuation relies on."""
    if not arn:
        return arn
    parts = arn.split(":")
    if len(parts) > _FUNCTION_ARN_PARTS and parts[5] == "function":
        return ":".join(parts[:_FUNCTION_ARN_PARTS])
    return arn
