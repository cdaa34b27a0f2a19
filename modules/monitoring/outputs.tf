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
