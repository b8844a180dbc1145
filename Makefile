# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both install exact versions with hashes from requirements.lock; `make lock` refreshes
# the lock from the lower bounds in pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# Test workers: the suite mostly waits on real servers and browsers, so more than the cores.
WORKERS ?= 4

.PHONY: demo test bench typecheck lock clean examples

$(STAMP): pyproject.toml $(LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hitode demo

# The multi-host tests make network namespaces (root, `ip` from Debian's iproute2); the
# dashboard's browser tests drive Debian's chromium (Playwright never downloads a browser)
# and need a Japanese font to render Japanese. As root, install what is missing.
DEBS := $(if $(shell command -v ip),,iproute2) $(if $(wildcard /usr/bin/chromium),,chromium) \
	$(if $(shell fc-list :lang=ja 2>/dev/null),,fonts-noto-cjk)
test: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && [ -n "$(strip $(DEBS))" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(strip $(DEBS)); fi
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/propagation.py
	$(BIN)/python bench/requests.py

# deploy/*/nats-server.conf are written by the generator (a test checks they are current)
examples: $(STAMP)
	$(BIN)/python -m node.ops.examples

# The build backend is locked too: the project installs with --no-build-isolation.
lock: $(STAMP)
	$(BIN)/pip install --quiet 'uv>=0.4'
	printf 'setuptools>=68\nwheel\n' | $(BIN)/uv pip compile pyproject.toml - --extra test \
		--generate-hashes --universal --python-version 3.11 --no-header --quiet -o $(LOCK)

clean:
	rm -rf $(VENV) .hitode-demo
