# The two commands a newcomer needs: `make demo` and `make test`. Both set up everything first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo careers test test-fast docs lint bench bench-api clean

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh $(VENV)

setup: $(VENV)/.installed

## The main job: the salary example through the architectures, on embedded defaults (sqlite, local files).
demo: setup
	$(VENV)/bin/mldeploy demo

## The careers website on the demo's registry (run `make demo` first), with the browser mode's JavaScript from npm.
careers: setup
	scripts/careers_js.sh >/dev/null
	$(VENV)/bin/mldeploy example careers-site --port 8000

## The whole test suite against real services (PostgreSQL and Kafka are installed here and started by the tests' fixtures;
## the careers page's tests drive Debian's Chromium: `pytest -m "not browser"` leaves them out; the C tree walker's tests need a C compiler).
test: setup
	command -v cc >/dev/null || (apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev)  # builds the C tree walker
	scripts/postgres.sh install
	scripts/kafka.sh install
	scripts/chromium.sh install
	scripts/careers_js.sh >/dev/null
	$(VENV)/bin/lint-imports
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
	$(PY) -m pytest

## Everything that needs no PostgreSQL, no Kafka and nothing slow, on every core; fitted models come from .cache/tests.
## One xdist worker more than cores: many tests wait on a server or a child process, and the spare worker fills that wait.
test-fast: setup
	MLDEPLOY_TEST_TIER=fast $(PY) -m pytest -n $$(( $$(nproc) + 1 )) --dist loadfile -m "not postgres and not kafka and not slow and not browser"

## The documentation site from docs/ (mkdocs, Material theme) into .cache/site; any warning fails the build.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: setup
	$(VENV)/bin/lint-imports

## Measurements against the in-process limit; results go to benchmarks/RESULTS.md.
bench: setup
	$(PY) benchmarks/run.py

## The model API under load (wrk from Debian's packages; server and load generator pinned to one core each).
bench-api: setup
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	command -v ghz >/dev/null || test -x $$HOME/go/bin/ghz || GOFLAGS=-mod=mod $${GO:-go} install github.com/bojand/ghz/cmd/ghz@latest
	$(PY) benchmarks/bench_api.py --write

clean:
	rm -rf .mldeploy .pytest_cache .cache
