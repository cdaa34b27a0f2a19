variable "environment" {
  description = "Environment name; suffix of the bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 1-20 characters of lowercase letters, digits and hyphens."
  }
}

variable "name_prefix" {
  description = "First part of the bucket name (<name_prefix>-files-<account>-<region>-<environment>); change it to reuse the module for another system."
  type        = string
  default     = "shipment"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must be 1-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "AWS account id that owns the bucket; part of the globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the bucket; part of the globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "shipper_principals" {
  description = "Map of shipper name to the IAM principal ARNs allowed to upload under incoming/<shipper>/. Names become key prefixes, so they must be path-safe."
  type        = map(list(string))
  default     = {}
  nullable    = false

  # A name starts with a letter or digit, so incoming/_smoke/ (where `shipment-ops smoke` uploads) is no shipper's.
  validation {
    condition     = alltrue([for name in keys(var.shipper_principals) : can(regex("^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$", name))])
    error_message = "Each shipper name must be 1-64 characters of lowercase letters, digits, '-' and '_', starting and ending with a letter or digit (it becomes the key prefix incoming/<shipper>/). Refused: ${jsonencode([for name in keys(var.shipper_principals) : name if !can(regex("^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$", name))])}."
  }

  validation {
    condition     = length(distinct([for name in keys(var.shipper_principals) : replace(name, "/[-_]/", "")])) == length(var.shipper_principals)
    error_message = "Shipper names must stay distinct when '-' and '_' are ignored (they name the bucket policy statements). Colliding: ${jsonencode([for name in keys(var.shipper_principals) : name if length([for other in keys(var.shipper_principals) : other if replace(other, "/[-_]/", "") == replace(name, "/[-_]/", "")]) > 1])}."
  }

  validation {
    condition = alltrue([
      for principals in values(var.shipper_principals) :
      length(principals) > 0 && alltrue([for arn in principals : can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/:-]+$", arn))])
    ])
    error_message = "Each shipper needs at least one principal, and every principal must be an IAM ARN (arn:aws:iam::<account>:root|role/...|user/...). Refused shippers: ${jsonencode([for name, principals in var.shipper_principals : name if !(length(principals) > 0 && alltrue([for arn in principals : can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/:-]+$", arn))]))])}."
  }
}

variable "shipper_profiles" {
  description = "Map of shipper name to its profile: a JSON document (jsonencode({...}) or file(\"profiles/<shipper>.json\")) saying how the shipper's export maps onto the record contract (columns, status codes, timestamp formats and zone, CSV dialect, encoding, extra required fields, tighter limits; see docs/shipper-guide.md). A shipper without a profile sends the contract's own shape. Written to one S3 object the function reads within a minute of a change."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.shipper_profiles) : contains(keys(var.shipper_principals), name)])
    error_message = "Each profile must belong to a shipper declared in shipper_principals. Unknown: ${jsonencode([for name in keys(var.shipper_profiles) : name if !contains(keys(var.shipper_principals), name)])}."
  }

  validation {
    condition     = alltrue([for p in values(var.shipper_profiles) : can(keys(jsondecode(p)))])
    error_message = "Each profile must be a JSON object (use jsonencode({...}) or file(...)). Refused: ${jsonencode([for name, p in var.shipper_profiles : name if !(can(keys(jsondecode(p))))])}."
  }

  validation {
    condition     = alltrue([for p in values(var.shipper_profiles) : try(length(setsubtract(keys(jsondecode(p)), local.profile_settings)) == 0, true)])
    error_message = "A profile may only use the settings ${join(", ", local.profile_settings)}. Refused: ${jsonencode([for name, p in var.shipper_profiles : name if !(try(length(setsubtract(keys(jsondecode(p)), local.profile_settings)) == 0, true))])}."
  }

  validation {
    condition     = alltrue([for p in values(var.shipper_profiles) : try(contains(local.profile_encodings, lower(try(jsondecode(p).encoding, local.profile_encodings[0]))) && contains(local.profile_delimiters, try(jsondecode(p).csv.delimiter, local.profile_delimiters[0])) && contains(local.profile_quotes, try(jsondecode(p).csv.quote, local.profile_quotes[0])), true)])
    error_message = "A profile's encoding must be one of ${join(", ", local.profile_encodings)}; its csv.delimiter one of ',', ';', tab or '|'; its csv.quote a double or a single quote. Refused: ${jsonencode([for name, p in var.shipper_profiles : name if !(try(contains(local.profile_encodings, lower(try(jsondecode(p).encoding, local.profile_encodings[0]))) && contains(local.profile_delimiters, try(jsondecode(p).csv.delimiter, local.profile_delimiters[0])) && contains(local.profile_quotes, try(jsondecode(p).csv.quote, local.profile_quotes[0])), true))])}."
  }

  validation {
    condition     = alltrue([for p in values(var.shipper_profiles) : try(alltrue([for status in values(try(jsondecode(p).statuses.map, {})) : contains(local.statuses, upper(replace(trimspace(status), local.status_separators, local.status_joiner)))]), true)])
    error_message = "A profile's statuses.map must map each code to one of ${join(", ", local.statuses)}. Refused: ${jsonencode([for name, p in var.shipper_profiles : name if !(try(alltrue([for status in values(try(jsondecode(p).statuses.map, {})) : contains(local.statuses, upper(replace(trimspace(status), local.status_separators, local.status_joiner)))]), true))])}."
  }

  validation {
    condition     = alltrue([for p in values(var.shipper_profiles) : try(contains(local.nonexistent_rules, try(jsondecode(p).timestamps.nonexistent, local.nonexistent_rules[0])) && contains(local.ambiguous_rules, try(jsondecode(p).timestamps.ambiguous, local.ambiguous_rules[0])) && can(regex(local.zone_pattern, try(jsondecode(p).timestamps.zone, local.default_zone))), true)])
    error_message = "A profile's timestamps.nonexistent must be reject, shift_forward or shift_backward; timestamps.ambiguous reject, earlier or later; timestamps.zone an IANA name such as Europe/Berlin. Refused: ${jsonencode([for name, p in var.shipper_profiles : name if !(try(contains(local.nonexistent_rules, try(jsondecode(p).timestamps.nonexistent, local.nonexistent_rules[0])) && contains(local.ambiguous_rules, try(jsondecode(p).timestamps.ambiguous, local.ambiguous_rules[0])) && can(regex(local.zone_pattern, try(jsondecode(p).timestamps.zone, local.default_zone))), true))])}."
  }
}

variable "incoming_prefix" {
  description = "Key prefix under which shippers upload files; each shipper gets <incoming_prefix><shipper>/."
  type        = string
  default     = "incoming/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*/$", var.incoming_prefix))
    error_message = "incoming_prefix must be a single path segment of lowercase letters, digits, '-' or '_' ending with '/'."
  }
}

variable "rejects_prefix" {
  description = "Key prefix of the rejects reports (the lambda module's rejects_prefix); each shipper may read <rejects_prefix><incoming_prefix><shipper>/."
  type        = string
  default     = "rejected/"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*/$", var.rejects_prefix))
    error_message = "rejects_prefix must be a single path segment of lowercase letters, digits, '-' or '_' ending with '/'."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for SSE-KMS with an S3 bucket key; null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "create_shipper_kms_grants" {
  description = "Grant each shipper principal GenerateDataKey/Decrypt on kms_key_arn for this bucket; null = whenever kms_key_arn is set. Set it explicitly when the key is created in the same configuration (its ARN is unknown at plan time)."
  type        = bool
  default     = null
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete the bucket with all object versions in it. Keep false outside disposable environments."
  type        = bool
  default     = false
  nullable    = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted and their parts deleted."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of at least 1."
  }
}

variable "rejects_expiration_days" {
  description = "Days after which rejects reports (below rejects_prefix) expire; shippers read them within this time."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.rejects_expiration_days >= 3 && floor(var.rejects_expiration_days) == var.rejects_expiration_days
    error_message = "rejects_expiration_days must be a whole number of at least 3 (the temporary report parts below <rejects_prefix>.partial/ expire after 2)."
  }
}

variable "incoming_expiration_days" {
  description = "Days after which current uploads below incoming_prefix expire (they become noncurrent versions, deleted noncurrent_version_expiration_days later); null keeps them."
  type        = number
  default     = null

  validation {
    condition     = var.incoming_expiration_days == null || try(var.incoming_expiration_days >= 1 && floor(var.incoming_expiration_days) == var.incoming_expiration_days, false)
    error_message = "incoming_expiration_days must be null or a whole number of at least 1."
  }
}

variable "tags" {
  description = "Extra tags for the bucket (the root provider adds the default tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}
