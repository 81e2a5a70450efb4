# Everything runs inside .venv, created from nothing on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run report test adversarial check lint typecheck bench bench-import sample-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: compute the contract scorecard on the shipped sample data
run: $(STAMP)
	$(BIN)/kpi compute

## report: the board report of the shipped sample data, written to report.html
report: $(STAMP)
	$(BIN)/kpi report --output report.html

## test: run the test suite
test: $(STAMP)
	$(BIN)/pytest -q

## adversarial: every hostile-input case, the slow ones too (make test runs the fast ones)
adversarial: $(STAMP)
	$(BIN)/pytest -q -m "" tests/adversarial

## check: tests, lint, format and type checks (what CI should be happy with)
check: test lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy src

## bench: national-scale speed and memory benchmark against DuckDB SQL (not part of test)
bench: $(STAMP)
	$(BIN)/python scripts/bench.py --record
	$(BIN)/python scripts/bench_import.py

## bench-import: a national-scale SSDA903 year (100,000 children) imported, timed and measured
bench-import: $(STAMP)
	$(BIN)/python scripts/bench_import.py

## sample-data: regenerate the shipped sample extract
sample-data: $(STAMP)
	$(BIN)/kpi sample-data --output sample_data --format parquet --seed 2016 --start 2010-04 --end 2016-03

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
