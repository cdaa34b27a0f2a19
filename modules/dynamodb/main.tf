data "aws_partition" "current" {}

locals {
  metadata_table_name = "${var.name_prefix}-metadata-${var.environment}"
  events_table_name   = "${var.name_prefix}-events-${var.environment}"
  # Built rather than read from the tables so IAM policies that use them are known at plan time.
  table_arn_prefix   = "arn:${data.aws_partition.current.partition}:dynamodb:${var.region}:${var.account_id}:table/"
  metadata_table_arn = "${local.table_arn_prefix}${local.metadata_table_name}"
  events_table_arn   = "${local.table_arn_prefix}${local.events_table_name}"

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
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name                        = each.value.name
  billing_mode                = "PAY_PER_REQUEST"
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

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
