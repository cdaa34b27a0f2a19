# Everything switched on: one customer managed key for the bucket, tables, queue, logs, topic and function
# environment; two shippers (one in another account); alarm emails; a name prefix of its own. From this directory:
#   make -C ../.. package && terraform init && terraform apply -var environment=prod
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "shipment-processing"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

variable "environment" {
  description = "Environment name: suffix of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "package_path" {
  description = "Deployment zip built by `make package` in the repository root."
  type        = string
  default     = "../../build/shipment_processor.zip"
}

variable "shipper_principals" {
  description = "Shipper name => IAM principal ARNs allowed to upload under incoming/<shipper>/."
  type        = map(list(string))
  default = {
    acme-logistics = ["arn:aws:iam::210987654321:role/acme-uploader"]
    globex         = ["arn:aws:iam::123456789012:role/globex-uploader"]
  }
}

variable "shipper_profiles" {
  description = "Shipper name => its profile (JSON), for shippers whose export has another shape than the contract's."
  type        = map(string)
  default = {
    globex = "{\"csv\": {\"delimiter\": \";\"}, \"statuses\": {\"map\": {\"zugestellt\": \"DELIVERED\"}, \"accept_contract_words\": true}}"
  }
}

variable "alarm_email_addresses" {
  description = "Addresses that receive the alarms (each must confirm its subscription)."
  type        = list(string)
  default     = ["oncall@example.com"]
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for the function; null = unreserved. Lambda keeps 100 of the account's concurrency unreserved, so reserving any needs an account quota above 100 plus what is reserved; new accounts often start at 10 (Service Quotas, \"Concurrent executions\")."
  type        = number
  default     = null
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
  name_prefix = "parcels"
}

# The key every module encrypts with. Its policy admits this account (so IAM policies and the terraform runner's
# kms:CreateGrant for the shipper grants work), CloudWatch Logs for the log group and CloudWatch alarms for the
# topic; the function's role gets kms:Decrypt/GenerateDataKey from the lambda module.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:In a key policy "*" is this key; the account root must administer its own key.
  #checkov:skip=CKV_AWS_111:In a key policy "*" is this key; write access is limited to the account and two services.
  #checkov:skip=CKV_AWS_356:In a key policy the resource can only be "*" (the key the policy is attached to).
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheLogGroup"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "Encrypts the ${local.name_prefix} shipment-processing stack (${var.environment})."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

module "s3" {
  source = "../../modules/s3"

  environment        = var.environment
  name_prefix        = local.name_prefix
  account_id         = local.account_id
  region             = local.region
  kms_key_arn        = aws_kms_key.this.arn
  shipper_principals = var.shipper_principals
  shipper_profiles   = var.shipper_profiles
  # The key is created here, so its ARN is unknown at plan time: say explicitly that shippers get grants.
  create_shipper_kms_grants = true
}

module "dynamodb" {
  source = "../../modules/dynamodb"

  environment                 = var.environment
  name_prefix                 = local.name_prefix
  account_id                  = local.account_id
  region                      = local.region
  kms_key_arn                 = aws_kms_key.this.arn
  deletion_protection_enabled = true
}

module "lambda" {
  source = "../../modules/lambda"

  environment           = var.environment
  name_prefix           = local.name_prefix
  account_id            = local.account_id
  region                = local.region
  package_path          = var.package_path
  kms_key_arn           = aws_kms_key.this.arn
  reserved_concurrency  = var.reserved_concurrency
  notification_suffixes = [".csv", ".json", ".jsonl", ".gz"]
  profiles_key          = module.s3.profiles_key

  bucket_id           = module.s3.bucket_id
  bucket_arn          = module.s3.bucket_arn
  metadata_table_name = module.dynamodb.metadata_table_name
  metadata_table_arn  = module.dynamodb.metadata_table_arn
  events_table_name   = module.dynamodb.events_table_name
  events_table_arn    = module.dynamodb.events_table_arn
}

module "monitoring" {
  source = "../../modules/monitoring"

  environment           = var.environment
  name_prefix           = local.name_prefix
  account_id            = local.account_id
  region                = local.region
  metrics_namespace     = module.lambda.metrics_namespace
  function_name         = module.lambda.function_name
  log_group_name        = module.lambda.log_group_name
  failure_queue_name    = module.lambda.failure_queue_name
  alarm_email_addresses = var.alarm_email_addresses
  kms_key_arn           = aws_kms_key.this.arn
  create_topic_key      = false
}

output "bucket_name" {
  description = "Bucket shippers upload to, under incoming/<shipper>/."
  value       = module.s3.bucket_id
}

output "kms_key_arn" {
  description = "The stack's key; shippers pass it (or nothing) as the upload's SSE-KMS key."
  value       = aws_kms_key.this.arn
}
