# Created here (not by Lambda on first run) so retention and encryption are managed and destroy is clean.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 7 days): these are operational logs, the durable record is the metadata table.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}
