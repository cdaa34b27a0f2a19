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
  environment = "qa7"
  account_id  = "123456789012"
  region      = "eu-west-1"
  shipper_principals = {
    acme-freight = ["arn:aws:iam::210987654321:role/acme-uploader"]
  }
}

run "a_private_versioned_bucket_named_per_account_region_and_environment" {
  command = plan

  assert {
    condition     = aws_s3_bucket.this.bucket == "shipment-files-123456789012-eu-west-1-qa7"
    error_message = "bucket name"
  }
  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "versioning"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.this.restrict_public_buckets && aws_s3_bucket_public_access_block.this.block_public_policy
    error_message = "public access block"
  }
}

run "the_policy_refuses_what_the_function_could_not_read_and_scopes_each_shipper" {
  command = plan

  assert {
    condition = toset([for s in data.aws_iam_policy_document.bucket.statement : s.sid]) == toset([
      "DenyInsecureTransport", "DenyTlsBelow12", "DenyCustomerProvidedKeys", "DenyOtherEncryption",
      "DenyUnreadableStorageClasses", "ShipperUploadAcmeFreight", "ShipperReadRejectsAcmeFreight",
    ])
    error_message = "bucket policy statements"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.bucket.statement : s.resources if s.sid == "ShipperReadRejectsAcmeFreight"]) == toset(["arn:aws:s3:::shipment-files-123456789012-eu-west-1-qa7/rejected/incoming/acme-freight/*"])
    error_message = "a shipper reads its own rejects reports only"
  }
  assert {
    condition     = length(aws_kms_grant.shipper) == 0
    error_message = "no grants without a KMS key"
  }
}

run "lifecycle_bounds_every_growing_prefix" {
  command = plan

  assert {
    condition     = toset([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.id]) == toset(["expire-noncurrent-versions", "abort-incomplete-multipart-uploads", "expire-rejects-reports", "expire-partial-rejects-reports"])
    error_message = "lifecycle rules (incoming/ kept by default)"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.expiration[0].days if r.id == "expire-partial-rejects-reports"]) == 2
    error_message = "partial report parts expire after 2 days"
  }
}

run "with_a_kms_key_shippers_get_grants_and_other_keys_are_refused" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0f6a1a3e-1111-2222-3333-444455556666"
  }

  assert {
    condition     = toset([for g in aws_kms_grant.shipper : g.grantee_principal]) == toset(["arn:aws:iam::210987654321:role/acme-uploader"])
    error_message = "one grant per shipper principal"
  }
  assert {
    condition     = contains([for s in data.aws_iam_policy_document.bucket.statement : s.sid], "DenyOtherKmsKeys")
    error_message = "uploads under another key are refused"
  }
}

run "path_unsafe_shipper_names_are_refused" {
  command = plan

  variables {
    shipper_principals = { "../etc" = ["arn:aws:iam::123456789012:root"] }
  }

  expect_failures = [var.shipper_principals]
}

# incoming/_smoke/ is where `shipment-ops smoke` uploads: no shipper may ever be given that folder.
run "the_smoke_tests_folder_is_no_shippers_name" {
  command = plan

  variables {
    shipper_principals = { "_smoke" = ["arn:aws:iam::123456789012:root"] }
  }

  expect_failures = [var.shipper_principals]
}

run "uploaded_files_are_kept_by_default" {
  command = plan

  assert {
    condition     = !contains([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.id], "expire-incoming-files")
    error_message = "no expiry of uploads unless one is asked for"
  }
}

run "an_incoming_expiry_expires_uploads_under_incoming_only" {
  command = plan

  variables {
    incoming_expiration_days = 400
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : [r.filter[0].prefix, r.expiration[0].days] if r.id == "expire-incoming-files"]) == ["incoming/", 400]
    error_message = "uploads under incoming/ expire after the days given"
  }
}

run "a_name_prefix_renames_the_bucket" {
  command = plan

  variables {
    name_prefix = "parcels"
  }

  assert {
    condition     = aws_s3_bucket.this.bucket == "parcels-files-123456789012-eu-west-1-qa7"
    error_message = "the prefix replaces shipment in the bucket name"
  }
}

run "profiles_are_rendered_into_one_object_outside_every_prefix" {
  command = plan

  variables {
    shipper_profiles = {
      acme-freight = jsonencode({
        encoding   = "windows-1252"
        csv        = { delimiter = ";" }
        columns    = { shipment_id = "Sendungsnummer", status = "Status", timestamp = ["Datum", "Zeit"] }
        statuses   = { map = { zugestellt = "DELIVERED", "in Zustellung" = "out for delivery" } }
        timestamps = { formats = ["%d.%m.%Y %H:%M"], zone = "Europe/Berlin", ambiguous = "earlier" }
      })
    }
  }

  assert {
    condition     = aws_s3_object.shipper_profiles.key == "config/shipper-profiles.json" && output.profiles_key == "config/shipper-profiles.json"
    error_message = "profiles object key"
  }
  assert {
    condition     = jsondecode(aws_s3_object.shipper_profiles.content).format == 1 && jsondecode(aws_s3_object.shipper_profiles.content).profiles["acme-freight"].csv.delimiter == ";"
    error_message = "the object holds every shipper's profile under profiles"
  }
  assert {
    condition     = aws_s3_object.shipper_profiles.server_side_encryption == "AES256"
    error_message = "the object asks for the bucket's own encryption (the bucket policy refuses any other)"
  }
}

run "no_profiles_is_an_empty_profiles_object" {
  command = plan

  assert {
    condition     = aws_s3_object.shipper_profiles.content == jsonencode({ format = 1, profiles = {} })
    error_message = "an empty map renders an empty profiles object"
  }
}

run "a_profile_for_an_undeclared_shipper_is_refused" {
  command = plan

  variables {
    shipper_profiles = { globex = "{}" }
  }

  expect_failures = [var.shipper_profiles]
}

run "a_profile_that_is_not_a_json_object_is_refused" {
  command = plan

  variables {
    shipper_profiles = { acme-freight = "encoding: utf-16" }
  }

  expect_failures = [var.shipper_profiles]
}

run "a_profile_with_an_unknown_setting_is_refused" {
  command = plan

  variables {
    shipper_profiles = { acme-freight = jsonencode({ colums = {} }) }
  }

  expect_failures = [var.shipper_profiles]
}

run "a_profile_with_an_unsupported_encoding_or_delimiter_is_refused" {
  command = plan

  variables {
    shipper_profiles = { acme-freight = jsonencode({ encoding = "ebcdic", csv = { delimiter = ":" } }) }
  }

  expect_failures = [var.shipper_profiles]
}

run "a_profile_mapping_a_code_to_no_contract_status_is_refused" {
  command = plan

  variables {
    shipper_profiles = { acme-freight = jsonencode({ statuses = { map = { AF = "DEPARTED" } } }) }
  }

  expect_failures = [var.shipper_profiles]
}

run "a_profile_that_guesses_at_dst_changes_is_refused" {
  command = plan

  variables {
    shipper_profiles = { acme-freight = jsonencode({ timestamps = { zone = "Europe/Berlin", nonexistent = "guess" } }) }
  }

  expect_failures = [var.shipper_profiles]
}
