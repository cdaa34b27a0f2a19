data "aws_partition" "current" {}

locals {
  topic_name = "${var.name_prefix}-alarms-${var.environment}"
  # Dashboards are account-global: the region part keeps the same environment in two regions apart.
  dashboard_name                  = "${var.name_prefix}-processing-${var.environment}-${var.region}"
  failure_rate_alarm_name         = "${var.name_prefix}-file-failure-rate-${var.environment}"
  function_errors_alarm_name      = "${var.name_prefix}-processor-errors-${var.environment}"
  failure_queue_alarm_name        = "${var.name_prefix}-processor-failed-events-${var.environment}"
  failure_queue_age_alarm_name    = "${var.name_prefix}-processor-failed-events-age-${var.environment}"
  destination_failures_alarm_name = "${var.name_prefix}-processor-destination-failures-${var.environment}"
  alarm_names = [
    local.failure_rate_alarm_name,
    local.function_errors_alarm_name,
    local.failure_queue_alarm_name,
    local.failure_queue_age_alarm_name,
    local.destination_failures_alarm_name,
  ]
  # What an operator does next, in every alarm description (the shipment-ops CLI and the runbook).
  ops     = "shipment-ops --env ${var.environment}${var.name_prefix == "shipment" ? "" : " --name-prefix ${var.name_prefix}"} --region ${var.region}"
  runbook = "Runbook: ${var.runbook_url}."

  # Built rather than read from the resources so alarm actions and the dashboard are known (and reviewable) at plan
  # time.
  topic_arn        = "arn:${data.aws_partition.current.partition}:sns:${var.region}:${var.account_id}:${local.topic_name}"
  alarm_arn_prefix = "arn:${data.aws_partition.current.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:"
  # A plain bool when given: a key created in the same configuration is unknown until apply, and so is its nullness.
  create_topic_key = var.create_topic_key != null ? var.create_topic_key : var.kms_key_arn == null
  # "5 minutes" in the failure-rate rule; every alarm and widget uses the same window.
  period = 300
}

# More than 5 % of files failed in 5 minutes. A file whose every invocation timed out or crashed never prints its
# EMF document, but its event reaches the failure queue after the retries: those count as failures too (dead). FILL
# turns a missing series into 0 and IF avoids dividing by zero when no file arrived at all. One expression, so the
# local emulator's evaluator (tools/emulator/aws/cloudwatch/metric_math.py) reads it as CloudWatch does.
resource "aws_cloudwatch_metric_alarm" "failure_rate" {
  alarm_name          = local.failure_rate_alarm_name
  alarm_description   = "More than ${var.failure_rate_threshold_percent}% of shipment files failed in ${local.period / 60} minutes (${var.environment}), counting events that reached the failure queue. See which: ${local.ops} files --outcome FAILED; one file: ${local.ops} file KEY; then ${local.ops} logs. ${local.runbook}"
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
    expression  = "IF(FILL(success, 0) + FILL(failure, 0) + FILL(dead, 0) > 0, 100 * (FILL(failure, 0) + FILL(dead, 0)) / (FILL(success, 0) + FILL(failure, 0) + FILL(dead, 0)), 0)"
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

  # Events Lambda put in the failure queue: files that died without a verdict of their own.
  metric_query {
    id = "dead"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "NumberOfMessagesSent"
      stat        = "Sum"
      period      = local.period
      dimensions = {
        QueueName = var.failure_queue_name
      }
    }
  }

  depends_on = [aws_sns_topic.alarms]
}

# Invocation errors are transient AWS failures the handler gave up on (bad files are not errors): any is worth a look.
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = local.function_errors_alarm_name
  alarm_description   = "The shipment processor raised errors (${var.environment}): AWS calls it gave up on, timeouts or crashes (bad files are not errors). Lambda retries twice, then queues the event. Read: ${local.ops} logs. ${local.runbook}"
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
  alarm_description   = "S3 events failed every retry and wait in ${var.failure_queue_name} (${var.environment}). Find the cause (${local.ops} logs), fix it, then replay: ${local.ops} replay --dry-run, then without --dry-run. ${local.runbook}"
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

# The oldest event in the failure queue nears the queue's 14-day retention, after which SQS deletes it silently
# and the file is never processed.
resource "aws_cloudwatch_metric_alarm" "failure_queue_age" {
  alarm_name          = local.failure_queue_age_alarm_name
  alarm_description   = "An event has waited in ${var.failure_queue_name} (${var.environment}) for more than ${var.failure_queue_age_threshold_seconds / 86400} days; SQS deletes it at 14 days and that file is then never processed. Replay now: ${local.ops} replay --dry-run, then without --dry-run. ${local.runbook}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  statistic           = "Maximum"
  period              = local.period
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failure_queue_age_threshold_seconds
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

# Lambda could not put a failed event in the failure queue (queue deleted, policy or key changed): that event is
# lost, and neither the queue alarm nor the failure rate can see it.
resource "aws_cloudwatch_metric_alarm" "destination_delivery_failures" {
  alarm_name          = local.destination_failures_alarm_name
  alarm_description   = "Lambda could not deliver failed events of the shipment processor to ${var.failure_queue_name} (${var.environment}): those files are lost. Check the queue exists and the role may sqs:SendMessage (and use its KMS key), then find the files: ${local.ops} files --outcome FAILED and ${local.ops} logs; re-upload them. ${local.runbook}"
  namespace           = "AWS/Lambda"
  metric_name         = "DestinationDeliveryFailures"
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
