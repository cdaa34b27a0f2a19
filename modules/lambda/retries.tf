# Asynchronous retries, then the failure queue: events that still fail after the retries land there for a replay.

resource "aws_sqs_queue" "failures" {
  name = local.failure_queue_name
  # The longest SQS allows: failed files must survive a long weekend before someone replays them.
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = local.failure_queue_arn
    }
  }

  # Lambda checks that the queue exists and that the role may send to it.
  depends_on = [aws_sqs_queue.failures, aws_iam_role_policy.this]
}
