data "aws_partition" "current" {}

locals {
  topic_name                 = "shipment-alarms-${var.environment}"
  dashboard_name             = "shipment-processing-${var.environment}"
  failure_rate_alarm_name    = "shipment-file-failure-rate-${var.environment}"
  function_errors_alarm_name = "shipment-processor-errors-${var.environment}"
  failure_queue_alarm_name   = "shipment-processor-failed-events-${var.environment}"

  # Built rather than read from the resources so alarm actions and the dashboard are known (and reviewable) at plan
  # time.
  topic_arn        = "arn:${data.aws_partition.current.partition}:sns:${var.region}:${var.account_id}:${local.topic_name}"
  alarm_arn_prefix = "arn:${data.aws_partition.current.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:"
  create_topic_key = var.kms_key_arn == null
  # "5 minutes" in the failure-rate rule; every alarm and widget uses the same window.
  period = 300
}

# --- Notification topic ---

# CloudWatch cannot publish to a topic encrypted with the AWS managed key alias/aws/sns (that key's policy cannot
# admit cloudwatch.amazonaws.com), so alarms would fire and no notification would arrive. Unless a key is given,
# the topic gets its own customer managed key whose policy lets CloudWatch (from this account only) use it.
data "aws_iam_policy_document" "topic_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key only; the account root must administer its own key.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key only; write access is limited to the account and CloudWatch.
  #checkov:skip=CKV_AWS_356:In a key policy the resource can only be "*" (the key the policy is attached to).
  count = local.create_topic_key ? 1 : 0

  # In a key policy "*" means "this key". The account keeps full control so IAM policies can delegate access.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${var.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_kms_key" "topic" {
  count = local.create_topic_key ? 1 : 0

  description             = "Encrypts the ${local.topic_name} SNS topic; lets CloudWatch alarms publish to it."
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.topic_key[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "topic" {
  count = local.create_topic_key ? 1 : 0

  name          = "alias/${local.topic_name}"
  target_key_id = aws_kms_key.topic[0].key_id
}

resource "aws_sns_topic" "alarms" {
  name              = local.topic_name
  kms_master_key_id = local.create_topic_key ? aws_kms_key.topic[0].arn : var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- Alarms ---

# More than 5 % of files failed in 5 minutes. FILL turns a missing series into 0 (a period with only successes
# emits no failures) and IF avoids dividing by zero when no file arrived at all.
resource "aws_cloudwatch_metric_alarm" "failure_rate" {
  alarm_name          = local.failure_rate_alarm_name
  alarm_description   = "More than ${var.failure_rate_threshold_percent}% of shipment files failed in ${local.period / 60} minutes (${var.environment})."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failure_rate_threshold_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags

  metric_query {
    id          = "failure_rate"
    label       = "Failed files (%)"
    expression  = "IF((FILL(success, 0) + FILL(failure, 0)) > 0, 100 * FILL(failure, 0) / (FILL(success, 0) + FILL(failure, 0)), 0)"
    return_data = true
  }

  metric_query {
    id = "success"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "ProcessingSuccess"
      stat        = "Sum"
      period      = local.period
      dimensions = {
        Environment = var.environment
      }
    }
  }

  metric_query {
    id = "failure"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "ProcessingFailure"
      stat        = "Sum"
      period      = local.period
      dimensions = {
        Environment = var.environment
      }
    }
  }

  depends_on = [aws_sns_topic.alarms]
}

# Invocation errors are transient AWS failures the handler gave up on (bad files are not errors): any is worth a look.
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = local.function_errors_alarm_name
  alarm_description   = "The shipment processor raised errors (${var.environment}); Lambda retries them, then sends the event to the failure queue."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  statistic           = "Sum"
  period              = local.period
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags
  dimensions = {
    FunctionName = var.function_name
  }

  depends_on = [aws_sns_topic.alarms]
}

# An event in the failure queue is a file nobody processed: it needs a replay.
resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  alarm_name          = local.failure_queue_alarm_name
  alarm_description   = "S3 events failed every retry and wait in ${var.failure_queue_name} (${var.environment}); replay them after fixing the cause."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  statistic           = "Maximum"
  period              = local.period
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]
  tags                = var.tags
  dimensions = {
    QueueName = var.failure_queue_name
  }

  depends_on = [aws_sns_topic.alarms]
}

# --- Dashboard ---

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    widgets = [
      {
        type   = "metric"
        x      = 0
        y      = 0
        width  = 12
        height = 6
        properties = {
          title  = "Files processed / failed"
          region = var.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period
          metrics = [
            [var.metrics_namespace, "ProcessingSuccess", "Environment", var.environment, { label = "Processed (success or partial)" }],
            [var.metrics_namespace, "ProcessingFailure", "Environment", var.environment, { label = "Failed" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 0
        width  = 12
        height = 6
        properties = {
          title  = "Records accepted / rejected"
          region = var.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period
          metrics = [
            [var.metrics_namespace, "RecordsAccepted", "Environment", var.environment, { label = "Accepted" }],
            [var.metrics_namespace, "RecordsRejected", "Environment", var.environment, { label = "Rejected" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 6
        width  = 8
        height = 6
        properties = {
          title  = "Duration (ms)"
          region = var.region
          view   = "timeSeries"
          period = local.period
          metrics = [
            ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "Average", label = "Invocation average" }],
            ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "p99", label = "Invocation p99" }],
            [var.metrics_namespace, "ProcessingDuration", "Environment", var.environment, { stat = "Average", label = "File processing average" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 6
        width  = 8
        height = 6
        properties = {
          title  = "Invocations and errors"
          region = var.region
          view   = "timeSeries"
          stat   = "Sum"
          period = local.period
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", var.function_name, { label = "Invocations" }],
            ["AWS/Lambda", "Errors", "FunctionName", var.function_name, { label = "Errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", var.function_name, { label = "Throttles" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 6
        width  = 8
        height = 6
        properties = {
          title  = "Failure queue depth"
          region = var.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = local.period
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.failure_queue_name, { label = "Events waiting for replay" }],
          ]
        }
      },
      {
        type   = "alarm"
        x      = 0
        y      = 12
        width  = 24
        height = 3
        properties = {
          title = "Alarms"
          alarms = [
            "${local.alarm_arn_prefix}${local.failure_rate_alarm_name}",
            "${local.alarm_arn_prefix}${local.function_errors_alarm_name}",
            "${local.alarm_arn_prefix}${local.failure_queue_alarm_name}",
          ]
        }
      },
    ]
  })

  depends_on = [
    aws_cloudwatch_metric_alarm.failure_rate,
    aws_cloudwatch_metric_alarm.function_errors,
    aws_cloudwatch_metric_alarm.failure_queue,
  ]
}
