# One place for the project's commands. `make setup` once, then `make check`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup check lint types layers test-unit test-integration test-e2e fmt bench bench-logs bench-start bench-control demo demo-down

setup: ## venv with the runner, the operator and the dev tools; apt servers when root
	bash scripts/setup.sh

fmt:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile runner-image/Dockerfile

types:
	$(BIN)/mypy
	$(BIN)/mypy tests bench e2e --explicit-package-bases

layers:
	$(BIN)/lint-imports

test-unit:
	$(BIN)/pytest tests/unit -q

test-integration:
	$(BIN)/pytest tests/integration -q

test-e2e:
	$(BIN)/pytest e2e -q

# What CI runs (after setup): every static check, then every test tier.
check: lint types layers
	$(BIN)/pytest tests e2e -q

bench:
	$(BIN)/python -m bench

bench-logs:
	$(BIN)/python -m bench logs

bench-start:
	$(BIN)/python -m bench start --importtime

bench-control:
	$(BIN)/python -m bench control --burst-baseline

# The main job, from nothing: set up, bring up the local control plane, Redis and
# the operator, apply examples/operator/hello.yaml, follow its logs, show its status.
demo: setup
	$(BIN)/python examples/operator/quickstart.py

demo-down:
	$(BIN)/python examples/operator/quickstart.py --down
