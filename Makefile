# SiteGuard — the two commands of the README (`make demo`, `make test`) do all set-up
# on a fresh Debian / Raspberry Pi OS machine: apt for the system parts, a .venv for Python.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
APT_PACKAGES := mosquitto mosquitto-clients python3-venv python3-dev
TEST_APT_PACKAGES := chromium gpsd-clients postgresql redis-server  # browser tests drive the system Chromium; gpsdecode checks the NMEA codec; the cloud suite runs on a throw-away PostgreSQL too, and its job queue on a throw-away Redis
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DURATION ?= 90
PYTEST_ARGS ?=

.PHONY: demo test bench system-deps test-deps bench-deps venv clean

# apt-install what of $(1) is missing
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_PACKAGES))

# tests/k3s render the k3s/ overlays with kubectl; Debian's own package is kubernetes-client (its 1.20
# kustomize predates what the overlays use, and those tests then skip saying so)
test-deps:
	$(call apt_install,$(TEST_APT_PACKAGES))
	@command -v kubectl >/dev/null 2>&1 || { echo "installing system packages: kubernetes-client"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq kubernetes-client; }

# bench/peer_nodered.py installs Node-RED 4 with npm into .bench-cache/ (npm from apt where absent)
bench-deps:
	@command -v npm >/dev/null 2>&1 || { echo "installing system packages: npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; }

$(STAMP): setup.cfg pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,tflite,onnx,vision,trainer,cloud]'
	touch $(STAMP)

venv: system-deps $(STAMP)

demo: venv
	$(PY) -m edge_runtime demo $(if $(DURATION),--duration $(DURATION),)

test: venv test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv bench-deps
	@mkdir -p bench-results
	@for b in bench/*.py; do [ "$$(basename $$b)" = __init__.py ] && continue; echo "== $$b"; $(PY) $$b | tee bench-results/$$(basename $$b .py).log; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo-data bench-results
