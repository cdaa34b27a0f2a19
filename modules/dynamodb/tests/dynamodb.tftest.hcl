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

run "the_events_table_can_cap_its_on_demand_throughput" {
  command = plan

  variables {
    events_max_write_request_units = 1000
  }

  assert {
    condition     = aws_dynamodb_table.this["events"].on_demand_throughput[0].max_write_request_units == 1000 && length(aws_dynamodb_table.this["metadata"].on_demand_throughput) == 0
    error_message = "the cap is on the events table only"
  }
  assert {
    condition     = length(aws_appautoscaling_target.events) == 0
    error_message = "on demand needs no auto scaling"
  }
}

run "the_events_table_can_be_provisioned_and_auto_scaled" {
  command = plan

  variables {
    events_billing_mode   = "PROVISIONED"
    events_write_capacity = { min = 100, max = 4000 }
  }

  assert {
    condition     = aws_dynamodb_table.this["events"].billing_mode == "PROVISIONED" && aws_dynamodb_table.this["events"].write_capacity == 100 && aws_dynamodb_table.this["events"].read_capacity == 1
    error_message = "provisioned at the scaling floors"
  }
  assert {
    condition     = aws_dynamodb_table.this["metadata"].billing_mode == "PAY_PER_REQUEST"
    error_message = "the metadata table stays on demand"
  }
  assert {
    condition     = { for k, t in aws_appautoscaling_target.events : k => [t.scalable_dimension, t.min_capacity, t.max_capacity] } == { write = ["dynamodb:table:WriteCapacityUnits", 100, 4000], read = ["dynamodb:table:ReadCapacityUnits", 1, 10] }
    error_message = "scaling targets between the floors and ceilings"
  }
  assert {
    condition     = aws_appautoscaling_policy.events["write"].target_tracking_scaling_policy_configuration[0].target_value == 70 && aws_appautoscaling_policy.events["write"].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "DynamoDBWriteCapacityUtilization"
    error_message = "target tracking of write utilisation at 70 %"
  }
}

run "provisioned_without_write_capacity_is_refused" {
  command = plan

  variables {
    events_billing_mode = "PROVISIONED"
  }

  expect_failures = [var.events_write_capacity]
}

run "an_on_demand_cap_on_a_provisioned_table_is_refused" {
  command = plan

  variables {
    events_billing_mode            = "PROVISIONED"
    events_write_capacity          = { min = 5, max = 50 }
    events_max_write_request_units = 100
  }

  expect_failures = [var.events_max_write_request_units]
}

run "capacity_out_of_bounds_is_refused" {
  command = plan

  variables {
    events_billing_mode   = "PROVISIONED"
    events_write_capacity = { min = 50, max = 5, target_utilization = 95 }
    events_read_capacity  = { min = 0, max = 5 }
  }

  expect_failures = [var.events_write_capacity, var.events_read_capacity]
}

run "a_fractional_on_demand_cap_is_refused" {
  command = plan

  variables {
    events_max_write_request_units = 0.5
  }

  expect_failures = [var.events_max_write_request_units]
}
