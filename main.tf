data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  # The handler reads only below incoming/ and writes only below rejected/: the two must never overlap, or its own
  # rejects reports would trigger it.
  incoming_prefix = "incoming/"
  rejects_prefix  = "rejected/"
}

module "s3" {
  source = "./modules/s3"

  environment              = var.environment
  name_prefix              = var.name_prefix
  account_id               = local.account_id
  region                   = local.region
  shipper_principals       = var.shipper_principals
  shipper_profiles         = var.shipper_profiles
  incoming_prefix          = local.incoming_prefix
  rejects_prefix           = local.rejects_prefix
  kms_key_arn              = var.kms_key_arn
  force_destroy            = var.force_destroy
  rejects_expiration_days  = var.rejects_expiration_days
  incoming_expiration_days = var.incoming_expiration_days
  tags                     = var.tags
}

module "dynamodb" {
  source = "./modules/dynamodb"

  environment                 = var.environment
  name_prefix                 = var.name_prefix
  account_id                  = local.account_id
  region                      = local.region
  kms_key_arn                 = var.kms_key_arn
  deletion_protection_enabled = var.dynamodb_deletion_protection
  tags                        = var.tags

  events_billing_mode            = var.events_billing_mode
  events_max_write_request_units = var.events_max_write_request_units
  events_max_read_request_units  = var.events_max_read_request_units
  events_write_capacity          = var.events_write_capacity
  events_read_capacity           = var.events_read_capacity
}

module "lambda" {
  source = "./modules/lambda"

  environment = var.environment
  name_prefix = var.name_prefix
  account_id  = local.account_id
  region      = local.region

  package_path = var.package_s3 == null ? var.package_path : null
  package_s3   = var.package_s3

  runtime              = var.lambda_runtime
  memory_mb            = var.lambda_memory_mb
  timeout_s            = var.lambda_timeout_s
  reserved_concurrency = var.reserved_concurrency
  log_retention_days   = var.log_retention_days
  log_level            = var.log_level
  kms_key_arn          = var.kms_key_arn

  bucket_id             = module.s3.bucket_id
  bucket_arn            = module.s3.bucket_arn
  incoming_prefix       = local.incoming_prefix
  rejects_prefix        = local.rejects_prefix
  notification_suffixes = var.notification_suffixes
  profiles_key          = module.s3.profiles_key

  metadata_table_name = module.dynamodb.metadata_table_name
  metadata_table_arn  = module.dynamodb.metadata_table_arn
  events_table_name   = module.dynamodb.events_table_name
  events_table_arn    = module.dynamodb.events_table_arn

  max_object_bytes       = var.max_object_bytes
  max_decompressed_bytes = var.max_decompressed_bytes
  max_record_bytes       = var.max_record_bytes
  max_records            = var.max_records
  claim_timeout_s        = var.claim_timeout_s
  write_concurrency      = var.write_concurrency
  max_invocations        = var.max_invocations
  checkpoint_margin_ms   = var.checkpoint_margin_ms
  outcome_events_enabled = var.outcome_events_enabled
  outcome_event_source   = var.outcome_event_source
  events_write_path      = var.events_write_path

  tags = var.tags
}

module "monitoring" {
  source = "./modules/monitoring"

  environment           = var.environment
  name_prefix           = var.name_prefix
  account_id            = local.account_id
  region                = local.region
  metrics_namespace     = module.lambda.metrics_namespace
  function_name         = module.lambda.function_name
  log_group_name        = module.lambda.log_group_name
  failure_queue_name    = module.lambda.failure_queue_name
  alarm_email_addresses = var.alarm_email_addresses
  kms_key_arn           = var.kms_key_arn
  tags                  = var.tags
}
