# Execution role: exactly what the handler does, on exactly its resources.

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = local.role_name
  description        = "Execution role of ${local.function_name} in ${var.region}."
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "ReadIncomingObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.bucket_arn}/${var.incoming_prefix}*"]
  }

  # The shipper profiles: one object, read with a conditional GET.
  dynamic "statement" {
    for_each = var.profiles_key == null ? [] : [var.profiles_key]

    content {
      sid       = "ReadShipperProfiles"
      actions   = ["s3:GetObject"]
      resources = ["${var.bucket_arn}/${statement.value}"]
    }
  }

  # Without s3:ListBucket S3 answers 403 for a key or version that no longer exists, and the handler's "object no
  # longer exists" path (404) never runs. The prefix condition keeps listing to incoming/.
  statement {
    sid       = "ListIncomingKeys"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.incoming_prefix}*"]
    }
  }

  # Large rejects reports go up in parts: CreateMultipartUpload/UploadPart/Complete are authorised by
  # s3:PutObject; aborting a failed upload (so no orphaned parts are billed) needs its own action.
  statement {
    sid       = "WriteRejectsReports"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/${var.rejects_prefix}*"]
  }

  # A retry looks at the report before writing it (HeadObject is authorised by s3:GetObject): the try it repeats may
  # have finished the report before it failed, and a report is written once.
  statement {
    sid       = "RecogniseFinishedRejectsReports"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.rejects_prefix}*"]
  }

  # A report assembled across invocations carries its parts below S3's 5 MiB minimum as temporary objects: the
  # next invocation reads them back and deletes them. Nothing else of the bucket may be deleted.
  statement {
    sid       = "CarryPartialReports"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/${local.partial_reports_prefix}*"]
  }

  # The metadata table is claimed, read and finished item by item (never queried: its indexes serve operators,
  # who use their own credentials); the events table is only batch-written.
  statement {
    sid = "ClaimAndRecordFiles"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
    ]
    resources = [var.metadata_table_arn]
  }

  statement {
    sid       = "StoreShipmentEvents"
    actions   = ["dynamodb:BatchWriteItem"]
    resources = [var.events_table_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  # Lambda sends failed async events to the on-failure destination with the function's role.
  statement {
    sid       = "SendToFailureQueue"
    actions   = ["sqs:SendMessage"]
    resources = [local.failure_queue_arn]
  }

  # The rest of a large file goes to a new asynchronous invocation of this function (its unqualified ARN) only.
  statement {
    sid       = "ContinueInNewInvocation"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.function_arn]
  }

  # One outcome event per finished file on the account's default bus, under this environment's source only.
  dynamic "statement" {
    for_each = var.outcome_events_enabled ? [local.outcome_event_source] : []

    content {
      sid       = "PublishOutcomeEvents"
      actions   = ["events:PutEvents"]
      resources = [local.default_bus_arn]

      condition {
        test     = "StringEquals"
        variable = "events:source"
        values   = [statement.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseDataKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = local.function_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}
