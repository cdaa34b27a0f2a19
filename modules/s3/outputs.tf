output "bucket_id" {
  description = "Name (id) of the shipment files bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the shipment files bucket (known at plan time)."
  value       = local.bucket_arn

  # Consumers of the ARN must still wait for the bucket to exist.
  depends_on = [aws_s3_bucket.this]
}

output "profiles_key" {
  description = "Key of the S3 object holding the shipper profiles (the lambda module's profiles_key)."
  value       = aws_s3_object.shipper_profiles.key
}
