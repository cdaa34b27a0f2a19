data "aws_partition" "current" {}

locals {
  metadata_table_name = "shipment-metadata-${var.environment}"
  events_table_name   = "shipment-events-${var.environment}"
  # Built rather than read from the tables so IAM policies that use them are known at plan time.
  table_arn_prefix   = "arn:${data.aws_partition.current.partition}:dynamodb:${var.region}:${var.account_id}:table/"
  metadata_table_arn = "${local.table_arn_prefix}${local.metadata_table_name}"
  events_table_arn   = "${local.table_arn_prefix}${local.events_table_name}"

  # Both tables share every setting but their keys; one definition keeps them from drifting apart.
  tables = {
    # One item per processed object version (the seed's keys).
    metadata = {
      name      = local.metadata_table_name
      hash_key  = "filename"
      range_key = "upload_timestamp"
    }
    # One item per accepted shipment update; event_key = "<UTC timestamp>#<STATUS>".
    events = {
      name      = local.events_table_name
      hash_key  = "shipment_id"
      range_key = "event_key"
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

  attribute {
    name = each.value.hash_key
    type = "S"
  }

  attribute {
    name = each.value.range_key
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
