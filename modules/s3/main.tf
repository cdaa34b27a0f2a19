data "aws_partition" "current" {}

locals {
  # Account and region make the name globally unique; the environment suffix keeps environments apart.
  bucket_name = "shipment-files-${var.account_id}-${var.region}-${var.environment}"
  # Built rather than read from the bucket so the policy (and every consumer's IAM policy) is known at plan time.
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"
  use_kms    = var.kms_key_arn != null

  # Statement ids allow only [A-Za-z0-9]: "acme-freight" -> "ShipperUploadAcmeFreight".
  shipper_statements = {
    for name, principals in var.shipper_principals : name => {
      sid        = "ShipperUpload${replace(title(replace(name, "/[-_]/", " ")), " ", "")}"
      principals = principals
      prefix     = "${var.incoming_prefix}${name}/"
    }
  }
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
      sse_algorithm     = local.use_kms ? "aws:kms" : "AES256"
      kms_master_key_id = var.kms_key_arn
    }
    # A bucket key cuts KMS requests (and cost) by orders of magnitude; it means nothing for SSE-S3.
    bucket_key_enabled = local.use_kms
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Noncurrent-version rules are rejected until versioning is on.
  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyTlsBelow12"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # Each shipper may only add objects under its own prefix: no reads, lists or deletes.
  dynamic "statement" {
    for_each = local.shipper_statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${local.bucket_arn}/${statement.value.prefix}*"]

      principals {
        type        = "AWS"
        identifiers = statement.value.principals
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # Put the public access block in place first so the policy never lands on an unprotected bucket.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
