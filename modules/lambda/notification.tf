# The S3 trigger. It lives here, not in the s3 module, because it needs the function (no module cycle).

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.bucket_arn
  source_account = var.account_id
}

# A bucket has ONE notification configuration and this resource owns all of it: declaring another
# aws_s3_bucket_notification (or adding an EventBridge/SNS target by hand) for the same bucket replaces it.
resource "aws_s3_bucket_notification" "this" {
  bucket = var.bucket_id

  dynamic "lambda_function" {
    for_each = local.notification_filters

    content {
      # An explicit id per filter: without one S3 generates ids and plans reorder the filters on every run.
      id                  = lambda_function.key
      lambda_function_arn = aws_lambda_function.this.arn
      events              = ["s3:ObjectCreated:*"]
      filter_prefix       = var.incoming_prefix
      filter_suffix       = lambda_function.value == "" ? null : lambda_function.value
    }
  }

  # S3 tests the invoke permission when the notification is saved.
  depends_on = [aws_lambda_permission.s3]
}
