# Quick start: `make run` and `make test`. Each sets up what it needs and is idempotent.
PY       ?= python3.11
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed

.PHONY: run test setup apt lint bench soak clean

setup: $(STAMP) apt

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The C scanner is built by the editable install: a changed source needs a reinstall.
$(STAMP): $(BIN)/python pyproject.toml parsers/_fastscan.c
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Debian packages: apparmor_parser validates rules, systemd-journal-remote writes test
# journals, libapparmor-dev builds the benchmark's C baseline, chromium renders the report
# in a test. Installed only when root.
apt:
	@missing=""; \
	command -v apparmor_parser >/dev/null 2>&1 || [ -x /sbin/apparmor_parser ] || missing="$$missing apparmor"; \
	[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] || missing="$$missing systemd-journal-remote"; \
	[ -f /usr/include/aalogparse/aalogparse.h ] || missing="$$missing libapparmor-dev"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: please install$$missing (tests that need them will skip)"; fi; \
	fi

run: setup
	$(BIN)/armorwatch run

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run.py

# Long run of the reliability harness (not part of `make test`): collector kill -9 during a
# rotating replay; prints the figures README's reliability section quotes.
soak: setup
	$(BIN)/python -m tests.harness.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) armorwatch.duckdb* armorwatch.snapshot.duckdb* armorwatch-report \
	  armorwatch-deadletter.jsonl build *.egg-info
