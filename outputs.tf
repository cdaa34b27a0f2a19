output "bucket_name" {
  description = "Bucket shippers upload to (under incoming/<shipper>/)."
  value       = module.s3.bucket_id
}

output "bucket_arn" {
  description = "ARN of the shipment files bucket."
  value       = module.s3.bucket_arn
}

output "metadata_table_name" {
  description = "File metadata table (one item per processed object version)."
  value       = module.dynamodb.metadata_table_name
}

output "metadata_table_arn" {
  description = "ARN of the file metadata table."
  value       = module.dynamodb.metadata_table_arn
}

output "events_table_name" {
  description = "Shipment events table (one item per accepted update)."
  value       = module.dynamodb.events_table_name
}

output "events_table_arn" {
  description = "ARN of the shipment events table."
  value       = module.dynamodb.events_table_arn
}

output "function_name" {
  description = "Processor function name."
  value       = module.lambda.function_name
}

output "function_arn" {
  description = "Processor function ARN."
  value       = module.lambda.function_arn
}

output "function_role_arn" {
  description = "ARN of the processor's execution role."
  value       = module.lambda.role_arn
}

output "log_group_name" {
  description = "Log group of the processor (JSON logs and EMF metrics)."
  value       = module.lambda.log_group_name
}

output "failure_queue_url" {
  description = "URL of the queue holding events that failed every retry."
  value       = module.lambda.failure_queue_url
}

output "failure_queue_arn" {
  description = "ARN of the failure queue (the async on-failure destination)."
  value       = module.lambda.failure_queue_arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the pipeline."
  value       = module.monitoring.dashboard_name
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the handler's EMF metrics."
  value       = module.lambda.metrics_namespace
}

output "failure_rate_alarm_name" {
  description = "Alarm on the percentage of failed files."
  value       = module.monitoring.failure_rate_alarm_name
}

output "function_errors_alarm_name" {
  description = "Alarm on the function's Errors."
  value       = module.monitoring.function_errors_alarm_name
}

output "failure_queue_alarm_name" {
  description = "Alarm on events waiting in the failure queue."
  value       = module.monitoring.failure_queue_alarm_name
}

output "failure_queue_age_alarm_name" {
  description = "Alarm on the oldest event in the failure queue nearing its 14-day retention."
  value       = module.monitoring.failure_queue_age_alarm_name
}

output "destination_delivery_failures_alarm_name" {
  description = "Alarm on failed events Lambda could not deliver to the failure queue."
  value       = module.monitoring.destination_delivery_failures_alarm_name
}

output "outcome_event_source" {
  description = "Source of the per-file outcome events on the default event bus (detail-type \"Shipment File Processed\")."
  value       = module.lambda.outcome_event_source
}

output "metadata_table_index_names" {
  description = "Global secondary indexes of the metadata table (by-day, by-problem, by-shipper)."
  value       = module.dynamodb.metadata_table_index_names
}
