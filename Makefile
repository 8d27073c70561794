# footfall: `make run` (set up and run the pipeline on a real log), `make demo` (on generated
# community traffic, beside its ground truth), `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin

export FOOTFALL_REPO := $(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export PATH := $(BIN):$(PATH)
# Airflow's own startup chatter is not what `make run` is for.
export AIRFLOW__LOGGING__LOGGING_LEVEL ?= WARNING

.PHONY: venv airflow-init run demo test test-fast test-fuzz sanitized-tokenizer bench bench-api bench-snapshot \
	bench-dashboard lint standalone clean serve token token-list token-revoke report chromium cluster-up cluster-down \
	cluster-status cluster-test bench-cluster

# The compiled tokenizer's sources (parsers/fast_path.py drives it).
TOKENIZER_SOURCES := $(wildcard parsers/_tokenizer*.c parsers/_tokenizer*.h)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml $(TOKENIZER_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e . > $(VENV)/install-footfall.log 2>&1 || (cat $(VENV)/install-footfall.log; exit 1)
	touch $@

# Secrets every Airflow process must share (JWT, API and Fernet keys): generated once, never committed.
AIRFLOW_SECRETS := $(AIRFLOW_HOME)/secrets.env
WITH_SECRETS := set -a && . $(AIRFLOW_SECRETS) && set +a &&

# Local Airflow home inside the repo: SQLite metadata DB, the one-slot warehouse pool.
airflow-init: venv
	mkdir -p $(AIRFLOW_HOME)
	test -s $(AIRFLOW_SECRETS) || (umask 077 && $(BIN)/python bin/airflow-secrets > $(AIRFLOW_SECRETS))
	$(WITH_SECRETS) airflow db migrate > $(AIRFLOW_HOME)-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)-migrate.log; exit 1)
	$(WITH_SECRETS) airflow pools set footfall_warehouse 1 "tasks that open the DuckDB warehouse (one writer at a time)" > /dev/null

run: airflow-init
	$(WITH_SECRETS) bin/run-pipeline

# Generated community traffic (demo/traffic.py) through the same pipeline, into data/demo/.
demo: airflow-init
	$(WITH_SECRETS) bin/run-demo

# The fuzz tier's tests (marker `fuzz`).
FUZZ_TESTS := tests/test_tokenizer_fuzz.py

# The whole suite: everything with the normal build, then the tokenizer's own tests (marker
# `fuzz`) with the sanitizer build, briefly.
test: venv chromium sanitized-tokenizer
	$(BIN)/python -m pytest -m "not fuzz"
	$(SANITIZED) $(BIN)/python -m pytest -m fuzz -p no:cacheprovider --capture=sys -q $(FUZZ_TESTS)

# The fast loop: unit and SQL tests, neither `slow` (Airflow runs, subprocesses, fault injection)
# nor `real_logs` (the whole logs in ../shared); about a minute of CPU, and ../shared is not needed.
test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not real_logs" -q

# The fuzz tier, long: the tokenizer's tests with the sanitizer build, FUZZ_EXAMPLES examples
# per property, new ones on every run (a failure prints how to reproduce it).
FUZZ_EXAMPLES ?= 5000
test-fuzz: venv sanitized-tokenizer
	$(SANITIZED) FOOTFALL_TEST_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -m fuzz -p no:cacheprovider --capture=sys -q $(FUZZ_TESTS)

# The tokenizer built with AddressSanitizer and UndefinedBehaviorSanitizer into build/sanitize/,
# beside the normal build (never replacing it). gcc's runtimes: an extension module loaded by an
# uninstrumented python needs libasan preloaded; CPython's own allocations at exit are not leaks
# to report; PYTHONMALLOC=malloc makes Python objects (the bytes the tokenizer reads) malloc'ed,
# so a use after free of one is caught too. tests/conftest.py loads the module named by
# FOOTFALL_TEST_TOKENIZER in place of parsers._tokenizer.
SANITIZE_CC ?= gcc
SANITIZE_FLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SANITIZED_TOKENIZER := $(CURDIR)/build/sanitize/_tokenizer.so
SANITIZED = env LD_PRELOAD="$$($(SANITIZE_CC) -print-file-name=libasan.so)" PYTHONMALLOC=malloc \
	ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 FOOTFALL_TEST_TOKENIZER=$(SANITIZED_TOKENIZER)

sanitized-tokenizer: $(SANITIZED_TOKENIZER)

$(SANITIZED_TOKENIZER): $(TOKENIZER_SOURCES) | venv
	@command -v $(SANITIZE_CC) > /dev/null || { echo "the sanitizer build needs $(SANITIZE_CC) (apt-get install gcc)" >&2; exit 1; }
	mkdir -p $(@D)
	$(SANITIZE_CC) -shared -fPIC $(SANITIZE_FLAGS) \
		-I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
		$(filter %.c,$(TOKENIZER_SOURCES)) -o $@

# Debian's Chromium, which the browser tests drive through Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || (echo "installing chromium with apt-get (the dashboard's browser tests need it)" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null)

bench: venv
	$(BIN)/python bench/ingest_bench.py $(BENCH_ARGS)

# What publishing a snapshot costs (seconds, bytes) at ~2M events; BENCH_ARGS="--lines 20000000" for 20M.
bench-snapshot: venv
	$(BIN)/python bench/snapshot_bench.py $(BENCH_ARGS)

# Latency of every analytics API endpoint and requests/s of one uvicorn worker (bench/api_bench.py);
# wrk (Debian's package) is the load generator.
bench-api: venv
	command -v wrk > /dev/null || (apt-get update -qq && apt-get install -y -qq wrk > /dev/null) || \
		echo "wrk could not be installed: the benchmark falls back to an httpx load generator" >&2
	$(BIN)/python bench/api_bench.py $(BENCH_ARGS)

# Time to the dashboard's first complete render on the demo warehouse, and the one-file report's
# size and generation time for a year of the wordpress log (bench/dashboard_bench.py).
bench-dashboard: venv chromium airflow-init
	$(WITH_SECRETS) $(BIN)/python bench/dashboard_bench.py $(BENCH_ARGS)

# The analytics API (docs/staff/api.md) on FOOTFALL_API_HOST:FOOTFALL_API_PORT (default 127.0.0.1:8000),
# reading the published snapshot of FOOTFALL_DATA_DIR.
serve: venv
	$(BIN)/python -m analytics serve

# The one-file HTML report of the published snapshot (FROM=YYYY-MM-DD TO=... SITE=... OUTPUT=...;
# default: every day of data, into $FOOTFALL_DATA_DIR/report.html); its path is the last line.
report: venv
	@$(BIN)/python -m analytics report $(if $(FROM),--from "$(FROM)") $(if $(TO),--to "$(TO)") \
		$(if $(SITE),--site "$(SITE)") $(if $(OUTPUT),--output "$(OUTPUT)")

# A new API token, printed once as the last line: make token ROLE=analyst (or ROLE=viewer, the
# default; LABEL="who it is for"). Listed with make token-list, revoked with make token-revoke ID=...
ROLE ?= viewer
LABEL ?=
token: venv
	@$(BIN)/python -m analytics token create --role "$(ROLE)" --label "$(LABEL)"

token-list: venv
	@$(BIN)/python -m analytics token list

token-revoke: venv
	@test -n "$(ID)" || (echo "give the token's id: make token-revoke ID=<id from make token-list>" >&2; exit 2)
	@$(BIN)/python -m analytics token revoke "$(ID)"

lint: venv
	$(BIN)/ruff check .

# The Airflow UI on http://localhost:8080 with the scheduler running the DAGs on schedule.
standalone: airflow-init
	$(WITH_SECRETS) airflow standalone

# The CeleryExecutor deployment (docs/operators/scaling.md): PostgreSQL, Redis, scheduler, dag-processor,
# API server and two Celery workers as two hosts, all on 127.0.0.1, state in .cluster/.
# Installs postgresql and redis-server with apt-get when missing.
cluster-up: venv
	deploy/cluster/up.sh

# PURGE=1 also deletes .cluster/ (metadata DB, broker, shared data, generated secrets).
cluster-down:
	deploy/cluster/down.sh

cluster-status:
	deploy/cluster/status.sh

# Exactly-once and LocalExecutor parity on a cluster of its own (.cluster-test/, other ports),
# started and stopped by the tests: a few minutes, so not part of `make test`.
cluster-test: venv
	deploy/cluster/install-packages.sh
	FOOTFALL_CLUSTER_TESTS=1 $(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS)

# 1 and 2 Celery workers on the same ~2M-line input (bench/cluster_bench.py --help).
bench-cluster: venv
	deploy/cluster/install-packages.sh
	$(BIN)/python bench/cluster_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(AIRFLOW_HOME) $(AIRFLOW_HOME)-migrate.log data build
