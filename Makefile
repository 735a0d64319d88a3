# Two commands for a newcomer: `make demo` and `make test`. Both set up first; setup is
# idempotent (stamp files), so a second run installs nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
ANVIL := $(TOOLS)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
CAST := $(TOOLS)/node_modules/@foundry-rs/cast-linux-amd64/bin/cast
FOUNDRY_VERSION := 1.7.1
OZ_MERKLE_VERSION := 1.0.8
OZ_MERKLE := $(TOOLS)/node_modules/@openzeppelin/merkle-tree/package.json
TORCH_VERSION := 2.13.0
CHROMIUM := /usr/bin/chromium
WALLET_JS := src/databright/dashboard/static/wallet.js

.PHONY: setup demo test bench lint typecheck clean

setup: $(VENV)/.installed $(ANVIL) $(CAST) $(OZ_MERKLE) $(WALLET_JS)

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch first, pinned: a bare requirement would pull a multi-GB CUDA build.
$(VENV)/.torch: $(BIN)/python
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps 'pydvl==0.10.*' 'cvxpy==1.9.3'  # test-only reference; see pyproject
	touch $@

# One npm install for every node tool, so that a rerun (--no-save: no package.json) never prunes
# another: anvil and cast, and OpenZeppelin's StandardMerkleTree, which the test that value roots
# and proofs match the standard tool (tests/chain/test_merkle_oz.py) runs with node.
$(ANVIL) $(CAST) $(OZ_MERKLE):
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --silent --no-save --no-audit --no-fund --prefix . \
		@foundry-rs/anvil-linux-amd64@$(FOUNDRY_VERSION) @foundry-rs/cast-linux-amd64@$(FOUNDRY_VERSION) \
		@openzeppelin/merkle-tree@$(OZ_MERKLE_VERSION)
	touch $(ANVIL) $(CAST) $(OZ_MERKLE)

# The dashboard's browser wallet code: viem and esbuild at the versions pinned in web/package-lock.json,
# installed by `npm ci` into web/node_modules, bundled into the dashboard's static folder (not committed).
web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --silent --no-audit --no-fund
	touch $@

$(WALLET_JS): web/node_modules/.installed $(wildcard web/src/*.js)
	cd web && npm run --silent build

# Debian's chromium, which the dashboard's browser tests drive with Playwright (`playwright install`
# cannot download its own browsers here). Installed only where it is missing, and only as root.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
		|| (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null); \
	else echo "note: $(CHROMIUM) is missing and only root can apt-get install chromium: browser tests will skip"; fi

demo: setup
	$(BIN)/databright --rpc embedded demo

test: setup $(CHROMIUM)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadfile

bench: setup
	$(BIN)/python bench/gas.py
	$(BIN)/python bench/store_lib.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/disk_hints.py
	$(BIN)/python bench/valuation.py
	$(BIN)/python bench/compute.py
	$(BIN)/python bench/value_step.py
	$(BIN)/python bench/paper_table.py

lint: setup
	$(BIN)/ruff check src tests bench

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(TOOLS) web/node_modules $(WALLET_JS) $(WALLET_JS).map $(WALLET_JS).LEGAL.txt .pytest_cache .mypy_cache .ruff_cache
