# IdF HR — QGIS plugin. `make demo` and `make test` each set up everything they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PLUGIN := idf_hr_plugin
VERSION := $(shell sed -n 's/^version=//p' metadata.txt)
export PROJ_DATA := /usr/share/proj
export QT_QPA_PLATFORM ?= offscreen
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test test-fast qgis package lint bench model i18n screenshots clean

setup:
	@scripts/setup.sh

## Generate the demo region, search its catalog, download an offline pack, detect, render PNGs.
demo: setup i18n
	$(PY) -m $(PLUGIN) demo --out demo-output

## Set up and run the whole test suite (unit, QGIS, end-to-end with qgis_process).
test: setup i18n
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -x tests/unit

## Open QGIS with the plugin loaded from source and the demo project (needs a display).
qgis: setup i18n
	@[ -f demo-output/idf_hr_demo.qgz ] || $(PY) -m $(PLUGIN) demo --out demo-output
	scripts/run_qgis.sh demo-output/idf_hr_demo.qgz

## Build the zip installable through QGIS "Install from ZIP".
package: setup i18n
	$(PY) scripts/package.py --out dist

## Ruff, bandit, and the Qt 6 scanner (Qt5-only code that would break QGIS 4).
lint: setup
	$(VENV)/bin/ruff check $(PLUGIN) tests scripts bench
	$(VENV)/bin/ruff format --check $(PLUGIN) tests scripts bench
	$(VENV)/bin/bandit -q -c pyproject.toml -r $(PLUGIN)
	$(PY) scripts/check_qt6.py $(PLUGIN) scripts tests

bench: setup
	$(PY) -m pytest -q bench --benchmark-columns=min,mean,max,rounds -p no:cacheprovider -s

## Train the bundled demo model (dev only: installs the CPU build of torch).
model: setup
	$(VENV)/bin/pip install -q -c constraints.txt -r requirements-train.txt
	$(PY) scripts/train_demo_model.py

## Compile translations (.ts -> .qm).
i18n:
	@for ts in i18n/*.ts; do [ -e "$$ts" ] && lrelease -silent "$$ts" -qm "$${ts%.ts}.qm"; done; true

screenshots: setup i18n
	$(PY) scripts/screenshots.py --out docs

clean:
	rm -rf dist demo-output .pytest_cache
