# The smallest deployment: the four modules with their defaults. From this directory:
#   make -C ../.. package && terraform init && terraform apply -var environment=dev
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

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

module "s3" {
  source = "../../modules/s3"

  environment = var.environment
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
}

module "dynamodb" {
  source = "../../modules/dynamodb"

  environment = var.environment
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
}

module "lambda" {
  source = "../../modules/lambda"

  environment  = var.environment
  account_id   = data.aws_caller_identity.current.account_id
  region       = data.aws_region.current.name
  package_path = var.package_path

  bucket_id           = module.s3.bucket_id
  bucket_arn          = module.s3.bucket_arn
  metadata_table_name = module.dynamodb.metadata_table_name
  metadata_table_arn  = module.dynamodb.metadata_table_arn
  events_table_name   = module.dynamodb.events_table_name
  events_table_arn    = module.dynamodb.events_table_arn
}

module "monitoring" {
  source = "../../modules/monitoring"

  environment        = var.environment
  account_id         = data.aws_caller_identity.current.account_id
  region             = data.aws_region.current.name
  metrics_namespace  = module.lambda.metrics_namespace
  function_name      = module.lambda.function_name
  log_group_name     = module.lambda.log_group_name
  failure_queue_name = module.lambda.failure_queue_name
}

output "bucket_name" {
  description = "Bucket shippers upload to, under incoming/<shipper>/."
  value       = module.s3.bucket_id
}
