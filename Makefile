# The project's single entry point. `make run` and `make test` are the README's two commands.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench-state run test fuzz chaos bench bench-cen bench-recovery bench-peer check lint typecheck unit integration setup system-deps kafka-jars kustomize k8s clean

run: setup kafka-jars          ## the local stack with sample traffic, until Ctrl-C
	$(BIN)/liaison demo

test: setup kafka-jars bench-peer kustomize check  ## every check and every test, unit and integration
	$(BIN)/pytest

PEER := bench/.venv-quix
FUZZ_CASES ?= 100000

fuzz: setup                    ## every decoder and parser fuzzed, FUZZ_CASES inputs each (the suite runs a few hundred)
	$(BIN)/python -m tests.fuzz --cases $(FUZZ_CASES)

CHAOS_FAULTS ?= 36
CHAOS_SEED ?= 1
# Records a second: what one worker drains after each fault on a 2-core machine that also
# runs the three nodes, the connectors and Prometheus (at 20 a second it barely keeps up).
CHAOS_RATE ?= 10

chaos: setup kafka-jars         ## faults under load on a three-node cluster (CHAOS_FAULTS, about 35 min); bench/results/chaos.json
	$(BIN)/liaison chaos --faults $(CHAOS_FAULTS) --seed $(CHAOS_SEED) --rate $(CHAOS_RATE) --json bench/results/chaos.json

bench: setup kafka-jars bench-peer  ## the benchmark: the floor, Liaison (1 and 2 workers) and the Quix Streams peer
	$(BIN)/python -m bench --peer-python $(PEER)/bin/python $(BENCH_ARGS)

RECOVERY_SIZES ?= 10000,100000,1000000

bench-recovery: setup kafka-jars  ## a worker's restart time against the size of its tables (RECOVERY_SIZES keys); bench/results/recovery.json
	$(BIN)/python -m bench.recovery --sizes $(RECOVERY_SIZES) --json bench/results/recovery.json

STATE_SIZES ?= 1000,10000,100000
STATE_KEYS ?= 1000000

bench-state: setup              ## the watch stage's probes and the sweeps against their state (STATE_SIZES records on one identifier, STATE_KEYS keys); bench/results/state.json
	$(BIN)/python -m bench.state --sizes $(STATE_SIZES) --keys $(STATE_KEYS) --json bench/results/state.json

CEN_SIZES ?= 50,500

bench-cen: setup                ## the CEN source's memory against the export's size (CEN_SIZES MB, CSV and XML)
	$(BIN)/python -m bench.cen_memory --sizes $(CEN_SIZES)

bench-peer: $(PEER)/.installed   ## the peer's own environment (Quix Streams pins older client libraries)

$(PEER)/.installed: bench/quix/requirements.txt
	$(PYTHON) -m venv $(PEER)
	$(PEER)/bin/pip install --quiet --disable-pip-version-check -r bench/quix/requirements.txt
	@touch $@

check: lint typecheck          ## ruff and mypy (strict)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m "not integration"

integration: setup kafka-jars bench-peer kustomize
	$(BIN)/pytest -m integration

setup: system-deps $(STAMP)

system-deps:
	@scripts/ensure-system-deps

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: Liaison needs Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

kafka-jars: setup              ## fetch the broker jars with Maven (cached outside the repo)
	$(BIN)/python -c "from liaison.settings import load_settings; from liaison.kafka.jars import ensure_jars; print('Kafka jars in', ensure_jars(load_settings().cache_dir))"

kustomize:                     ## build the kustomize that renders deploy/k8s (cached outside the repo)
	@scripts/ensure-kustomize >/dev/null

k8s: setup kustomize           ## check the generated manifests against the code, render and validate every overlay
	$(BIN)/liaison k8s generate --check
	$(BIN)/liaison k8s validate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
