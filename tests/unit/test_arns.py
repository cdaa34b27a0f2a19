"""A function ARN without its qualifier: where the continuation of a file is sent."""

from __future__ import annotations

import pytest
from shipment_processor.arns import unqualified_function_arn

FUNCTION = "arn:aws-cn:lambda:cn-north-1:123456789012:function:shipment-processor-dev"


@pytest.mark.parametrize("suffix", ["", ":live", ":12", ":$LATEST"])
def test_a_qualifier_is_dropped_and_the_rest_kept(suffix: str) -> None:
    assert unqualified_function_arn(FUNCTION + suffix) == FUNCTION


@pytest.mark.parametrize("value", [None, "", "shipment-processor-dev", "arn:aws:sqs:eu-west-1:1:a:b:c"])
def test_what_is_no_qualified_function_arn_is_left_as_it_is(value: str | None) -> None:
    assert unqualified_function_arn(value) == value
