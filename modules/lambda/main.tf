data "aws_partition" "current" {}

locals {
  function_name      = "shipment-processor-${var.environment}"
  role_name          = "shipment-processor-role-${var.environment}"
  log_group_name     = "/aws/lambda/${local.function_name}"
  failure_queue_name = "shipment-processor-failures-${var.environment}"
  metrics_namespace  = "ShipmentProcessing/${var.environment}"
  handler            = "shipment_processor.handler.lambda_handler"

  # Built rather than read from the resources so the role policy is fully known (and reviewable) at plan time.
  log_group_arn     = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${var.account_id}:log-group:${local.log_group_name}"
  failure_queue_arn = "arn:${data.aws_partition.current.partition}:sqs:${var.region}:${var.account_id}:${local.failure_queue_name}"

  package_exists = var.package_path != null && try(fileexists(var.package_path), false)

  environment_variables = {
    METADATA_TABLE         = var.metadata_table_name
    EVENTS_TABLE           = var.events_table_name
    ENVIRONMENT            = var.environment
    METRICS_NAMESPACE      = local.metrics_namespace
    INCOMING_PREFIX        = var.incoming_prefix
    REJECTS_PREFIX         = var.rejects_prefix
    MAX_OBJECT_BYTES       = tostring(var.max_object_bytes)
    MAX_DECOMPRESSED_BYTES = tostring(var.max_decompressed_bytes)
    MAX_RECORD_BYTES       = tostring(var.max_record_bytes)
    MAX_RECORDS            = tostring(var.max_records)
    LOG_LEVEL              = var.log_level
  }

  # "" stands for "no suffix filter": one filter on the prefix alone.
  notification_suffixes = length(var.notification_suffixes) > 0 ? var.notification_suffixes : [""]
}

# --- Failure queue: events that still fail after the async retries land here. ---

resource "aws_sqs_queue" "failures" {
  name = local.failure_queue_name
  # The longest SQS allows: failed files must survive a long weekend before someone replays them.
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

# --- Logs: created here (not by Lambda on first run) so retention and encryption are managed and destroy is clean. ---

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 7 days): these are operational logs, the durable record is the metadata table.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# --- Execution role: exactly what the handler does, on exactly its resources. ---

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
  description        = "Execution role of ${local.function_name}."
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "ReadIncomingObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.bucket_arn}/${var.incoming_prefix}*"]
  }

  # Large rejects reports go up in parts: CreateMultipartUpload/UploadPart/Complete are authorised by
  # s3:PutObject; aborting a failed upload (so no orphaned parts are billed) needs its own action.
  statement {
    sid       = "WriteRejectsReports"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/${var.rejects_prefix}*"]
  }

  # The metadata table is claimed, read and finished item by item; the events table is only batch-written.
  statement {
    sid = "ClaimAndRecordFiles"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
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

# --- The function. ---

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray needs xray:PutTraceSegments on "*", which the no-wildcard role forbids; EMF metrics and JSON logs cover tracing needs.
  #checkov:skip=CKV_AWS_116:Failed async events go to an on-failure destination (aws_lambda_function_event_invoke_config), which supersedes a DLQ.
  #checkov:skip=CKV_AWS_117:The function talks only to regional AWS endpoints; a VPC would add NAT or endpoints for no isolation gain.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile outside this stack; the package is built reproducibly and its hash is pinned.
  function_name = local.function_name
  description   = "Validates shipment files under ${var.incoming_prefix} and stores accepted updates."
  role          = aws_iam_role.this.arn
  handler       = local.handler
  runtime       = var.runtime
  memory_size   = var.memory_mb
  timeout       = var.timeout_s
  # null keeps the provider default (-1 = unreserved).
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  filename          = var.package_path
  source_code_hash  = local.package_exists ? filebase64sha256(var.package_path) : null
  s3_bucket         = try(var.package_s3.bucket, null)
  s3_key            = try(var.package_s3.key, null)
  s3_object_version = try(var.package_s3.version, null)

  environment {
    variables = local.environment_variables
  }

  # application_log_level is left at the runtime default (INFO): EMF metric lines are printed without a level and
  # a stricter filter would drop them. LOG_LEVEL tunes the handler's own logger.
  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.package_path == null) != (var.package_s3 == null)
      error_message = "Set exactly one of package_path (local zip) and package_s3 (S3 artifact)."
    }

    precondition {
      condition     = var.package_path == null || local.package_exists
      error_message = "Deployment package ${coalesce(var.package_path, "-")} not found: run `make package` first (or set package_s3)."
    }

    # The notification filters on incoming_prefix; a rejects report written there would trigger the function again.
    precondition {
      condition     = !startswith(var.rejects_prefix, var.incoming_prefix) && !startswith(var.incoming_prefix, var.rejects_prefix)
      error_message = "rejects_prefix and incoming_prefix overlap: the function would be triggered by its own rejects reports."
    }
  }

  # The role must be able to write logs before the first invocation.
  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = local.failure_queue_arn
    }
  }

  # Lambda checks that the queue exists and that the role may send to it.
  depends_on = [aws_sqs_queue.failures, aws_iam_role_policy.this]
}

# --- S3 trigger. Lives here, not in the s3 module, because it needs the function (no module cycle). ---

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.bucket_arn
  source_account = var.account_id
}

resource "aws_s3_bucket_notification" "this" {
  bucket = var.bucket_id

  dynamic "lambda_function" {
    for_each = local.notification_suffixes

    content {
      lambda_function_arn = aws_lambda_function.this.arn
      events              = ["s3:ObjectCreated:*"]
      filter_prefix       = var.incoming_prefix
      filter_suffix       = lambda_function.value == "" ? null : lambda_function.value
    }
  }

  # S3 tests the invoke permission when the notification is saved.
  depends_on = [aws_lambda_permission.s3]
}
