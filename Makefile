# Two commands matter: `make run` (a working sandbox demo) and `make test`;
# `make run-prod` runs the production configuration on this machine.
# Everything they need is installed into the project folder on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
BUN_VERSION := 1.4.4
BUN := $(CURDIR)/$(TOOLS)/bun/bin/bun
CHROMIUM := /usr/bin/chromium

# Reflex: our own bun, no telemetry, no version check, and the npm registry
# this machine's npm is configured with (so Reflex does not probe mirrors).
export REFLEX_BUN_PATH := $(BUN)
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export NPM_CONFIG_REGISTRY ?= $(shell npm config get registry 2>/dev/null)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run run-prod worker loadtest test lint format bench screenshots migrate deps browser clean

run: deps migrate
	$(BIN)/reflex run

# PostgreSQL, Redis and several backend workers serving frontend and backend on
# one port; migrations run once first. Settings (PORT, PUBLIC_URL, HOST,
# WORKERS, SANDBOX_PORT, REFLEX_DB_URL, REFLEX_REDIS_URL) are described in
# scripts/run-prod, e.g. `make run-prod PORT=8080 WORKERS=4`.
run-prod: deps
	scripts/run-prod

# An import job worker (OFFAMAZON_JOB_ENGINE=procrastinate, REFLEX_DB_URL on PostgreSQL); start one or more
# beside `make run-prod`, e.g. `OFFAMAZON_JOB_ENGINE=procrastinate make worker`.
worker: deps
	$(BIN)/python -m offamazon_ui.worker

# Load and scale measurements against the local PostgreSQL (results in README "Load and scale"); not part of test.
loadtest: deps
	$(BIN)/python -m loadtest

test: deps browser lint
	$(BIN)/pytest

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy offamazon_ui/services offamazon_ui/config.py

format: deps
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: deps migrate
	$(BIN)/python -m benchmarks

# Walks the onboarding in Chromium and saves docs/screenshots/*.png for the README.
screenshots: deps browser
	$(BIN)/python scripts/screenshots.py

migrate: deps
	$(BIN)/reflex db migrate

deps: $(VENV)/.installed $(BUN)

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# bun from the npm registry, kept in the project: the platform binary is an
# optional dependency of the `bun` package, so no install script has to run.
$(BUN):
	scripts/install-bun $(BUN_VERSION) $(TOOLS)

# Debian's Chromium for the browser tests; Playwright never downloads one.
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf .web .states $(TOOLS) $(VENV)

rotate-key: deps
	$(BIN)/python -m offamazon_ui.rotate_keys
