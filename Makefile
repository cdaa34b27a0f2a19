# Shipment file processing: one entry point for users, CI and the demo.
# `make` (or `make help`) lists the targets. Everything that needs Python creates the virtualenv first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON        ?= python3
VENV          ?= .venv
CHECKOV_VENV  ?= .venv-checkov
BUILD         ?= build
# A filesystem mirror of the hashicorp/aws provider, used when the folder exists (offline machines); without it
# providers come from the public registry. `make init` says which in one line.
TF_PLUGIN_MIRROR ?= /opt/tf-plugins
# Real-AWS deployments: one Terraform workspace (and so one state) per environment.
ENV           ?= dev
TFVARS        ?=
# Extra arguments: TF_INIT_ARGS for init (e.g. -migrate-state), TF_ARGS for plan and destroy (e.g. -refresh=false),
# TF_APPLY_ARGS for applying the saved plan (e.g. -parallelism=5; planning options cannot change a saved plan).
TF_INIT_ARGS  ?=
TF_ARGS       ?=
TF_APPLY_ARGS ?=
# make local-up LOCAL_ARGS=--tls: HTTPS with a self-signed certificate (clients set AWS_CA_BUNDLE, printed by up)
LOCAL_ARGS    ?=
BENCH_ARGS    ?=
WRITE_PATH_ARGS ?=
# pytest-xdist workers: whole files go to one worker (apply tests run in file order). Terraform and moto spend
# much of their time in provider waiters: measured here, 3 workers 365 s vs 2 workers 417 s on 2 cores.
TEST_WORKERS  ?= 3
# make test's checks before pytest (both virtualenvs, checkov, terraform validate, terraform test) are each one
# process on one core: CHECK_JOBS of them at a time. On 2 cores, measured here: 126 s one at a time, 75 s two at a time.
CHECK_JOBS    ?= 2

PY            := $(VENV)/bin/python
TF_CLI_CONFIG := $(BUILD)/terraformrc
TF            := TF_CLI_CONFIG_FILE=$(abspath $(TF_CLI_CONFIG)) TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 terraform
TF_VAR_ARGS   := -var environment=$(ENV) $(if $(TFVARS),-var-file=$(TFVARS))
PACKAGE       := $(BUILD)/shipment_processor.zip
PLAN_FILE     := $(BUILD)/$(ENV).tfplan
# What a saved plan was made from: a plan older than any of these is stale and `make apply` refuses it.
PLAN_INPUTS   := $(wildcard *.tf modules/*/*.tf $(PACKAGE) $(TFVARS))
export TF_PLUGIN_MIRROR

.PHONY: help venv package cli-config init lock plan apply destroy fmt fmt-check validate lint checkov test test-tf local-up local-down demo demo-down quickstart bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: ENV=$(ENV) TFVARS=<file.tfvars> TF_ARGS=<plan/apply args> TF_INIT_ARGS=<init args> TF_PLUGIN_MIRROR=$(TF_PLUGIN_MIRROR)"

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --no-deps --editable .  # the shipment-ops console script
	touch $@

venv: $(VENV)/.installed ## create the virtualenv with the pinned dev dependencies

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

package: venv ## build build/shipment_processor.zip deterministically from lambda_src/
	$(PY) -m tools.packager --out $(PACKAGE)

# Rewritten on every run: whether the mirror exists can change between runs.
$(TF_CLI_CONFIG): venv FORCE
	@$(PY) -m tools.terraform.tfwork cli-config $(TF_CLI_CONFIG)

cli-config: $(TF_CLI_CONFIG) ## write build/terraformrc (mirror if present, else registry) and say which

init: $(TF_CLI_CONFIG) ## terraform init: mirror if present, else the registry; local state unless you add a backend
	@$(PY) -m tools.terraform.tfwork lock-check
	@$(TF) init -input=false $(TF_INIT_ARGS) || { \
		echo "make init: terraform init failed. Without registry access, point TF_PLUGIN_MIRROR at a provider mirror" >&2; \
		echo "  (make init TF_PLUGIN_MIRROR=/path/to/mirror; build one with: terraform providers mirror DIR);" >&2; \
		echo "  on a platform the lock file does not cover, run make lock with registry access first." >&2; exit 1; }
	$(TF) workspace select -or-create $(ENV)

lock: $(TF_CLI_CONFIG) ## record provider hashes for linux/darwin amd64/arm64 in .terraform.lock.hcl (needs the registry)
	$(TF) providers lock -platform=linux_amd64 -platform=linux_arm64 -platform=darwin_amd64 -platform=darwin_arm64

plan: package init ## terraform plan for ENV against real AWS (your credentials) -> build/$(ENV).tfplan
	$(TF) plan -input=false $(TF_VAR_ARGS) -out=$(PLAN_FILE) $(TF_ARGS)

apply: init ## apply exactly the plan `make plan` saved; refuses a missing or stale one
	@test -f $(PLAN_FILE) || { echo "make apply: no $(PLAN_FILE): run make plan ENV=$(ENV) first" >&2; exit 1; }
	@stale="$$(find $(PLAN_INPUTS) -newer $(PLAN_FILE) 2>/dev/null || true)"; if [ -n "$$stale" ]; then \
		echo "make apply: $(PLAN_FILE) is stale (changed since: $$stale): run make plan ENV=$(ENV) again" >&2; exit 1; fi
	$(TF) apply -input=false $(TF_APPLY_ARGS) $(PLAN_FILE)
	rm -f $(PLAN_FILE)

destroy: init ## destroy ENV's resources with the same TFVARS as plan (asks for confirmation)
	$(TF) destroy $(TF_VAR_ARGS) $(TF_ARGS)

# Terraform is formatted and checked in the root, modules/ and examples/: never in build/, where tests keep
# scratch copies and generated files.
fmt: venv $(TF_CLI_CONFIG) ## format Terraform and Python
	$(TF) fmt . && $(TF) fmt -recursive modules && $(TF) fmt -recursive examples
	$(VENV)/bin/ruff format lambda_src tests tools
	$(VENV)/bin/ruff check --fix lambda_src tests tools

fmt-check: $(TF_CLI_CONFIG) ## terraform fmt -check of every .tf and .tftest.hcl (root, modules/, examples/)
	$(TF) fmt -check . && $(TF) fmt -check -recursive modules && $(TF) fmt -check -recursive examples

validate: venv ## terraform validate of the root and every module, in scratch copies
	$(PY) -m tools.terraform.validate

lint: venv $(TF_CLI_CONFIG) checkov fmt-check validate ## fmt -check, validate, ruff, checkov
	$(VENV)/bin/ruff check .

checkov: $(CHECKOV_VENV)/.installed ## checkov over all Terraform (offline)
	$(CHECKOV_VENV)/bin/checkov --directory . --framework terraform --skip-download --quiet --compact \
		--skip-path '\.venv' --skip-path build

test-tf: venv $(TF_CLI_CONFIG) ## native `terraform test` of every module and the examples (mock provider, offline)
	$(PY) -m tools.terraform.native_test

test: ## the whole suite: lint, terraform test, unit (with coverage), terraform plan/apply, end to end
	$(MAKE) --no-print-directory -j$(CHECK_JOBS) --output-sync=target package lint test-tf
	mkdir -p $(BUILD)/tmp
	TMPDIR=$(abspath $(BUILD))/tmp $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile \
		--cov --cov-branch --cov-report=term --cov-fail-under=100 --durations=15 $(PYTEST_ARGS)

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

# Two tables, each measured in one run: the pipeline (parse, memory, store, end to end, cold path) and the write path
# (CPU per stored record, direct vs the SDK client, and records stored at Lambda's CPU share; needs root for the
# cgroup). BENCH_ARGS / WRITE_PATH_ARGS pass options to each (e.g. WRITE_PATH_ARGS=--quick).
bench: venv ## speed and memory vs baselines, as ratios; tables -> build/bench.md, build/bench-write-path.md
	$(PY) -m tools.bench $(BENCH_ARGS)
	$(PY) -m tools.bench.write_path $(WRITE_PATH_ARGS)

clean: ## remove build outputs (not the virtualenvs)
	rm -rf $(BUILD) .pytest_cache .coverage

FORCE:
