# Shipment file processing: one entry point for users, CI and the demo.
# `make` (or `make help`) lists the targets. Everything that needs Python creates the virtualenv first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON        ?= python3
VENV          ?= .venv
CHECKOV_VENV  ?= .venv-checkov
BUILD         ?= build
# Where the hashicorp/aws provider lives on this machine (a filesystem mirror; no registry access needed).
TF_PLUGIN_MIRROR ?= /opt/tf-plugins
# Real-AWS deployments: one Terraform workspace (and so one state) per environment.
ENV           ?= dev
TFVARS        ?=
TF_ARGS       ?=
# make local-up LOCAL_ARGS=--tls: HTTPS with a self-signed certificate (clients set AWS_CA_BUNDLE, printed by up)
LOCAL_ARGS    ?=
# pytest-xdist workers: whole files go to one worker (apply tests run in file order). Terraform and moto spend
# much of their time in provider waiters: measured here, 3 workers 365 s vs 2 workers 417 s on 2 cores.
TEST_WORKERS  ?= 3

PY            := $(VENV)/bin/python
TF_CLI_CONFIG := $(BUILD)/terraformrc
TF            := TF_CLI_CONFIG_FILE=$(abspath $(TF_CLI_CONFIG)) TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 terraform
TF_VAR_ARGS   := -var environment=$(ENV) $(if $(TFVARS),-var-file=$(TFVARS))
PACKAGE       := $(BUILD)/shipment_processor.zip
export TF_PLUGIN_MIRROR

.PHONY: help venv package init plan apply destroy fmt lint checkov test test-fast local-up local-down demo demo-down quickstart bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: ENV=$(ENV) TFVARS=<file.tfvars> TF_PLUGIN_MIRROR=$(TF_PLUGIN_MIRROR)"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create the virtualenv with the pinned dev dependencies

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

package: venv ## build build/shipment_processor.zip deterministically from lambda_src/
	$(PY) -m tools.packager --out $(PACKAGE)

$(TF_CLI_CONFIG): venv
	$(PY) -c 'from pathlib import Path; from tools.terraform import tfwork; tfwork.write_cli_config(Path("$(TF_CLI_CONFIG)"))'

init: $(TF_CLI_CONFIG) ## terraform init (offline provider mirror; local state unless you add a backend)
	$(TF) init -input=false $(TF_ARGS)
	$(TF) workspace select -or-create $(ENV)

plan: package init ## terraform plan for ENV against real AWS (your credentials)
	$(TF) plan -input=false $(TF_VAR_ARGS) -out=$(BUILD)/$(ENV).tfplan $(TF_ARGS)

apply: plan ## apply the plan made by `make plan`
	$(TF) apply -input=false $(BUILD)/$(ENV).tfplan

destroy: init ## destroy ENV's resources (asks for confirmation)
	$(TF) destroy $(TF_VAR_ARGS) $(TF_ARGS)

fmt: venv $(TF_CLI_CONFIG) ## format Terraform and Python
	$(TF) fmt -recursive
	$(VENV)/bin/ruff format lambda_src tests tools
	$(VENV)/bin/ruff check --fix lambda_src tests tools

lint: venv $(TF_CLI_CONFIG) checkov ## fmt -check, validate, ruff, checkov
	$(TF) fmt -check -recursive
	$(PY) -m tools.terraform.validate
	$(VENV)/bin/ruff check .

checkov: $(CHECKOV_VENV)/.installed ## checkov over all Terraform (offline)
	$(CHECKOV_VENV)/bin/checkov --directory . --framework terraform --skip-download --quiet --compact \
		--skip-path '\.venv' --skip-path build

test: venv package $(TF_CLI_CONFIG) ## the whole suite: lint, unit (with coverage), terraform plan/apply, end to end
	$(MAKE) --no-print-directory lint
	mkdir -p $(BUILD)/tmp
	TMPDIR=$(abspath $(BUILD))/tmp $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile \
		--cov --cov-branch --cov-report=term --cov-fail-under=95 --durations=15 $(PYTEST_ARGS)

local-up: venv ## start the local AWS (moto + S3 events + Lambda service on a free loopback port; reuses a running one)
	$(PY) -m tools.emulator.local_aws up $(LOCAL_ARGS)

local-down: venv ## stop the local AWS, its Lambda service, function processes and CPU cgroups
	$(PY) -m tools.emulator.local_aws down

demo: package ## the whole system on a local AWS: deploy, upload examples/shipment-files, report (run it twice: nothing is reprocessed)
	$(PY) -m tools.emulator.demo

demo-down: ## stop the local AWS and delete build/local (the demo's state)
	$(PYTHON) -m tools.emulator.local_aws down
	rm -rf $(BUILD)/local

quickstart: venv ## run the README's quick start (make demo, twice) in a scratch copy of the repo, as CI does
	mkdir -p $(BUILD)/tmp
	QUICKSTART=1 TMPDIR=$(abspath $(BUILD))/tmp $(VENV)/bin/pytest -p no:cacheprovider tests/integration/test_quickstart.py

bench: venv ## speed and memory vs baselines, as ratios (< 10 min; inputs cached in build/bench/); table -> build/bench.md
	$(PY) -m tools.bench $(BENCH_ARGS)

clean: ## remove build outputs (not the virtualenvs)
	rm -rf $(BUILD) .pytest_cache .coverage
