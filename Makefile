# Every target creates .venv when it is missing; re-running is cheap (pip skips what is installed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo` installs what the program needs and nothing else (no test or lint tools): its own stamp.
DEMO_STAMP := $(VENV)/.installed-program
# Most tests wait on daemons, sockets and databases rather than the CPU: eight workers fit two cores
# (measured on this round's suite, 2 cores: 328 s with eight, 425 s with four).
TEST_WORKERS ?= 8

.PHONY: install demo test bench bench-quick bench-large lint schema docs-transcripts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e .
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
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

# The sample output of docs/ (blocks marked <!-- transcript: ... -->), written by the code it shows;
# tests/test_docs_transcripts.py fails when a page differs.
docs-transcripts: $(STAMP)
	$(BIN)/python tests/docs_transcripts.py --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
