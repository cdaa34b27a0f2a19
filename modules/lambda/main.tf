data "aws_partition" "current" {}

locals {
  # Every name of the module, from one place; name_prefix lets another repository reuse the module.
  function_name = "${var.name_prefix}-processor-${var.environment}"
  # IAM is account-global: the region part keeps the same environment in two regions from colliding.
  role_name          = "${local.function_name}-${var.region}"
  log_group_name     = "/aws/lambda/${local.function_name}"
  failure_queue_name = "${var.name_prefix}-processor-failures-${var.environment}"
  metrics_namespace  = "ShipmentProcessing/${var.environment}"
  handler            = "shipment_processor.handler.lambda_handler"
  # The handler's default (config.py) is shipment-processing.<environment>; the prefix keeps it ours when reused.
  outcome_event_source = coalesce(var.outcome_event_source, "${var.name_prefix}-processing.${var.environment}")

  # Built rather than read from the resources so the role policy is fully known (and reviewable) at plan time.
  arn_region_account = "${data.aws_partition.current.partition}:%s:${var.region}:${var.account_id}"
  function_arn       = "arn:${format(local.arn_region_account, "lambda")}:function:${local.function_name}"
  log_group_arn      = "arn:${format(local.arn_region_account, "logs")}:log-group:${local.log_group_name}"
  failure_queue_arn  = "arn:${format(local.arn_region_account, "sqs")}:${local.failure_queue_name}"
  default_bus_arn    = "arn:${format(local.arn_region_account, "events")}:event-bus/default"
  # Rejects reports of a file processed across invocations: parts below S3's 5 MiB multipart minimum wait here.
  partial_reports_prefix = "${var.rejects_prefix}.partial/"

  # One filter per suffix, or one on the prefix alone; the ids are stable, so plans never reorder the filters.
  notification_filters = length(var.notification_suffixes) > 0 ? { for suffix in var.notification_suffixes : "${local.function_name}${suffix}" => suffix } : { (local.function_name) = "" }

  package_exists = var.package_path != null && try(fileexists(var.package_path), false)

  # The handler contract: names and bounds are those of lambda_src/shipment_processor/config.py.
  environment_variables = merge({
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
    CLAIM_TIMEOUT_S        = tostring(var.claim_timeout_s)
    WRITE_CONCURRENCY      = tostring(var.write_concurrency)
    MAX_INVOCATIONS        = tostring(var.max_invocations)
    CHECKPOINT_MARGIN_MS   = tostring(var.checkpoint_margin_ms)
    LOG_LEVEL              = upper(var.log_level)
    OUTCOME_EVENTS         = var.outcome_events_enabled ? "on" : "off"
    OUTCOME_EVENT_SOURCE   = local.outcome_event_source
    EVENTS_WRITE_PATH      = lower(var.events_write_path)
    # Lambda tells the function the time left, never its timeout: config.py checks the margin and claim
    # timeout against this at every cold start.
    FUNCTION_TIMEOUT_S = tostring(var.timeout_s)
    }, var.profiles_key == null ? {} : {
    PROFILES_BUCKET = var.bucket_id
    PROFILES_KEY    = var.profiles_key
  })

  # Under the JSON log format Lambda drops application lines below application_log_level, and it reads a line
  # without a "level" (the EMF metric documents) as INFO
  # (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html). So the filter follows
  # LOG_LEVEL down to DEBUG but never rises above INFO: a WARN filter would drop every metric, and the alarms with
  # them. LOG_LEVEL=WARNING still quietens the handler's own logger.
  application_log_level = upper(var.log_level) == "DEBUG" ? "DEBUG" : "INFO"

  kms_key_region = var.kms_key_arn == null ? var.region : split(":", var.kms_key_arn)[3]
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

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = local.application_log_level
    system_log_level      = "INFO"
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

    # Lambda, SQS and CloudWatch Logs accept only a key of their own region.
    precondition {
      condition     = local.kms_key_region == var.region
      error_message = "kms_key_arn is in ${local.kms_key_region}, but the function is deployed to ${var.region}: KMS keys are regional, use a key (or a multi-Region replica) in ${var.region}."
    }
  }

  # The role must be able to write logs before the first invocation.
  depends_on = [aws_iam_role_policy.this]
}

# The handler hands the rest of a large file to a new asynchronous invocation of itself (lambda:Invoke,
# InvocationType=Event). Lambda's recursive loop detection tracks the Lambda Invoke API too and, with the default
# "Terminate", stops a chain after about 16 invocations of the same event
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html), which would cut a large file short.
# "Allow" turns that off for this function only; the handler bounds its own chain with MAX_INVOCATIONS
# (max_invocations) and records a file that reaches it as FAILED, so a bug cannot loop for ever.
resource "aws_lambda_function_recursion_config" "this" {
  function_name  = aws_lambda_function.this.function_name
  recursive_loop = "Allow"
}
