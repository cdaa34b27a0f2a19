# The notification topic every alarm publishes to.

# CloudWatch cannot publish to a topic encrypted with the AWS managed key alias/aws/sns (that key's policy cannot
# admit cloudwatch.amazonaws.com), so alarms would fire and no notification would arrive. Unless a key is given,
# the topic gets its own customer managed key whose policy lets CloudWatch (from this account only) use it.
data "aws_iam_policy_document" "topic_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key only; the account root must administer its own key.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key only; write access is limited to the account and CloudWatch.
  #checkov:skip=CKV_AWS_356:In a key policy the resource can only be "*" (the key the policy is attached to).
  count = local.create_topic_key ? 1 : 0

  # In a key policy "*" means "this key". The account keeps full control so IAM policies can delegate access.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${var.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_kms_key" "topic" {
  count = local.create_topic_key ? 1 : 0

  description             = "Encrypts the ${local.topic_name} SNS topic; lets CloudWatch alarms publish to it."
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.topic_key[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "topic" {
  count = local.create_topic_key ? 1 : 0

  name          = "alias/${local.topic_name}"
  target_key_id = aws_kms_key.topic[0].key_id
}

resource "aws_sns_topic" "alarms" {
  name              = local.topic_name
  kms_master_key_id = local.create_topic_key ? aws_kms_key.topic[0].arn : var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}
