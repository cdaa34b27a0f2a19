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
            ["AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", var.function_name, { label = "Failed events lost" }],
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
            ["AWS/SQS", "NumberOfMessagesSent", "QueueName", var.failure_queue_name, { stat = "Sum", label = "Events that failed every retry" }],
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
          title  = "Alarms"
          alarms = [for name in local.alarm_names : "${local.alarm_arn_prefix}${name}"]
        }
      },
    ]
  })

  depends_on = [
    aws_cloudwatch_metric_alarm.failure_rate,
    aws_cloudwatch_metric_alarm.function_errors,
    aws_cloudwatch_metric_alarm.failure_queue,
    aws_cloudwatch_metric_alarm.failure_queue_age,
    aws_cloudwatch_metric_alarm.destination_delivery_failures,
  ]
}
