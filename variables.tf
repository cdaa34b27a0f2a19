variable "environment" {
  description = "Environment name (dev, qa, prod, ...): suffix of every resource name and the Environment tag and metric dimension. No default: a Terraform Cloud workspace or a bare `terraform apply` must say which environment it builds."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 1-20 characters of lowercase letters, digits and hyphens (it ends up in bucket, table and function names)."
  }

  # A CLI workspace (make ENV=prod selects workspace "prod") holds one environment's state; building another
  # environment's names into it would replace every resource. Terraform Cloud runs always see "default".
  validation {
    condition     = contains(["default", var.environment], terraform.workspace)
    error_message = "environment does not match the Terraform workspace: use environment = the workspace name (make plan ENV=<workspace>), or the default workspace."
  }
}

variable "name_prefix" {
  description = "First part of every resource name (<name_prefix>-processor-<environment>, ...)."
  type        = string
  default     = "shipment"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "aws_region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as eu-west-1."
  }
}

variable "shipper_principals" {
  description = "Shipper name => IAM principal ARNs allowed to upload under incoming/<shipper>/ (and nowhere else)."
  type        = map(list(string))
  default     = {}
  nullable    = false
}

variable "shipper_profiles" {
  description = "Shipper name => its profile, a JSON document (jsonencode({...}) or file(...)): how that shipper's export maps onto the record contract. Every name must also be in shipper_principals. See docs/shipper-guide.md, \"Onboarding a shipper\"."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "package_path" {
  description = "Deployment zip built by `make package`, relative to this directory. Ignored when package_s3 is set."
  type        = string
  default     = "build/shipment_processor.zip"
  nullable    = false
}

variable "package_s3" {
  description = "Deployment zip in S3 for runs that cannot build it (Terraform Cloud): bucket (in aws_region), key and object version (overwriting a key alone never redeploys). Takes precedence over package_path."
  type = object({
    bucket  = string
    key     = string
    version = string
  })
  default = null
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket with its objects. For disposable environments only."
  type        = bool
  default     = false
  nullable    = false
}

variable "dynamodb_deletion_protection" {
  description = "Deletion protection on both tables. Default false so dev/test environments can be destroyed; set true for production."
  type        = bool
  default     = false
  nullable    = false
}

variable "events_billing_mode" {
  description = "Capacity mode of the events table: PAY_PER_REQUEST (on demand) or PROVISIONED (auto scaled within events_write_capacity). See the README's sizing section."
  type        = string
  default     = "PAY_PER_REQUEST"
  nullable    = false
}

variable "events_max_write_request_units" {
  description = "On demand only: the events table's maximum write request units per second (on_demand_throughput); writes above it are throttled. null = none of its own."
  type        = number
  default     = null
}

variable "events_max_read_request_units" {
  description = "On demand only: the events table's maximum read request units per second (on_demand_throughput). null = none of its own."
  type        = number
  default     = null
}

variable "events_write_capacity" {
  description = "PROVISIONED only, and required there: write capacity units the auto scaling keeps the events table between, and its target utilisation in percent (20-90, default 70)."
  type = object({
    min                = number
    max                = number
    target_utilization = optional(number, 70)
  })
  default = null
}

variable "events_read_capacity" {
  description = "PROVISIONED only: read capacity units the auto scaling keeps the events table between, and its target utilisation; null = 1 to 10 at 70 %."
  type = object({
    min                = number
    max                = number
    target_utilization = optional(number, 70)
  })
  default = null
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 7
  nullable    = false
}

variable "lambda_memory_mb" {
  description = "Function memory in MB."
  type        = number
  default     = 256
  nullable    = false
}

variable "lambda_timeout_s" {
  description = "Function timeout in seconds (above checkpoint_margin_ms, below claim_timeout_s)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.lambda_timeout_s >= 1 && var.lambda_timeout_s <= 900 && floor(var.lambda_timeout_s) == var.lambda_timeout_s
    error_message = "lambda_timeout_s must be a whole number between 1 and 900."
  }
}

variable "lambda_runtime" {
  description = "Lambda Python runtime (python3.12 or python3.13)."
  type        = string
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.12 or python3.13 (earlier runtimes are deprecated)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions for the function; null = unreserved."
  type        = number
  default     = null
}

variable "log_level" {
  description = "LOG_LEVEL of the handler (DEBUG, INFO, WARNING, ERROR, CRITICAL). DEBUG also lowers the function's application log level so DEBUG lines reach CloudWatch."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], upper(var.log_level))
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (LOG_LEVEL in lambda_src/shipment_processor/config.py)."
  }
}

variable "notification_suffixes" {
  description = "Key suffixes that trigger the function (one S3 filter each); [] = every object under incoming/."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key (in aws_region) for the bucket, tables, queue, topic, log group and function environment; null = AWS managed encryption. Its key policy must admit logs.<region>.amazonaws.com and cloudwatch.amazonaws.com, and let terraform create grants for the shippers."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }

  # KMS keys are regional and every service here accepts only a key of its own region.
  validation {
    condition     = var.kms_key_arn == null || try(split(":", var.kms_key_arn)[3] == var.aws_region, false)
    error_message = "kms_key_arn must be a key in aws_region (KMS keys are regional; use a multi-Region replica in that region)."
  }
}

variable "max_object_bytes" {
  description = "MAX_OBJECT_BYTES: largest object the handler processes."
  type        = number
  default     = 536870912
  nullable    = false

  validation {
    condition     = var.max_object_bytes >= 1 && var.max_object_bytes <= 5497558138880 && floor(var.max_object_bytes) == var.max_object_bytes
    error_message = "max_object_bytes must be a whole number between 1 and 5497558138880 (MAX_OBJECT_BYTES in lambda_src/shipment_processor/config.py)."
  }
}

variable "max_decompressed_bytes" {
  description = "MAX_DECOMPRESSED_BYTES: largest decompressed size of a gzip object."
  type        = number
  default     = 2147483648
  nullable    = false

  validation {
    condition     = var.max_decompressed_bytes >= 1 && var.max_decompressed_bytes <= 1125899906842624 && floor(var.max_decompressed_bytes) == var.max_decompressed_bytes
    error_message = "max_decompressed_bytes must be a whole number between 1 and 1125899906842624 (MAX_DECOMPRESSED_BYTES in lambda_src/shipment_processor/config.py)."
  }

  # config.py's gzip_limit_reachable: a gzip at this limit must be readable within max_invocations invocations of
  # this memory and timeout (CPU share = memory / 1769 MB, at most one core: the reader is one thread; 0.025 CPU-s
  # per MiB of content, 0.05 CPU-s per resume).
  validation {
    condition     = var.max_decompressed_bytes <= var.max_invocations * ((var.lambda_timeout_s - var.checkpoint_margin_ms / 1000) * min(var.lambda_memory_mb / 1769, 1) - 0.05) / 0.025 * 1048576
    error_message = "max_decompressed_bytes is more gzip content than max_invocations invocations of this memory and timeout can read (max_invocations x ((timeout - checkpoint margin) x min(memory / 1769 MB, 1 core) - 0.05 CPU-s) / 0.025 CPU-s per MiB): raise lambda_memory_mb (up to 1769), lambda_timeout_s or max_invocations, or lower max_decompressed_bytes (gzip_limit_reachable in lambda_src/shipment_processor/config.py)."
  }
}

variable "max_record_bytes" {
  description = "MAX_RECORD_BYTES: largest single record."
  type        = number
  default     = 65536
  nullable    = false

  validation {
    condition     = var.max_record_bytes >= 64 && var.max_record_bytes <= 1048576 && floor(var.max_record_bytes) == var.max_record_bytes
    error_message = "max_record_bytes must be a whole number between 64 and 1048576 (MAX_RECORD_BYTES in lambda_src/shipment_processor/config.py)."
  }
}

variable "max_records" {
  description = "MAX_RECORDS: most records processed from one file."
  type        = number
  default     = 10000000
  nullable    = false

  validation {
    condition     = var.max_records >= 1 && var.max_records <= 1000000000 && floor(var.max_records) == var.max_records
    error_message = "max_records must be a whole number between 1 and 1000000000 (MAX_RECORDS in lambda_src/shipment_processor/config.py)."
  }
}

variable "claim_timeout_s" {
  description = "CLAIM_TIMEOUT_S: seconds after which an unfinished claim on a file may be taken over."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.claim_timeout_s >= 1 && var.claim_timeout_s <= 86400 && floor(var.claim_timeout_s) == var.claim_timeout_s
    error_message = "claim_timeout_s must be a whole number between 1 and 86400 (CLAIM_TIMEOUT_S in lambda_src/shipment_processor/config.py)."
  }

  # Checked with the same rule by config.py when FUNCTION_TIMEOUT_S is set (timing_problems).
  validation {
    condition     = var.claim_timeout_s > var.lambda_timeout_s
    error_message = "claim_timeout_s must be above lambda_timeout_s: a file would be taken over while its invocation still runs."
  }
}

variable "write_concurrency" {
  description = "WRITE_CONCURRENCY: BatchWriteItem requests the handler keeps in flight."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.write_concurrency >= 1 && var.write_concurrency <= 32 && floor(var.write_concurrency) == var.write_concurrency
    error_message = "write_concurrency must be a whole number between 1 and 32 (WRITE_CONCURRENCY in lambda_src/shipment_processor/config.py)."
  }
}

variable "max_invocations" {
  description = "MAX_INVOCATIONS: most invocations one file may take (bounds the handler's chain of self-invocations)."
  type        = number
  default     = 500
  nullable    = false

  validation {
    condition     = var.max_invocations >= 1 && var.max_invocations <= 10000 && floor(var.max_invocations) == var.max_invocations
    error_message = "max_invocations must be a whole number between 1 and 10000 (MAX_INVOCATIONS in lambda_src/shipment_processor/config.py)."
  }
}

variable "checkpoint_margin_ms" {
  description = "CHECKPOINT_MARGIN_MS: milliseconds before the timeout at which the handler hands the rest of a file to a new invocation."
  type        = number
  default     = 5000
  nullable    = false

  validation {
    condition     = var.checkpoint_margin_ms >= 100 && var.checkpoint_margin_ms <= 600000 && floor(var.checkpoint_margin_ms) == var.checkpoint_margin_ms
    error_message = "checkpoint_margin_ms must be a whole number between 100 and 600000 (CHECKPOINT_MARGIN_MS in lambda_src/shipment_processor/config.py)."
  }

  # Checked with the same rule by config.py when FUNCTION_TIMEOUT_S is set (timing_problems).
  validation {
    condition     = var.checkpoint_margin_ms < var.lambda_timeout_s * 1000
    error_message = "checkpoint_margin_ms must be below lambda_timeout_s in milliseconds: an invocation would checkpoint before doing any work."
  }
}

variable "outcome_events_enabled" {
  description = "OUTCOME_EVENTS: one EventBridge event per finished file on the default bus (detail-type \"Shipment File Processed\")."
  type        = bool
  default     = true
  nullable    = false
}

variable "outcome_event_source" {
  description = "OUTCOME_EVENT_SOURCE: source of the outcome events; null = <name_prefix>-processing.<environment>."
  type        = string
  default     = null

  validation {
    condition     = var.outcome_event_source == null || try(can(regex("^[A-Za-z0-9._/-]{1,256}$", var.outcome_event_source)) && !startswith(var.outcome_event_source, "aws."), false)
    error_message = "outcome_event_source must be 1-256 letters, digits, '.', '_', '/' or '-', and not start with 'aws.' (OUTCOME_EVENT_SOURCE in lambda_src/shipment_processor/config.py)."
  }
}

variable "events_write_path" {
  description = "EVENTS_WRITE_PATH: which of the handler's two write paths stores shipment events, direct (the default) or sdk."
  type        = string
  default     = "direct"
  nullable    = false

  validation {
    condition     = contains(["direct", "sdk"], lower(var.events_write_path))
    error_message = "events_write_path must be direct or sdk (EVENTS_WRITE_PATH in lambda_src/shipment_processor/config.py)."
  }
}

variable "rejects_expiration_days" {
  description = "Days after which rejects reports expire (shippers read theirs within this time)."
  type        = number
  default     = 90
  nullable    = false
}

variable "incoming_expiration_days" {
  description = "Days after which uploaded files under incoming/ expire; null (default) keeps them."
  type        = number
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource, on top of the provider's default tags (Project, Environment, ManagedBy)."
  type        = map(string)
  default     = {}
  nullable    = false
}
