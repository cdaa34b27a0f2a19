# Offline and in seconds: the mock provider answers every call. Policy documents are asserted on their statement
# blocks (the mock cannot render JSON, so it returns an empty policy).
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  environment = "qa7"
  account_id  = "123456789012"
  region      = "eu-west-1"
}

run "two_encrypted_on_demand_tables_with_recovery" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this["metadata"].name == "shipment-metadata-qa7" && aws_dynamodb_table.this["events"].name == "shipment-events-qa7"
    error_message = "table names"
  }
  assert {
    condition     = alltrue([for t in aws_dynamodb_table.this : t.billing_mode == "PAY_PER_REQUEST" && t.point_in_time_recovery[0].enabled && t.server_side_encryption[0].enabled])
    error_message = "billing, recovery, encryption"
  }
  assert {
    condition     = output.metadata_table_arn == "arn:aws:dynamodb:eu-west-1:123456789012:table/shipment-metadata-qa7"
    error_message = "ARN known at plan time"
  }
}

run "the_metadata_table_is_indexed_by_day_shipper_and_problem" {
  command = plan

  assert {
    condition     = { for i in aws_dynamodb_table.this["metadata"].global_secondary_index : i.name => [i.hash_key, i.range_key, i.projection_type] } == { "by-day" = ["upload_day", "upload_timestamp", "ALL"], "by-shipper" = ["shipper", "upload_timestamp", "ALL"], "by-problem" = ["problem_status", "upload_timestamp", "ALL"] }
    error_message = "global secondary indexes"
  }
  assert {
    condition     = length(aws_dynamodb_table.this["events"].global_secondary_index) == 0
    error_message = "the events table is read by key only"
  }
}

run "a_bad_key_arn_is_refused" {
  command = plan

  variables {
    kms_key_arn = "alias/my-key"
  }

  expect_failures = [var.kms_key_arn]
}
