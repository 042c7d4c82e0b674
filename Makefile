# roadkd: two commands for a fresh machine, `make demo` and `make test`.
VENV      ?= .venv
PY        := $(VENV)/bin/python
ROADKD    := $(VENV)/bin/roadkd
DEMO_DIR  ?= demo
STAMP     := $(VENV)/.installed

.PHONY: demo test test-fast lint venv clean qgis-plugin

venv: $(STAMP)

# Reinstall whenever the project's dependencies change.
$(STAMP): pyproject.toml
	@test -x $(PY) || { PYBIN=$$(.ci/find-python) && $$PYBIN -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	bash examples/demo.sh $(DEMO_DIR)

# Two workers (pytest-xdist) for the two cores of the machines it runs on; the Dask tests
# share one worker and its cluster (tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(DEMO_DIR) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The QGIS plugin as an installable zip (Plugins > Manage and Install > Install from ZIP).
qgis-plugin: dist/roadkd_qgis.zip

# roadkd/__init__.py holds the version; it is stamped into the plugin's metadata here.
dist/roadkd_qgis.zip: $(wildcard roadkd/qgis/roadkd_qgis/* roadkd/qgis/roadkd_qgis/configs/*) roadkd/__init__.py
	@mkdir -p dist build/qgis
	@rm -rf $@ build/qgis/roadkd_qgis
	cp -rL roadkd/qgis/roadkd_qgis build/qgis/
	rm -rf build/qgis/roadkd_qgis/__pycache__
	version=$$(sed -n 's/^__version__ = "\(.*\)"/\1/p' roadkd/__init__.py) && \
	  sed -i "s/^version=.*/version=$$version/" build/qgis/roadkd_qgis/metadata.txt
	cd build/qgis && python3 -m zipfile -c ../../$@ roadkd_qgis
	@echo "-> $@"
