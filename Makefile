# edgeinv — the two commands of the README are `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: serve test models bench loadtest fuzz install-edge install-dev chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Edge side only (no torch): what a device needs to serve the shipped models.
install-edge: $(BIN)/python
	$(BIN)/pip install -q -e .

# Everything: edge + training side (torch==2.13.0 CPU) + test tools.
install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[train,dev]'

# Debian packages the tests use: Chromium for the browser tests (never a downloaded browser), the
# mosquitto MQTT broker the ingest tests start on loopback, and gcc to build scripts/as_cpu.py's CPUID shim
# (tests/common/test_as_cpu.py: the pinned results on a CPU without AVX-512 / VNNI, natively).
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/sbin/mosquitto ] || ! command -v cc >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium mosquitto gcc >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium mosquitto gcc >/dev/null; fi; fi

serve: install-edge
	$(BIN)/edgeinv serve --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected nothing: a suite that runs no test is a failure, said plainly.
test: install-dev chromium
	@rc=0; $(BIN)/python -m pytest -q -n 2 --dist loadfile tests || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

APPS = bearing-wear leaf-nitrogen veg-cover
# Regenerate every shipped model from the simulators (train, prune, distill, quantize, search, golden
# set), then record the figures on the real data of ../shared/realdata in each manifest's `real` section.
models: install-dev
	for app in $(APPS); do $(BIN)/edgeinv $$app compress || exit 1; done
	for app in $(APPS); do $(BIN)/edgeinv $$app evaluate-real --record || exit 1; done

# The bench simulates its held-out set, which needs the training-side simulators (prosail...).
bench: install-dev
	for app in $(APPS); do $(BIN)/edgeinv $$app bench || exit 1; done

# The long load test (50 clients for 60 s: pages, uploads for every app, health checks) and the crash test
# (25 SIGKILLs during idempotent uploads), each against a real server process on loopback; prints the figures.
loadtest: install-dev
	EDGEINV_LOADTEST_S=60 EDGEINV_DURABILITY_KILLS=25 $(BIN)/python -m pytest -q -s -p no:xdist tests/load

# >= 1000 seeded malformed files per format through every app's readers; prints the table, fails on a
# crash or a hang (CI runs a few hundred per format in tests/fuzz/).
fuzz: install-dev
	$(BIN)/python -m edgeinv.common.fuzz --n 1000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
