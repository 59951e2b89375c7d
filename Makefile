# Quick start: `make run` and `make test`. Each sets up what it needs and is idempotent.
PY       ?= python3.11
# The newest supported Python, for `make test`'s second session (pyenv's build when the
# pyenv shim is not enabled for it).
PY313    ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
              $(shell command -v python3.13 2>/dev/null))
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
# Exact versions for the venv, the installer and the image (`make lock` regenerates them).
LOCK     := deploy/requirements.lock
TESTLOCK := deploy/requirements-test.lock
PREFIX   ?= /opt/armorwatch
DESTDIR  ?=

.PHONY: bytecode run test setup apt lint bench soak clean lock install

setup: $(STAMP) apt

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The locked versions, then the package itself. The C scanner is built by the editable
# install: a changed source needs a reinstall.
$(STAMP): $(BIN)/python pyproject.toml parsers/_fastscan.c parsers/_fastscan_keys.h $(TESTLOCK)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(TESTLOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# Resolve pyproject's ranges to exact versions for Python 3.11-3.13 (uv: one universal
# lock for every supported Python). Kept pins stay unless LOCK_ARGS=--upgrade.
lock: $(STAMP)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile -q --universal --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
	  pyproject.toml -o $(LOCK)
	$(BIN)/uv pip compile -q --universal --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
	  --extra test -c $(LOCK) pyproject.toml -o $(TESTLOCK)

# A venv in PREFIX, systemd units, sysusers.d/tmpfiles.d files, the AppArmor profile and
# example configs (deploy/install.sh; DESTDIR stages it under another root).
install:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) PYTHON=$(PY) sh deploy/install.sh

# Debian packages: apparmor_parser validates rules, systemd-journal-remote writes test
# journals, libapparmor-dev builds the benchmark's C baseline, chromium renders the report
# in a test, apparmor-utils has aa-logprof's severity.db (suggest's risk), checkpolicy's
# checkmodule compiles the SELinux module suggest writes, setools (sesearch, python3-setools)
# and a policy (selinux-policy-default; SELinux stays off) answer audit2why's boolean
# question in explain/suggest, postgresql is the lake catalog server the multi-writer
# tests start (tests/harness/postgres.py). Installed only when root.
apt:
	@missing=""; \
	command -v apparmor_parser >/dev/null 2>&1 || [ -x /sbin/apparmor_parser ] || missing="$$missing apparmor"; \
	[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] || missing="$$missing systemd-journal-remote"; \
	[ -f /usr/include/aalogparse/aalogparse.h ] || missing="$$missing libapparmor-dev"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -f /etc/apparmor/severity.db ] || missing="$$missing apparmor-utils"; \
	command -v checkmodule >/dev/null 2>&1 || missing="$$missing checkpolicy"; \
	command -v sesearch >/dev/null 2>&1 || missing="$$missing setools"; \
	ls /etc/selinux/*/policy/policy.* >/dev/null 2>&1 || missing="$$missing selinux-policy-default"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: please install$$missing (tests that need them will skip)"; fi; \
	fi

# promtool (tests/deploy/test_monitoring.py checks and unit-tests deploy/monitoring's rules
# with it): taken out of Debian's prometheus package, so no Prometheus server is installed.
# Without the package index it is skipped and those tests skip.
$(BIN)/promtool: | $(BIN)/python
	@d=$$(mktemp -d) && (cd $$d && apt-get download -qq prometheus >/dev/null 2>&1 \
	  && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -xO ./usr/bin/promtool > promtool \
	  && chmod 755 promtool && mv promtool $(abspath $(BIN))/promtool) \
	  || echo "promtool unavailable (apt-get download prometheus failed): its tests skip"; \
	rm -rf "$$d"

run: setup bytecode
	$(BIN)/armorwatch run

# Our modules' bytecode, written even where PYTHONDONTWRITEBYTECODE is set (as in some CI
# and dev shells): without it every `armorwatch` process compiles ~70 modules first
# (+0.2 s of CPU at each start; the suite starts hundreds). compileall skips symlinked
# folders, hence all five; stale files are rewritten, current ones kept.
bytecode: setup
	@$(BIN)/python -m compileall -q -j0 armorwatch parsers ingest sinks jobs

# The whole suite on 3.11 and, at the same time, the interpreter-dependent tests on 3.13
# (.ci/noxfile.py says which): both spend most of their time waiting on processes and
# sockets, so together they fit in 2 cores. 3.11 runs in 3 pytest-xdist workers; the
# process-killing and broker tests share one of them (tests/conftest.py SERIAL). 3.13's
# output is shown when both are done.
NOXLOG := $(VENV)/nox/compat-3.13.log
test: setup $(BIN)/promtool bytecode
	$(BIN)/ruff check .
	$(BIN)/mypy
	@test -n "$(PY313)" || { echo "make test: no python3.13 (pyenv install 3.13, or PY313=PATH)" >&2; exit 1; }
	@mkdir -p $(VENV)/nox; \
	PATH="$(dir $(PY313)):$$PATH" $(BIN)/nox -f .ci/noxfile.py --envdir $(abspath $(VENV))/nox \
	  -s compat-3.13 > $(NOXLOG) 2>&1 & nox=$$!; \
	$(BIN)/pytest -q -n 3 --dist loadgroup; rc=$$?; \
	wait $$nox; nrc=$$?; \
	echo "=== Python 3.13 (nox session compat-3.13; full log: $(NOXLOG))"; \
	grep -v '^nox > ' $(NOXLOG) | tail -n 40; \
	[ $$nrc = 0 ] || echo "make test: the Python 3.13 session failed (exit $$nrc)"; \
	[ $$rc = 0 ] && [ $$nrc = 0 ]

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
	rm -rf $(VENV) armorwatch.duckdb* armorwatch-report \
	  armorwatch-deadletter.jsonl build *.egg-info
