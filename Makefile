# bcrm — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
CLIENTS ?= 300
# Two pytest-xdist workers (one per core), by file;
# each worker gets its own test database. The slowest tests are listed at the end (CI's time budget).
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15

.PHONY: demo test install lock lint check pytest serve bench clean

# Installs come from the lock file (every package of the tree, pinned with its hashes), so a fresh clone
# resolves the versions the tests passed with; pyproject.toml keeps the lower bounds. uv installs it (about
# five times faster than pip here; `pip install --require-hashes -r requirements.lock` installs the same).
# Bytecode is compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set (this machine, many CI
# images) Python would otherwise recompile every module in every process — 1.5 s of CPU per `bcrm` command.
$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q 'uv>=0.5,<1'
	$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 bcrm >/dev/null
	touch $@

install: $(BIN)/.installed

## Re-resolve the lock file from pyproject.toml (newest versions within its bounds), then `make test`.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		--upgrade -q -o requirements.lock

## Create .venv, migrate the embedded SQLite database, load the demo portfolio and serve it.
demo: install
	$(BIN)/bcrm demo --clients $(CLIENTS) --port $(PORT)

## Lint, type-check, the layers contract, Django checks, then the whole suite (DATABASE_URL picks the database).
test: install lint check pytest

lint:
	$(BIN)/ruff check bcrm tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports

check:
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

# Bytecode written (where PYTHONDONTWRITEBYTECODE is set): each pytest worker would otherwise compile its own
# assertion-rewritten copy of every test module; the first one that runs leaves it for the rest.
pytest:
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

serve: install
	$(BIN)/bcrm serve --port $(PORT)

bench: install
	$(BIN)/python benchmarks/bench_pages.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
