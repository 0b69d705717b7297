# Weft: `make run` starts the demo, `make test` runs the tests. Both set up what they need first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DATA := .weft
REQS := requirements.txt requirements-dev.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | cksum | cut -d' ' -f1)
PORT ?= 8000

.PHONY: run test install setup stop lint bench bench-install clean-db

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Weft needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(REQS) | $(PY)
	@echo "Installing dependencies into $(VENV) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

setup: install
	@$(PY) manage.py weft_setup

# PORT (default 8000) is where the demo is served; WEFT_SITE_PORT=PORT makes e-mail links point there too.
# The web server is production's (gunicorn with threads, config/gunicorn.py), on the embedded database.
run: setup
	@WEFT_SITE_PORT=$(PORT) $(PY) manage.py seed_demo
	@rm -rf $(DATA)/metrics && mkdir -p $(DATA)/metrics
	@export DJANGO_SETTINGS_MODULE=config.settings.local WEFT_SITE_PORT=$(PORT) PROMETHEUS_MULTIPROC_DIR=$(abspath $(DATA))/metrics; \
	trap 'kill $$QPID 2>/dev/null; wait $$QPID 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py qcluster > $(DATA)/qcluster.log 2>&1 & QPID=$$!; echo $$QPID > $(DATA)/qcluster.pid; \
	echo "django-q2 cluster running (log: $(DATA)/qcluster.log). Ctrl-C stops Weft; 'make stop' stops the database."; \
	echo "Serving on http://localhost:$(PORT)/ (gunicorn; health: /healthz, /readyz)."; \
	WEFT_BIND=127.0.0.1:$(PORT) $(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

CHROMIUM ?= /usr/bin/chromium

# The browser tests (tests/browser, marker "browser") need Debian's Chromium; without it they are skipped
# and this says so plainly after the run (.ci/run installs it, so CI always runs them).
test: install
	@status=0; WEFT_CHROMIUM=$(CHROMIUM) $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "NOTE: the browser tests did NOT run: $(CHROMIUM) is missing (install it: apt-get install -y chromium)."; \
	fi; exit $$status

# A cluster still running (make run elsewhere) is stopped first, cleanly (SIGTERM: it hands back unfinished work
# within seconds), so the database never goes away under a worker.
stop:
	@if [ -f $(DATA)/qcluster.pid ] && kill -TERM $$(cat $(DATA)/qcluster.pid) 2>/dev/null; then \
	  echo "Stopping the django-q2 cluster ..."; \
	  for i in $$(seq 1 150); do kill -0 $$(cat $(DATA)/qcluster.pid) 2>/dev/null || break; sleep 0.1; done; \
	fi; rm -f $(DATA)/qcluster.pid
	@$(PY) -m config.embedded_postgres stop $(DATA)

lint: install
	@$(VENV)/bin/ruff check apps config tests bench

# Benchmark-only dependencies (the dlt peer of bench/hub_upsert.py) live in their own virtualenv, so they never
# touch the pins of requirements.txt; the benchmarks run them as a subprocess. `make install` never needs them.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cat requirements-bench.txt | cksum | cut -d' ' -f1)

$(BENCH_STAMP): requirements-bench.txt
	@$(PYTHON) -m venv $(BENCH_VENV)
	@echo "Installing benchmark-only dependencies into $(BENCH_VENV) ..."
	@$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-bench.txt
	@rm -f $(BENCH_VENV)/.installed-*; touch $@

bench-install: $(BENCH_STAMP)

bench: setup bench-install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
