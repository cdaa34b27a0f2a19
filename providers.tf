# The only provider configuration in the project: modules inherit it. Local runs and tests never edit this file;
# they add a provider override (endpoints = local emulator, fake credentials) in a scratch copy.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = "shipment-processing"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

# State is local by default (`make apply ENV=...`). For a shared environment, pick ONE of these, put it in the
# terraform block in versions.tf, and re-run `terraform init -migrate-state`:
#
# S3 backend (state bucket and lock table created beforehand; use one key per environment):
#   terraform {
#     backend "s3" {
#       bucket         = "my-terraform-state-123456789012-eu-west-1"
#       key            = "shipment-processing/prod/terraform.tfstate"
#       region         = "eu-west-1"
#       encrypt        = true
#       use_lockfile   = true # S3-native locking (Terraform >= 1.10); or dynamodb_table = "terraform-locks"
#     }
#   }
#
# Terraform Cloud / HCP Terraform (VCS-driven runs cannot run `make package`: upload the zip to S3 and set
# package_s3 = { bucket = "...", key = "shipment_processor/<version>.zip" } in the workspace variables):
#   terraform {
#     cloud {
#       organization = "my-org"
#       workspaces {
#         tags = ["shipment-processing"]
#       }
#     }
#   }
