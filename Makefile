# Every target creates .venv when it is missing; re-running is cheap (pip skips what is installed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Most tests wait on daemons, sockets and databases rather than the CPU: four workers fit two cores
# (measured on a fresh clone: 220 s with four, 255 s with three).
TEST_WORKERS ?= 4

.PHONY: install demo test bench bench-quick bench-large lint schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/threads-token-monitor demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Every bench script in groups (bench/run.py: the CPU ones one at a time, the waiting ones together), each
# writing its JSON record under bench/results/; then `python -m bench.render` renders bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py; status=$$?; $(BIN)/python -m bench.render; exit $$status

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# Not part of `make bench`: a large fleet on PostgreSQL (MONITOR_TEST_POSTGRES_URL), about 51 minutes at
# 1,000,000 tokens on 2 cores (bench/RESULTS.md); BENCH_LARGE_ARGS="--tokens 200000" for a smaller run.
bench-large: $(STAMP)
	$(BIN)/python -m bench.large $(BENCH_LARGE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy monitor
	$(BIN)/lint-imports

# config.schema.json is generated from the tables that validate the config; a test fails when it is stale.
# Both it and config.example.toml ship inside the package too (`config schema`, `config example`).
schema: $(STAMP)
	$(BIN)/threads-token-monitor config schema > config.schema.json
	cp config.schema.json monitor/config/config.schema.json
	cp config.example.toml monitor/config/config.example.toml

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
