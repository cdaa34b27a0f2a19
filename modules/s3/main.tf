data "aws_partition" "current" {}

locals {
  # Account and region make the name globally unique; the environment suffix keeps environments apart.
  bucket_name = "${var.name_prefix}-files-${var.account_id}-${var.region}-${var.environment}"
  # Built rather than read from the bucket so the policy (and every consumer's IAM policy) is known at plan time.
  bucket_arn    = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"
  use_kms       = var.kms_key_arn != null
  sse_algorithm = local.use_kms ? "aws:kms" : "AES256"
  # A key created in the same configuration is unknown until apply, and so is "is it null?": the caller can say so
  # with a plain bool, and the count of grants stays known at plan time.
  create_shipper_grants = var.create_shipper_kms_grants != null ? var.create_shipper_kms_grants : local.use_kms

  # Statement ids allow only [A-Za-z0-9]: "acme-freight" -> "AcmeFreight" (ShipperUploadAcmeFreight, ...).
  # A shipper's rejects reports are rejected/<incoming key>.errors.jsonl, so they sit below
  # rejected/incoming/<shipper>/; the handler's temporary report parts (rejected/.partial/) never do.
  shipper_statements = {
    for name, principals in var.shipper_principals : name => {
      sid_suffix     = replace(title(replace(name, "/[-_]/", " ")), " ", "")
      principals     = principals
      upload_prefix  = "${var.incoming_prefix}${name}/"
      reports_prefix = "${var.rejects_prefix}${var.incoming_prefix}${name}/"
    }
  }
  shipper_principal_arns = toset(flatten(values(var.shipper_principals)))
  partial_reports_prefix = "${var.rejects_prefix}.partial/"

  # Shipper profiles: one object outside every prefix the function is triggered by or writes. The settings, values
  # and statuses below are those lambda_src/shipment_processor/profiles.py accepts; it checks the rest at load.
  profiles_key       = "config/shipper-profiles.json"
  profile_settings   = ["description", "encoding", "csv", "columns", "rename", "drop", "statuses", "timestamps", "required", "limits"]
  profile_encodings  = ["utf-8", "windows-1252", "iso-8859-1", "utf-16"]
  profile_delimiters = [",", ";", "\t", "|"]
  profile_quotes     = ["\"", "'"]
  status_separators  = "/[ _-]+/" # a status is matched like the function matches it: runs of these read as "_"
  status_joiner      = "_"
  zone_pattern       = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
  default_zone       = "UTC"
  nonexistent_rules  = ["reject", "shift_forward", "shift_backward"] # the first is the default
  ambiguous_rules    = ["reject", "earlier", "later"]
  statuses           = ["CREATED", "PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "DELAYED", "EXCEPTION", "RETURNED", "CANCELLED"]
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logs need a separate log bucket per account; audit through CloudTrail data events instead.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery decision outside this stack; versioning keeps recoverable history.
  #checkov:skip=CKV2_AWS_62:The ObjectCreated notification is declared in the lambda module (it needs the function ARN).
  bucket        = local.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = length(local.bucket_name) <= 63
      error_message = "Bucket name ${local.bucket_name} is longer than 63 characters; shorten the environment name."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.sse_algorithm
      kms_master_key_id = var.kms_key_arn
    }
    # A bucket key cuts KMS requests (and cost) by orders of magnitude; it means nothing for SSE-S3.
    bucket_key_enabled = local.use_kms
  }
}

# The function reads this object with a short cache (a conditional GET at most every 30 s), so a changed profile
# reaches the next files within a minute of terraform apply, with no redeploy of the function.
resource "aws_s3_object" "shipper_profiles" {
  bucket                 = aws_s3_bucket.this.id
  key                    = local.profiles_key
  content                = jsonencode({ format = 1, profiles = { for name, profile in var.shipper_profiles : name => jsondecode(profile) } })
  content_type           = "application/json"
  server_side_encryption = local.sse_algorithm
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.this, aws_s3_bucket_policy.this]
}
