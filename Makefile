# bscpay — the targets a newcomer can guess. `make run` and `make test` install what they need.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
TOOLS := .tools
UV    := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_COMPILE_BYTECODE := 1

PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help install run test lint fmt typecheck unit integration e2e infra synth layers deploy \
        browser browser-deps web \
        bench load load-soak restore-drill openapi contracts clean test-soak

help:
	@echo "make run     - start the whole local stack (anvil, moto, API on :8000)"
	@echo "make test    - ruff, mypy, unit, integration, infra, e2e and browser tests"
	@echo "make test-soak N=5 - make test N times on fresh clones beside a CPU hog"
	@echo "make bench   - performance figures into bench/results/"
	@echo "make web     - build the checkout and console into web/dist/"
	@echo "make synth   - synthesize the CDK stack (offline)"
	@echo "make layers  - build the Lambda dependency layer (no Docker)"
	@echo "make deploy STAGE=test|prod - cdk deploy of a stage committed in cdk.json (README)"

# ---- installation (idempotent; re-runs only when the lock files change) ----------------
$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

# The hosted checkout and admin console (web/, docs/adr/0024): web/dist/{checkout,console}/index.html
# and web/dist/assets/. Installs from web/package-lock.json only when it changed.
web/node_modules/.installed: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	@touch $@

web: web/node_modules/.installed
	npm run --prefix web --silent build

# ---- the two commands ------------------------------------------------------------------
run: install web
	$(PY) -m shared.local.stack

test: install browser-deps lint typecheck unit integration infra e2e browser
	@echo "make test: all checks passed"

# N runs of `make test`, each on a fresh clone of HEAD, beside one busy process per core.
N ?= 3
test-soak:
	bash .ci/soak $(N)

# ---- checks ----------------------------------------------------------------------------
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # the layer contract: pyproject.toml, docs/adr/0015

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy shared functions infra tests bench examples merchant tools

unit: install
	$(PYTEST) tests/unit -q --junitxml=test-output/unit/junit.xml

integration: install
	$(PYTEST) tests/integration -q --junitxml=test-output/integration/junit.xml

e2e: install
	$(PYTEST) tests/e2e -q --junitxml=test-output/e2e/junit.xml

infra: install
	$(PYTEST) tests/infra -q --junitxml=test-output/infra/junit.xml

# tests/browser drive Debian's chromium (Playwright with executable_path; never
# `playwright install`) and read QR codes with pyzbar (Debian libzbar0): installed when
# missing (CI runs as root).
browser-deps:
	@if ! command -v chromium >/dev/null || ! ldconfig -p | grep -q 'libzbar\.so\.0'; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium libzbar0; \
	fi

# The web faces in a real browser against the local stack (tests/browser; screenshots and
# axe results in test-output/browser/).
browser: install browser-deps web
	$(PYTEST) tests/browser -q --junitxml=test-output/browser/junit.xml

# ---- infrastructure ----------------------------------------------------------------------
STAGE ?=
synth: install  # offline, read-only: the committed "test" stage unless STAGE=...
	npx cdk synth --quiet --no-validation -c bundle=false -c stage=$(or $(STAGE),test)

layers: install
	$(PY) layers/build.py

deploy: install layers web  # web: docs/adr/0025 publishes web/dist; STAGE=test|prod (cdk.json)
	@test -n "$(STAGE)" || { echo "make deploy STAGE=test|prod (the stages in cdk.json)"; exit 2; }
	npx cdk deploy -c stage=$(STAGE) $(CDK_ARGS)

# ---- other -------------------------------------------------------------------------------
bench: install
	$(PY) -m bench
	$(PY) -m bench.webhooks
	$(PY) -m bench.sweep
	$(PY) -m bench.reports
	$(PY) -m bench.coldstart
	$(PY) -m bench.scale
	$(PY) -m bench.hot_wallet
	$(PY) -m bench.scanner_sizing  # cgroup CPU quotas need root; else only unthrottled runs
	$(PY) -m bench.cost

# Locust against the whole local stack, then a lost/double-counted payment check
# (bench/load.py; LOAD_TIME, LOAD_USERS, LOAD_MERCHANTS): bench/results/load.{json,png}
load: install
	$(PY) -m bench.load

# The soak: 30 minutes with faults (RPC outages, failing webhook endpoints, settlement
# crashes): bench/results/load-soak.{json,png}
load-soak: install
	LOAD_FAULTS=1 LOAD_TIME=$${LOAD_TIME:-30m} $(PY) -m bench.load

# Export every table (ExportTableToPointInTime), import into a new prefix (ImportTable),
# reconcile the restored ledger against the chain (tools/restore_drill.py, docs/adr/0036)
restore-drill: install  # ARGS=--scan: export by paginated scan instead
	$(PY) -m tools.restore_drill $(ARGS)

openapi: install
	$(PY) -m tools.openapi --write

contracts: node_modules/.installed
	node contracts/compile.mjs

clean:
	rm -rf .local test-output cdk.out layers/build .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
