# lastmile: the commands the README names.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LASTMILE_DATABASE_URL ?= sqlite:///var/lastmile.db

.PHONY: install run test test-sqlite lint bench clean openapi browser

install: $(STAMP) node_modules/.installed browser

# Headless Chromium for the browser tests (Debian package; root installs it when missing).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | grep -v "^Location\|is ignored" || true
	$(BIN)/pip install --quiet -e '.[dev]' 2>&1 | grep -v "Location 'file" || true
	$(BIN)/python -c "import lastmile, fastapi, schemathesis"
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

run: install
	mkdir -p var
	$(BIN)/lastmile db upgrade
	$(BIN)/lastmile demo
	$(BIN)/lastmile serve

test: install
	mkdir -p var
	$(BIN)/pytest --junitxml=var/junit.xml

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/api_load.py

openapi: install
	$(BIN)/python -m lastmile.api.openapi_snapshot > docs/api/openapi.json

clean:
	rm -rf $(VENV) node_modules var
