output "alarm_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies (known at plan time)."
  value       = local.topic_arn

  depends_on = [aws_sns_topic.alarms]
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "failure_rate_alarm_name" {
  description = "Name of the alarm on the percentage of failed files."
  value       = aws_cloudwatch_metric_alarm.failure_rate.alarm_name
}

output "function_errors_alarm_name" {
  description = "Name of the alarm on the function's Errors."
  value       = aws_cloudwatch_metric_alarm.function_errors.alarm_name
}

output "failure_queue_alarm_name" {
  description = "Name of the alarm on events waiting in the failure queue."
  value       = aws_cloudwatch_metric_alarm.failure_queue.alarm_name
}

output "failure_queue_age_alarm_name" {
  description = "Name of the alarm on the age of the oldest event in the failure queue (before its 14-day retention drops it)."
  value       = aws_cloudwatch_metric_alarm.failure_queue_age.alarm_name
}

output "destination_delivery_failures_alarm_name" {
  description = "Name of the alarm on failed events Lambda could not deliver to the failure queue."
  value       = aws_cloudwatch_metric_alarm.destination_delivery_failures.alarm_name
}

output "query_definition_names" {
  description = "Names of the saved CloudWatch Logs Insights queries (failed files, slowest files, rejects by reason, timeouts)."
  value       = sort([for query in aws_cloudwatch_query_definition.this : query.name])
}
