variable "environment" {
  description = "Environment name; suffix of every table name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 1-20 characters of lowercase letters, digits and hyphens."
  }
}

variable "name_prefix" {
  description = "First part of every table name (<name_prefix>-metadata-<environment>, ...); change it to reuse the module for another system."
  type        = string
  default     = "shipment"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "AWS account id of the tables; used to build their ARNs at plan time."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the tables; used to build their ARNs at plan time."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for table encryption; null uses the AWS managed key (alias/aws/dynamodb)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "deletion_protection_enabled" {
  description = "Refuse DeleteTable on both tables. Default false so dev and test environments can be destroyed; set true for production."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Extra tags for the tables (the root provider adds the default tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}
