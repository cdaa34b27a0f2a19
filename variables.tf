variable "environment" {
  description = "Environment name (dev, qa, prod, ...): suffix of every resource name and the Environment tag and metric dimension."
  type        = string
  default     = "dev"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 1-20 characters of lowercase letters, digits and hyphens (it ends up in bucket, table and function names)."
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
  description = "Deployment zip in S3 for runs that cannot build it (Terraform Cloud): bucket, key, optional object version. Takes precedence over package_path."
  type = object({
    bucket  = string
    key     = string
    version = optional(string)
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
  description = "Function timeout in seconds."
  type        = number
  default     = 30
  nullable    = false
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
  description = "LOG_LEVEL of the handler (DEBUG, INFO, WARNING, ERROR)."
  type        = string
  default     = "INFO"
  nullable    = false
}

variable "notification_suffixes" {
  description = "Key suffixes that trigger the function (one S3 filter each); [] = every object under incoming/."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the bucket, tables, queue, topic, log group and function environment; null = AWS managed encryption. Its key policy must admit logs.<region>.amazonaws.com and cloudwatch.amazonaws.com."
  type        = string
  default     = null
}

variable "max_object_bytes" {
  description = "MAX_OBJECT_BYTES: largest object the handler processes."
  type        = number
  default     = 536870912
  nullable    = false
}

variable "max_decompressed_bytes" {
  description = "MAX_DECOMPRESSED_BYTES: largest decompressed size of a gzip object."
  type        = number
  default     = 2147483648
  nullable    = false
}

variable "max_record_bytes" {
  description = "MAX_RECORD_BYTES: largest single record."
  type        = number
  default     = 65536
  nullable    = false
}

variable "max_records" {
  description = "MAX_RECORDS: most records processed from one file."
  type        = number
  default     = 10000000
  nullable    = false
}

variable "tags" {
  description = "Extra tags for every resource, on top of the provider's default tags (Project, Environment, ManagedBy)."
  type        = map(string)
  default     = {}
  nullable    = false
}
