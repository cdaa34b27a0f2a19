# The bucket policy: TLS only; uploads the function could not read are refused here instead of failing every
# retry in the function; each shipper may add files under its own prefix and read its own rejects reports.

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

  # SSE-C: S3 keeps no key, so the function could never read the object.
  statement {
    sid       = "DenyCustomerProvidedKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-customer-algorithm"
      values   = ["false"]
    }
  }

  # An upload may leave encryption to the bucket default or ask for exactly it; any other algorithm (or, with
  # SSE-KMS, any other key) would be a key the function's role cannot use.
  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = [local.sse_algorithm]
    }
  }

  dynamic "statement" {
    for_each = local.use_kms ? [var.kms_key_arn] : []

    content {
      sid       = "DenyOtherKmsKeys"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${local.bucket_arn}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "StringNotEqualsIfExists"
        variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        values   = [statement.value]
      }
    }
  }

  # Archive classes (GLACIER, DEEP_ARCHIVE, ...) need a restore before GetObject; the one-zone and reduced
  # redundancy classes trade away durability of the only copy. No header means STANDARD.
  statement {
    sid       = "DenyUnreadableStorageClasses"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-storage-class"
      values   = ["STANDARD", "INTELLIGENT_TIERING"]
    }
  }

  # Each shipper may only add objects under its own prefix: no lists, deletes or reads of uploads.
  dynamic "statement" {
    for_each = local.shipper_statements

    content {
      sid       = "ShipperUpload${statement.value.sid_suffix}"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${local.bucket_arn}/${statement.value.upload_prefix}*"]

      principals {
        type        = "AWS"
        identifiers = statement.value.principals
      }
    }
  }

  # ... and read the rejects reports of its own files, and nobody else's.
  dynamic "statement" {
    for_each = local.shipper_statements

    content {
      sid       = "ShipperReadRejects${statement.value.sid_suffix}"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["${local.bucket_arn}/${statement.value.reports_prefix}*"]

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
