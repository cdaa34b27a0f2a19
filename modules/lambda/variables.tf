variable "environment" {
  description = "Environment name; suffix of every name and the ENVIRONMENT the handler reports."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 1-20 characters of lowercase letters, digits and hyphens."
  }
}

variable "name_prefix" {
  description = "First part of every name (<name_prefix>-processor-<environment>, ...); change it to reuse the module for another system in the same account."
  type        = string
  default     = "shipment"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "AWS account id of the function and the bucket; builds ARNs at plan time and is the source_account of the S3 invoke permission."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the function; used to build ARNs at plan time."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "package_path" {
  description = "Path of the deployment zip (built by `make package`), relative to the root module directory. Exactly one of package_path and package_s3 must be set."
  type        = string
  default     = null
}

variable "package_s3" {
  description = "Deployment zip in S3 (for Terraform Cloud runs, which cannot build it): bucket, key and object version. The bucket must be in the function's region. Exactly one of package_path and package_s3 must be set."
  type = object({
    bucket  = string
    key     = string
    version = string
  })
  default = null

  validation {
    condition     = var.package_s3 == null || try(length(var.package_s3.bucket) > 0 && length(var.package_s3.key) > 0, false)
    error_message = "package_s3 needs a non-empty bucket and key."
  }

  # Lambda fetches the zip only when one of bucket, key or version changes: overwriting the same key would never
  # redeploy. The version (of a versioned artifact bucket) makes every upload a change the plan shows.
  validation {
    condition     = var.package_s3 == null || try(length(var.package_s3.version) > 0, false)
    error_message = "package_s3.version must be the S3 object version of the uploaded zip (aws s3api put-object ... prints it as VersionId): with the key alone, re-uploading the zip never redeploys the function."
  }
}

variable "runtime" {
  description = "Lambda Python runtime."
  type        = string
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13."
  }
}

variable "memory_mb" {
  description = "Function memory in MB (CPU scales with it)."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240 && floor(var.memory_mb) == var.memory_mb
    error_message = "memory_mb must be a whole number between 128 and 10240."
  }
}

variable "timeout_s" {
  description = "Function timeout in seconds."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.timeout_s >= 1 && var.timeout_s <= 900 && floor(var.timeout_s) == var.timeout_s
    error_message = "timeout_s must be a whole number between 1 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; null leaves the function unreserved (shares the account pool)."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 0 && floor(var.reserved_concurrency) == var.reserved_concurrency, false)
    error_message = "reserved_concurrency must be null or a whole number >= 0 (0 stops all invocations)."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the handler's logger (DEBUG, INFO, WARNING, ERROR, CRITICAL; any case). DEBUG also lowers the function's application_log_level to DEBUG; it never rises above INFO, which would drop the un-levelled EMF metric lines."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], upper(var.log_level))
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (LOG_LEVEL in lambda_src/shipment_processor/config.py)."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN used by the bucket, tables, queue and logs; when set the function encrypts its environment with it and the role may use it. null = AWS managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "bucket_id" {
  description = "Name of the shipment files bucket whose ObjectCreated events invoke the function."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the shipment files bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "metadata_table_name" {
  description = "Name of the file metadata table (METADATA_TABLE)."
  type        = string
}

variable "metadata_table_arn" {
  description = "ARN of the file metadata table."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", var.metadata_table_arn))
    error_message = "metadata_table_arn must be a DynamoDB table ARN."
  }
}

variable "events_table_name" {
  description = "Name of the shipment events table (EVENTS_TABLE)."
  type        = string
}

variable "events_table_arn" {
  description = "ARN of the shipment events table."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", var.events_table_arn))
    error_message = "events_table_arn must be a DynamoDB table ARN."
  }
}

variable "profiles_key" {
  description = "Key, in the files bucket, of the shipper profiles object (the s3 module's profiles_key); null: no shipper has a profile. Sets PROFILES_BUCKET and PROFILES_KEY, and lets the role read that one object."
  type        = string
  default     = null

  validation {
    condition     = var.profiles_key == null || can(regex("^[A-Za-z0-9!_.*'()/-]+$", var.profiles_key))
    error_message = "profiles_key must be an S3 key of safe characters (letters, digits, !_.*'()/-)."
  }
}

variable "incoming_prefix" {
  description = "Key prefix whose new objects invoke the function (INCOMING_PREFIX); the role may read only below it."
  type        = string
  default     = "incoming/"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*/$", var.incoming_prefix))
    error_message = "incoming_prefix must be a single path segment of lowercase letters, digits, '-' or '_' ending with '/'."
  }
}

variable "rejects_prefix" {
  description = "Key prefix for rejects reports (REJECTS_PREFIX); the role may write only below it. Must not overlap incoming_prefix, or the function would trigger itself."
  type        = string
  default     = "rejected/"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*/$", var.rejects_prefix))
    error_message = "rejects_prefix must be a single path segment of lowercase letters, digits, '-' or '_' ending with '/'."
  }
}

variable "notification_suffixes" {
  description = "Key suffixes (case-sensitive) that trigger the function, one notification filter each; [] triggers on every object under incoming_prefix, so unknown extensions reach the handler's sniffer."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for s in var.notification_suffixes : length(s) > 0 && !strcontains(s, "/")]) && length(distinct(var.notification_suffixes)) == length(var.notification_suffixes)
    error_message = "notification_suffixes must be distinct, non-empty and contain no '/'."
  }

  validation {
    condition     = alltrue([for a in var.notification_suffixes : alltrue([for b in var.notification_suffixes : a == b || !endswith(a, b)])])
    error_message = "No notification suffix may end with another one (S3 rejects overlapping filters, e.g. '.gz' and '.csv.gz')."
  }
}

variable "max_object_bytes" {
  description = "MAX_OBJECT_BYTES: largest object (as stored) the handler will process."
  type        = number
  default     = 536870912
  nullable    = false

  validation {
    condition     = var.max_object_bytes >= 1 && var.max_object_bytes <= 5497558138880 && floor(var.max_object_bytes) == var.max_object_bytes
    error_message = "max_object_bytes must be a whole number between 1 and 5497558138880 (MAX_OBJECT_BYTES in lambda_src/shipment_processor/config.py)."
  }
}

variable "max_decompressed_bytes" {
  description = "MAX_DECOMPRESSED_BYTES: largest decompressed size of a gzip object (guards against gzip bombs)."
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
    condition     = var.max_decompressed_bytes <= var.max_invocations * ((var.timeout_s - var.checkpoint_margin_ms / 1000) * min(var.memory_mb / 1769, 1) - 0.05) / 0.025 * 1048576
    error_message = "max_decompressed_bytes is more gzip content than max_invocations invocations of this memory and timeout can read (max_invocations x ((timeout - checkpoint margin) x min(memory / 1769 MB, 1 core) - 0.05 CPU-s) / 0.025 CPU-s per MiB): raise memory_mb (up to 1769), timeout_s or max_invocations, or lower max_decompressed_bytes (gzip_limit_reachable in lambda_src/shipment_processor/config.py)."
  }
}

variable "max_record_bytes" {
  description = "MAX_RECORD_BYTES: largest single record (line or JSON object)."
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
  description = "CLAIM_TIMEOUT_S: seconds after which another invocation may take over a file's unfinished claim (keep it above timeout_s)."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.claim_timeout_s >= 1 && var.claim_timeout_s <= 86400 && floor(var.claim_timeout_s) == var.claim_timeout_s
    error_message = "claim_timeout_s must be a whole number between 1 and 86400 (CLAIM_TIMEOUT_S in lambda_src/shipment_processor/config.py)."
  }

  # Checked with the same rule by config.py when FUNCTION_TIMEOUT_S is set (timing_problems).
  validation {
    condition     = var.claim_timeout_s > var.timeout_s
    error_message = "claim_timeout_s must be above timeout_s: a file would be taken over while its invocation still runs."
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
  description = "MAX_INVOCATIONS: most invocations one file may take (the handler's bound on its own chain of self-invocations)."
  type        = number
  default     = 500
  nullable    = false

  validation {
    condition     = var.max_invocations >= 1 && var.max_invocations <= 10000 && floor(var.max_invocations) == var.max_invocations
    error_message = "max_invocations must be a whole number between 1 and 10000 (MAX_INVOCATIONS in lambda_src/shipment_processor/config.py)."
  }
}

variable "checkpoint_margin_ms" {
  description = "CHECKPOINT_MARGIN_MS: milliseconds before the timeout at which the handler checkpoints and hands the rest of a file to a new invocation."
  type        = number
  default     = 5000
  nullable    = false

  validation {
    condition     = var.checkpoint_margin_ms >= 100 && var.checkpoint_margin_ms <= 600000 && floor(var.checkpoint_margin_ms) == var.checkpoint_margin_ms
    error_message = "checkpoint_margin_ms must be a whole number between 100 and 600000 (CHECKPOINT_MARGIN_MS in lambda_src/shipment_processor/config.py)."
  }

  # Checked with the same rule by config.py when FUNCTION_TIMEOUT_S is set (timing_problems).
  validation {
    condition     = var.checkpoint_margin_ms < var.timeout_s * 1000
    error_message = "checkpoint_margin_ms must be below timeout_s in milliseconds: an invocation would checkpoint before doing any work."
  }
}

variable "outcome_events_enabled" {
  description = "OUTCOME_EVENTS: put one EventBridge event (detail-type \"Shipment File Processed\") per finished file on the account's default bus; the role may put events only when true."
  type        = bool
  default     = true
  nullable    = false
}

variable "outcome_event_source" {
  description = "OUTCOME_EVENT_SOURCE: source of the outcome events (the role may put events with this source only); null = <name_prefix>-processing.<environment>."
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

variable "maximum_event_age_in_seconds" {
  description = "How long Lambda keeps retrying an S3 event before sending it to the failure queue."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600
    error_message = "maximum_event_age_in_seconds must be between 60 and 21600."
  }
}

variable "maximum_retry_attempts" {
  description = "Asynchronous retries after a failed invocation before the event goes to the failure queue."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "tags" {
  description = "Extra tags for the function, role, log group and queue (the root provider adds the default tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}
