# Storage that would otherwise grow without bound: old versions, stale multipart uploads, rejects reports and the
# handler's temporary report parts. Current uploads under incoming/ are kept unless incoming_expiration_days is set.

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  #checkov:skip=CKV_AWS_300:Rule abort-incomplete-multipart-uploads aborts uploads after 7 days for the whole bucket (empty filter); checkov flags it only when examples/minimal calls the module, not for the root's identical call.
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

  rule {
    id     = "expire-rejects-reports"
    status = "Enabled"

    filter {
      prefix = var.rejects_prefix
    }

    expiration {
      days = var.rejects_expiration_days
    }
  }

  # A file's chain finishes within minutes to hours; parts older than 2 days belong to a chain that died.
  rule {
    id     = "expire-partial-rejects-reports"
    status = "Enabled"

    filter {
      prefix = local.partial_reports_prefix
    }

    expiration {
      days = 2
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  dynamic "rule" {
    for_each = var.incoming_expiration_days == null ? [] : [var.incoming_expiration_days]

    content {
      id     = "expire-incoming-files"
      status = "Enabled"

      filter {
        prefix = var.incoming_prefix
      }

      expiration {
        days = rule.value
      }
    }
  }

  # Noncurrent-version rules are rejected until versioning is on.
  depends_on = [aws_s3_bucket_versioning.this]
}
