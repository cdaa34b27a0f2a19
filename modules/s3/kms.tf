# With SSE-KMS an upload needs kms:GenerateDataKey (and reading a rejects report kms:Decrypt) on the bucket's key
# for the uploader itself. A grant from the key's account gives exactly that to each shipper principal, in this
# account or another, without an IAM policy in the shipper's account for the key; the grant holds only for this
# bucket's encryption context (with an S3 Bucket Key, S3 passes the bucket ARN as aws:s3:arn). Creating grants
# needs kms:CreateGrant on the key for whoever runs terraform.
resource "aws_kms_grant" "shipper" {
  for_each = local.create_shipper_grants ? local.shipper_principal_arns : toset([])

  name              = "${local.bucket_name}-shipper"
  key_id            = var.kms_key_arn
  grantee_principal = each.value
  operations        = ["GenerateDataKey", "Decrypt"]

  constraints {
    encryption_context_equals = {
      "aws:s3:arn" = local.bucket_arn
    }
  }
}
