output "function_name" {
  description = "Name of the processor function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the processor function."
  value       = aws_lambda_function.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "failure_queue_name" {
  description = "Name of the SQS queue that receives events still failing after the async retries."
  value       = aws_sqs_queue.failures.name
}

output "failure_queue_url" {
  description = "URL of the failure queue."
  value       = aws_sqs_queue.failures.url
}

output "failure_queue_arn" {
  description = "ARN of the failure queue (known at plan time)."
  value       = local.failure_queue_arn

  depends_on = [aws_sqs_queue.failures]
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the handler's EMF metrics (METRICS_NAMESPACE)."
  value       = local.metrics_namespace
}

output "outcome_event_source" {
  description = "Source of the outcome events the function puts on the default bus (OUTCOME_EVENT_SOURCE); match it in EventBridge rules."
  value       = local.outcome_event_source
}
