# The front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
STATE := .local
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install services run down status test test-unit lint logs send_events bench bench-isolation chaos ray-up ray-down receivers

help: ## list every target with one line
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

# Ray on loopback for every process of this venv (infra/local/loopback_pth.py says why).
$(VENV)/.loopback: $(VENV)/.installed infra/local/loopback_pth.py
	@$(PY) infra/local/loopback_pth.py >/dev/null
	@touch $@

install: $(VENV)/.installed $(VENV)/.loopback ## create .venv and install the pinned Python packages

services: install ## install (if missing) and start Kafka, FerretDB, RabbitMQ, Prometheus; idempotent
	@bash infra/local/up.sh

ray-up: install ## start the local Ray head on 127.0.0.1 (GCS 6380, dashboard 8265)
	@bash infra/local/ray.sh start

ray-down: ## stop the local Ray head
	@bash infra/local/ray.sh stop

receivers: install ## start the three sample webhook receivers on 127.0.0.1:8080-8082
	@bash infra/local/receivers.sh start

run: services ray-up receivers ## bring the whole platform up (services, Ray, APIs, pipeline, demo data) and print addresses
	@bash infra/local/run.sh

down: ## stop everything this project started (by pid file), leaving data in .local/
	@bash infra/local/receivers.sh stop || true
	@bash infra/local/ray.sh stop || true
	@bash infra/local/down.sh

status: ## one line per service: up/down and address
	@bash infra/local/status.sh

test: services ## install, start the services, run every test tier (what CI runs)
	@# One pytest run per tier: unit tests refuse Ray, the other tiers share one Ray per run.
	$(PY) -m pytest -q -p no:cacheprovider tests/unit
	$(PY) -m pytest -q -p no:cacheprovider tests/integration
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e

test-unit: install ## unit tests only: no services, no Ray
	$(PY) -m pytest -q tests/unit

lint: install ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy core adapters api actors cluster jobs bench testkit tests

logs: ## follow the services' logs (.local/logs) and the actors' logs (Ray's session logs)
	@mkdir -p $(STATE)/logs && tail -F $(STATE)/logs/*.log $$(ls $(STATE)/logs/ray-session/worker-*.err 2>/dev/null)

send_events: install ## the PoC's load scenario against 127.0.0.1:8000 (k6 if installed, else locust / open loop); ARGS="--mode rate --rate 500 --duration 20" or "--full"
	$(PY) -m bench.load.send_events $(ARGS)

bench: install ## end-to-end benchmark against `make run`: JSON + PNG in bench/results/; ARGS="--rate 500 --duration 10 --webhooks 12 --orgs 4 --batch 1"
	$(PY) -m bench.e2e $(ARGS)

chaos: services ## chaos suite: failures under constant load, nothing may be lost; JSON + table in bench/results/; ARGS="--only kafka"
	$(PY) -m testkit.chaos $(ARGS)

bench-isolation: services ## healthy-endpoint throughput with and without a hanging endpoint (own Ray), JSON in bench/results/
	$(PY) -m bench.isolation $(ARGS)
