# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint schema docs bench dagster clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/manifold demo

test: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/ruff format --check engine tests bench
	$(BIN)/mypy
	env -u MANIFOLD_CONNECTORS $(BIN)/dagster definitions validate -f definitions.py
	$(BIN)/pytest -n 4  # the tests mostly wait on subprocesses and HTTP: four workers

lint: $(STAMP)
	$(BIN)/ruff check --fix engine tests bench
	$(BIN)/ruff format engine tests bench
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/manifold schema > schemas/connector.schema.json

docs: $(STAMP)
	$(BIN)/manifold reference > docs/spec-reference.md

# The Dagster UI, schedules and sensors; Dagster's own storage in state/dagster/.
dagster: $(STAMP)
	mkdir -p state/dagster
	DAGSTER_HOME=$(CURDIR)/state/dagster $(BIN)/dagster dev -f definitions.py

bench: $(STAMP)
	$(BIN)/python bench/sync_throughput.py
	$(BIN)/python bench/webhook_load.py

clean:
	rm -rf $(VENV) state/*.duckdb state/*.wal
