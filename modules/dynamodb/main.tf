data "aws_partition" "current" {}

locals {
  metadata_table_name = "${var.name_prefix}-metadata-${var.environment}"
  events_table_name   = "${var.name_prefix}-events-${var.environment}"
  # Built rather than read from the tables so IAM policies that use them are known at plan time.
  table_arn_prefix   = "arn:${data.aws_partition.current.partition}:dynamodb:${var.region}:${var.account_id}:table/"
  metadata_table_arn = "${local.table_arn_prefix}${local.metadata_table_name}"
  events_table_arn   = "${local.table_arn_prefix}${local.events_table_name}"

  # The events table's capacity: on demand (optionally capped), or provisioned and kept between a floor and a
  # ceiling by Application Auto Scaling. The metadata table takes a few writes per file and stays on demand.
  events_provisioned = var.events_billing_mode == "PROVISIONED"
  events_scaling = local.events_provisioned ? {
    write = merge(var.events_write_capacity, { dimension = "WriteCapacityUnits", metric = "DynamoDBWriteCapacityUtilization" })
    read = merge(
      coalesce(var.events_read_capacity, { min = 1, max = 10, target_utilization = 70 }),
      { dimension = "ReadCapacityUnits", metric = "DynamoDBReadCapacityUtilization" },
    )
  } : {}
  events_on_demand_maximum = !local.events_provisioned && (var.events_max_write_request_units != null || var.events_max_read_request_units != null)

  # Both tables share every setting but their keys; one definition keeps them from drifting apart.
  tables = {
    # One item per processed object version (the seed's keys).
    # The indexes answer the operator's questions without a Scan: the files of a day, of a shipper, and those that
    # need attention (problem_status is written only on FAILED and PARTIAL items, so by-problem stays small).
    metadata = {
      name      = local.metadata_table_name
      hash_key  = "filename"
      range_key = "upload_timestamp"
      indexes = {
        by-day     = { hash_key = "upload_day", range_key = "upload_timestamp" }
        by-shipper = { hash_key = "shipper", range_key = "upload_timestamp" }
        by-problem = { hash_key = "problem_status", range_key = "upload_timestamp" }
      }
    }
    # One item per accepted shipment update; event_key = "<UTC timestamp>#<STATUS>".
    events = {
      name      = local.events_table_name
      hash_key  = "shipment_id"
      range_key = "event_key"
      indexes   = {}
    }
  }
  billing_modes = { metadata = "PAY_PER_REQUEST", events = var.events_billing_mode }
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name         = each.value.name
  billing_mode = local.billing_modes[each.key]
  # Provisioned: the table starts at the auto scaling floor, which then owns these numbers (ignored below).
  read_capacity               = local.billing_modes[each.key] == "PROVISIONED" ? local.events_scaling.read.min : null
  write_capacity              = local.billing_modes[each.key] == "PROVISIONED" ? local.events_scaling.write.min : null
  hash_key                    = each.value.hash_key
  range_key                   = each.value.range_key
  deletion_protection_enabled = var.deletion_protection_enabled
  tags                        = var.tags

  # Every key attribute, of the table and of its indexes, is a string.
  dynamic "attribute" {
    for_each = toset(concat([each.value.hash_key, each.value.range_key], flatten([for index in values(each.value.indexes) : [index.hash_key, index.range_key]])))

    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.indexes

    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
    }
  }

  dynamic "on_demand_throughput" {
    for_each = each.key == "events" && local.events_on_demand_maximum ? [1] : []

    content {
      max_write_request_units = var.events_max_write_request_units
      max_read_request_units  = var.events_max_read_request_units
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  # Application Auto Scaling changes the provisioned capacity; an apply must not set it back to the floor. When
  # the mode changes from on demand to provisioned with these ignored, the provider starts the table at 1 unit
  # and the scaling target below raises it to the floor.
  lifecycle {
    ignore_changes = [read_capacity, write_capacity]
  }
}

# Target tracking on the events table's consumed/provisioned ratio (DynamoDB auto scaling). Application Auto
# Scaling uses its service-linked role, which it creates on first use.
resource "aws_appautoscaling_target" "events" {
  for_each = local.events_scaling

  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.this["events"].name}"
  scalable_dimension = "dynamodb:table:${each.value.dimension}"
  min_capacity       = each.value.min
  max_capacity       = each.value.max
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "events" {
  for_each = local.events_scaling

  name               = "${local.events_table_name}-${each.key}-utilization"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.events[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.events[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.events[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = each.value.target_utilization

    predefined_metric_specification {
      predefined_metric_type = each.value.metric
    }
  }
}
