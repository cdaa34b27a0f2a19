# --- Saved CloudWatch Logs Insights queries: the questions an operator asks, over the function's log group. ---
# The handler logs one JSON line per finished file ("file processed": key, shipper, outcome, error, duration_ms,
# counts, invocations), one per kind of rejection ("rejects by reason": reason, count), and one whenever it takes
# a stopped invocation's claim over ("claim taken over": reason); Lambda's own JSON report line says
# record.status = "timeout" when it stopped an invocation at its timeout.

locals {
  query_folder = "${var.name_prefix}-processing-${var.environment}"
  queries = {
    "failed-files"      = <<-EOT
      fields @timestamp, key, shipper, error, records_total, records_rejected
      | filter message = "file processed" and outcome = "FAILED"
      | sort @timestamp desc
      | limit 200
    EOT
    "slowest-files"     = <<-EOT
      fields @timestamp, key, shipper, duration_ms, records_total, invocations, file_bytes
      | filter message = "file processed"
      | sort duration_ms desc
      | limit 50
    EOT
    "rejects-by-reason" = <<-EOT
      filter message = "rejects by reason"
      | stats sum(count) as rejected, count(*) as files by reason, shipper
      | sort rejected desc
      | limit 100
    EOT
    "timeouts"          = <<-EOT
      fields @timestamp, @requestId, record.requestId, key, reason
      | filter (type = "platform.report" and record.status = "timeout") or message = "claim taken over" or @message like /Task timed out/
      | sort @timestamp desc
      | limit 200
    EOT
  }
}

resource "aws_cloudwatch_query_definition" "this" {
  for_each = local.queries

  # A "/" in the name makes a folder in the console's saved queries.
  name            = "${local.query_folder}/${each.key}"
  log_group_names = [var.log_group_name]
  query_string    = trimspace(each.value)
}
