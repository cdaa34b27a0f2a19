# Offline and in seconds: the mock provider answers every call. Policy documents are asserted on their statement
# blocks (the mock cannot render JSON, so it returns an empty policy).
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  environment        = "qa7"
  account_id         = "123456789012"
  region             = "eu-west-1"
  metrics_namespace  = "ShipmentProcessing/qa7"
  function_name      = "shipment-processor-qa7"
  log_group_name     = "/aws/lambda/shipment-processor-qa7"
  failure_queue_name = "shipment-processor-failures-qa7"
}

run "saved_queries_answer_the_operators_questions_over_the_function_log_group" {
  command = plan

  assert {
    condition     = toset(keys(aws_cloudwatch_query_definition.this)) == toset(["failed-files", "slowest-files", "rejects-by-reason", "timeouts"])
    error_message = "the four saved queries"
  }
  assert {
    condition     = alltrue([for q in aws_cloudwatch_query_definition.this : tolist(q.log_group_names) == tolist(["/aws/lambda/shipment-processor-qa7"]) && startswith(q.name, "shipment-processing-qa7/")])
    error_message = "each query reads the function's log group and sits in the environment's folder"
  }
  assert {
    condition     = strcontains(aws_cloudwatch_query_definition.this["timeouts"].query_string, "record.status = \"timeout\"")
    error_message = "timeouts read Lambda's own report line"
  }
}

run "five_alarms_notify_the_topic_and_say_what_to_do" {
  command = plan

  assert {
    condition = alltrue([for a in [aws_cloudwatch_metric_alarm.failure_rate, aws_cloudwatch_metric_alarm.function_errors, aws_cloudwatch_metric_alarm.failure_queue, aws_cloudwatch_metric_alarm.failure_queue_age, aws_cloudwatch_metric_alarm.destination_delivery_failures] :
    a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:shipment-alarms-qa7"]) && strcontains(a.alarm_description, "shipment-ops --env qa7") && strcontains(a.alarm_description, "Runbook:")])
    error_message = "every alarm notifies the topic and names the next command and the runbook"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.destination_delivery_failures.metric_name == "DestinationDeliveryFailures"
    error_message = "destination delivery failures"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failure_queue_age.metric_name == "ApproximateAgeOfOldestMessage" && aws_cloudwatch_metric_alarm.failure_queue_age.threshold < 1209600
    error_message = "the queue age alarm fires before the 14-day retention"
  }
}

run "alarms_of_another_name_prefix_tell_the_cli_the_prefix" {
  command = plan

  variables {
    name_prefix = "parcels"
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.failure_rate.alarm_description, "shipment-ops --env qa7 --name-prefix parcels --region eu-west-1 files")
    error_message = "with another name_prefix the command names it, so it finds this deployment"
  }
}

run "the_failure_rate_counts_events_that_reached_the_failure_queue" {
  command = plan

  assert {
    condition     = toset([for q in aws_cloudwatch_metric_alarm.failure_rate.metric_query : q.id]) == toset(["success", "failure", "dead", "failure_rate"])
    error_message = "metric queries"
  }
  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.failure_rate.metric_query : q.metric[0].metric_name if q.id == "dead"]) == "NumberOfMessagesSent"
    error_message = "dead = AWS/SQS NumberOfMessagesSent"
  }
}

run "the_dashboard_name_carries_the_region" {
  command = plan

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "shipment-processing-qa7-eu-west-1"
    error_message = "dashboards are account-global"
  }
}

run "bad_settings_are_refused" {
  command = plan

  variables {
    alarm_email_addresses               = ["not-an-address"]
    failure_queue_age_threshold_seconds = 1209600
  }

  expect_failures = [var.alarm_email_addresses, var.failure_queue_age_threshold_seconds]
}
