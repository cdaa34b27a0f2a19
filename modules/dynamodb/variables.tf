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

variable "events_billing_mode" {
  description = "Capacity mode of the events table: PAY_PER_REQUEST (on demand, the default) or PROVISIONED (with auto scaling between events_write_capacity's min and max). The metadata table stays on demand."
  type        = string
  default     = "PAY_PER_REQUEST"
  nullable    = false

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.events_billing_mode)
    error_message = "events_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "events_max_write_request_units" {
  description = "On demand only: the most write request units per second the events table may use (its on_demand_throughput maximum; writes above it are throttled). null = no maximum of its own (the account's table quota, 40,000 by default, still applies)."
  type        = number
  default     = null

  validation {
    condition     = var.events_max_write_request_units == null || try(var.events_max_write_request_units >= 1 && floor(var.events_max_write_request_units) == var.events_max_write_request_units, false)
    error_message = "events_max_write_request_units must be null or a whole number of at least 1."
  }
  validation {
    condition     = var.events_max_write_request_units == null || var.events_billing_mode == "PAY_PER_REQUEST"
    error_message = "events_max_write_request_units applies to on-demand tables only: with PROVISIONED, events_write_capacity.max bounds the table."
  }
}

variable "events_max_read_request_units" {
  description = "On demand only: the most read request units per second the events table may use (its on_demand_throughput maximum). null = no maximum of its own."
  type        = number
  default     = null

  validation {
    condition     = var.events_max_read_request_units == null || try(var.events_max_read_request_units >= 1 && floor(var.events_max_read_request_units) == var.events_max_read_request_units, false)
    error_message = "events_max_read_request_units must be null or a whole number of at least 1."
  }
  validation {
    condition     = var.events_max_read_request_units == null || var.events_billing_mode == "PAY_PER_REQUEST"
    error_message = "events_max_read_request_units applies to on-demand tables only: with PROVISIONED, events_read_capacity.max bounds the table."
  }
}

variable "events_write_capacity" {
  description = "PROVISIONED only, and required there: write capacity units the auto scaling keeps the events table between, and the utilisation (percent of provisioned, 20-90) it aims at."
  type = object({
    min                = number
    max                = number
    target_utilization = optional(number, 70)
  })
  default = null

  validation {
    condition     = (var.events_write_capacity != null) == (var.events_billing_mode == "PROVISIONED")
    error_message = "events_write_capacity is required with events_billing_mode = PROVISIONED, and only then."
  }
  validation {
    condition = var.events_write_capacity == null || try(
      var.events_write_capacity.min >= 1 && floor(var.events_write_capacity.min) == var.events_write_capacity.min &&
      var.events_write_capacity.max >= var.events_write_capacity.min && floor(var.events_write_capacity.max) == var.events_write_capacity.max &&
      var.events_write_capacity.target_utilization >= 20 && var.events_write_capacity.target_utilization <= 90,
      false
    )
    error_message = "events_write_capacity needs whole numbers 1 <= min <= max, and a target_utilization between 20 and 90 (percent)."
  }
}

variable "events_read_capacity" {
  description = "PROVISIONED only: read capacity units the auto scaling keeps the events table between, and its target utilisation (20-90). null = min 1, max 10, 70 % (operators' lookups only)."
  type = object({
    min                = number
    max                = number
    target_utilization = optional(number, 70)
  })
  default = null

  validation {
    condition     = var.events_read_capacity == null || var.events_billing_mode == "PROVISIONED"
    error_message = "events_read_capacity applies to events_billing_mode = PROVISIONED only."
  }
  validation {
    condition = var.events_read_capacity == null || try(
      var.events_read_capacity.min >= 1 && floor(var.events_read_capacity.min) == var.events_read_capacity.min &&
      var.events_read_capacity.max >= var.events_read_capacity.min && floor(var.events_read_capacity.max) == var.events_read_capacity.max &&
      var.events_read_capacity.target_utilization >= 20 && var.events_read_capacity.target_utilization <= 90,
      false
    )
    error_message = "events_read_capacity needs whole numbers 1 <= min <= max, and a target_utilization between 20 and 90 (percent)."
  }
}
