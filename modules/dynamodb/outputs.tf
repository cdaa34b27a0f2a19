output "metadata_table_name" {
  description = "Name of the file metadata table (partition filename, sort upload_timestamp)."
  value       = aws_dynamodb_table.this["metadata"].name
}

output "metadata_table_arn" {
  description = "ARN of the file metadata table (known at plan time)."
  value       = local.metadata_table_arn

  depends_on = [aws_dynamodb_table.this]
}

output "events_table_name" {
  description = "Name of the shipment events table (partition shipment_id, sort event_key)."
  value       = aws_dynamodb_table.this["events"].name
}

output "events_table_arn" {
  description = "ARN of the shipment events table (known at plan time)."
  value       = local.events_table_arn

  depends_on = [aws_dynamodb_table.this]
}

output "metadata_table_index_names" {
  description = "Global secondary indexes of the metadata table: by-day (upload_day), by-shipper (shipper), by-problem (problem_status, FAILED and PARTIAL items only); each sorted by upload_timestamp."
  value       = sort(keys(local.tables.metadata.indexes))
}
