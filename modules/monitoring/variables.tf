variable "environment" {
  description = "Environment name; suffix of every name and the value of the Environment metric dimension."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 1-20 characters of lowercase letters, digits and hyphens."
  }
}

variable "name_prefix" {
  description = "First part of every name (<name_prefix>-alarms-<environment>, ...); change it to reuse the module for another system."
  type        = string
  default     = "shipment"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "AWS account id of the alarm topic; used to build its ARN at plan time."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the metrics; used by the dashboard widgets and the topic ARN."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the handler's EMF metrics (the lambda module's metrics_namespace output)."
  type        = string

  validation {
    condition     = length(var.metrics_namespace) > 0 && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be a non-empty custom namespace (not AWS/...)."
  }
}

variable "function_name" {
  description = "Name of the processor function whose Errors are alarmed on."
  type        = string
}

variable "log_group_name" {
  description = "Log group of the processor function: the saved Logs Insights queries read it."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_/.#-]{1,512}$", var.log_group_name))
    error_message = "log_group_name must be a CloudWatch Logs group name."
  }
}

variable "failure_queue_name" {
  description = "Name of the SQS queue that receives events the function finally failed to process."
  type        = string
}

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for address in var.alarm_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "Each alarm email address must look like name@example.com."
  }
}

variable "failure_rate_threshold_percent" {
  description = "Alarm when more than this percentage of files fails within one 5-minute period."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.failure_rate_threshold_percent >= 0 && var.failure_rate_threshold_percent < 100
    error_message = "failure_rate_threshold_percent must be at least 0 and below 100."
  }
}

variable "failure_queue_age_threshold_seconds" {
  description = "Alarm when the oldest event in the failure queue is older than this (seconds); it must stay below the queue's 14-day retention so there is time to replay."
  type        = number
  default     = 864000
  nullable    = false

  validation {
    condition     = var.failure_queue_age_threshold_seconds >= 300 && var.failure_queue_age_threshold_seconds < 1209600
    error_message = "failure_queue_age_threshold_seconds must be at least 300 and below 1209600 (the queue's 14-day retention)."
  }
}

variable "runbook_url" {
  description = "Where operators find the runbook; every alarm description ends with it."
  type        = string
  default     = "docs/runbook.md in the shipment-processing repository"
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key ARN for the topic; its policy must let cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*. null creates a customer managed key that does (the AWS managed alias/aws/sns cannot)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "create_topic_key" {
  description = "Create the topic's own customer managed key; null = only when kms_key_arn is null. Set false explicitly when kms_key_arn is a key created in the same configuration (its ARN is unknown at plan time)."
  type        = bool
  default     = null
}

variable "tags" {
  description = "Extra tags for the topic and alarms (the root provider adds the default tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}
