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
  environment         = "qa7"
  account_id          = "123456789012"
  region              = "eu-west-1"
  package_s3          = { bucket = "artifacts", key = "shipment_processor/1.0.0.zip", version = "v1" }
  bucket_id           = "shipment-files-123456789012-eu-west-1-qa7"
  bucket_arn          = "arn:aws:s3:::shipment-files-123456789012-eu-west-1-qa7"
  metadata_table_name = "shipment-metadata-qa7"
  metadata_table_arn  = "arn:aws:dynamodb:eu-west-1:123456789012:table/shipment-metadata-qa7"
  events_table_name   = "shipment-events-qa7"
  events_table_arn    = "arn:aws:dynamodb:eu-west-1:123456789012:table/shipment-events-qa7"
}

run "names_carry_the_environment_and_the_global_role_name_the_region" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.function_name == "shipment-processor-qa7"
    error_message = "function name"
  }
  assert {
    condition     = aws_iam_role.this.name == "shipment-processor-qa7-eu-west-1"
    error_message = "IAM is account-global: the role name must carry the region"
  }
  assert {
    condition     = aws_sqs_queue.failures.name == "shipment-processor-failures-qa7"
    error_message = "failure queue name"
  }
}

run "the_environment_is_the_handler_contract" {
  command = plan

  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      METADATA_TABLE         = "shipment-metadata-qa7"
      EVENTS_TABLE           = "shipment-events-qa7"
      ENVIRONMENT            = "qa7"
      METRICS_NAMESPACE      = "ShipmentProcessing/qa7"
      INCOMING_PREFIX        = "incoming/"
      REJECTS_PREFIX         = "rejected/"
      MAX_OBJECT_BYTES       = "536870912"
      MAX_DECOMPRESSED_BYTES = "2147483648"
      MAX_RECORD_BYTES       = "65536"
      MAX_RECORDS            = "10000000"
      CLAIM_TIMEOUT_S        = "900"
      WRITE_CONCURRENCY      = "4"
      MAX_INVOCATIONS        = "500"
      CHECKPOINT_MARGIN_MS   = "5000"
      LOG_LEVEL              = "INFO"
      OUTCOME_EVENTS         = "on"
      OUTCOME_EVENT_SOURCE   = "shipment-processing.qa7"
      EVENTS_WRITE_PATH      = "direct"
      FUNCTION_TIMEOUT_S     = "30"
    })
    error_message = "environment variables differ from the handler contract"
  }
  assert {
    condition     = aws_lambda_function.this.logging_config[0].log_format == "JSON" && aws_lambda_function.this.logging_config[0].application_log_level == "INFO"
    error_message = "JSON logs filtered at INFO by default"
  }
}

run "the_role_grants_one_statement_per_concern" {
  command = plan

  assert {
    condition = toset([for s in data.aws_iam_policy_document.permissions.statement : s.sid]) == toset([
      "ReadIncomingObjects", "ListIncomingKeys", "WriteRejectsReports", "RecogniseFinishedRejectsReports",
      "CarryPartialReports", "ClaimAndRecordFiles", "StoreShipmentEvents", "WriteOwnLogs", "SendToFailureQueue",
      "ContinueInNewInvocation", "PublishOutcomeEvents",
    ])
    error_message = "role statements"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.permissions.statement : s.resources if s.sid == "ContinueInNewInvocation"]) == toset(["arn:aws:lambda:eu-west-1:123456789012:function:shipment-processor-qa7"])
    error_message = "the function may invoke only itself"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.permissions.statement : s.resources if s.sid == "CarryPartialReports"]) == toset(["arn:aws:s3:::shipment-files-123456789012-eu-west-1-qa7/rejected/.partial/*"])
    error_message = "temporary report parts only"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.permissions.statement : s.actions if s.sid == "RecogniseFinishedRejectsReports"]) == toset(["s3:GetObject"]) && one([for s in data.aws_iam_policy_document.permissions.statement : s.resources if s.sid == "RecogniseFinishedRejectsReports"]) == toset(["arn:aws:s3:::shipment-files-123456789012-eu-west-1-qa7/rejected/*"])
    error_message = "a retry may look at (HeadObject) the rejects reports, and only those"
  }
  assert {
    condition     = aws_lambda_function_recursion_config.this.recursive_loop == "Allow"
    error_message = "the self-invocation chain must not be cut by loop detection"
  }
}

run "debug_reaches_cloudwatch_and_warning_keeps_the_metrics" {
  command = plan

  variables {
    log_level              = "DEBUG"
    outcome_events_enabled = false
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "DEBUG"
    error_message = "DEBUG must lower the application log level"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["LOG_LEVEL"] == "DEBUG"
    error_message = "the handler gets the level it is given"
  }
  assert {
    condition     = !contains([for s in data.aws_iam_policy_document.permissions.statement : s.sid], "PublishOutcomeEvents")
    error_message = "no events:PutEvents without outcome events"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["OUTCOME_EVENTS"] == "off"
    error_message = "the handler must know outcome events are off"
  }
}

run "a_lower_case_level_is_the_same_level" {
  command = plan

  variables {
    log_level = "debug"
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "DEBUG" && aws_lambda_function.this.environment[0].variables["LOG_LEVEL"] == "DEBUG"
    error_message = "debug is DEBUG, for Lambda and for the handler"
  }
}

run "a_warning_level_never_filters_above_info" {
  command = plan

  variables {
    log_level = "WARNING"
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "INFO"
    error_message = "un-levelled EMF lines count as INFO: the filter must not rise above it"
  }
}

run "a_critical_level_never_filters_above_info_either" {
  command = plan

  variables {
    log_level = "CRITICAL"
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "INFO" && aws_lambda_function.this.environment[0].variables["LOG_LEVEL"] == "CRITICAL"
    error_message = "the handler filters at CRITICAL; Lambda's filter stays at INFO so the EMF lines survive"
  }
}

run "a_custom_outcome_event_source_is_the_one_the_role_allows" {
  command = plan

  variables {
    outcome_event_source = "acme.shipments"
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["OUTCOME_EVENT_SOURCE"] == "acme.shipments"
    error_message = "the handler puts events with the configured source"
  }
  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.permissions.statement : [for c in s.condition : concat([c.test, c.variable], tolist(c.values))] if s.sid == "PublishOutcomeEvents"])) == toset(["StringEquals", "events:source", "acme.shipments"])
    error_message = "the role may put events with that source only"
  }
}

run "each_suffix_filter_has_a_stable_id_so_plans_never_reorder_them" {
  command = plan

  variables {
    notification_suffixes = [".jsonl", ".csv", ".csv.gz"]
  }

  assert {
    condition = { for f in aws_s3_bucket_notification.this.lambda_function : f.id => f.filter_suffix } == {
      "shipment-processor-qa7.jsonl"  = ".jsonl"
      "shipment-processor-qa7.csv"    = ".csv"
      "shipment-processor-qa7.csv.gz" = ".csv.gz"
    }
    error_message = "one filter per suffix, its id the function name and the suffix"
  }
}

run "handler_settings_outside_config_py_bounds_are_refused" {
  command = plan

  variables {
    max_record_bytes  = 63
    max_invocations   = 0
    log_level         = "TRACE"
    events_write_path = "batch"
  }

  expect_failures = [var.max_record_bytes, var.max_invocations, var.log_level, var.events_write_path]
}

run "an_s3_package_needs_its_object_version" {
  command = plan

  variables {
    package_s3 = { bucket = "artifacts", key = "shipment_processor/latest.zip", version = "" }
  }

  expect_failures = [var.package_s3]
}

run "a_profiles_key_is_passed_to_the_handler_and_is_the_one_object_it_may_read_there" {
  command = plan

  variables {
    profiles_key = "config/shipper-profiles.json"
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["PROFILES_BUCKET"] == "shipment-files-123456789012-eu-west-1-qa7" && aws_lambda_function.this.environment[0].variables["PROFILES_KEY"] == "config/shipper-profiles.json"
    error_message = "PROFILES_BUCKET and PROFILES_KEY name the profiles object"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.permissions.statement : s.resources if s.sid == "ReadShipperProfiles"]) == toset(["arn:aws:s3:::shipment-files-123456789012-eu-west-1-qa7/config/shipper-profiles.json"])
    error_message = "the role reads the profiles object and nothing else outside its prefixes"
  }
}
