# geoseg: make demo | make test | make plugin | make bench | make clean
PYTHON      ?= python3
QGIS_PYTHON ?= /usr/bin/python3
VENV        := .venv
BIN         := $(VENV)/bin
QGIS_VENV   := .venv-qgis
SCENE       := data/scenes/shanghai_sn2_img6917_rgb16.tif

.PHONY: demo test test-qgis install plugin bench clean

# torch and torchvision first: 2.14.1 + 0.29.1 is the pair that imports together on these machines.
$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The QGIS plugin's tests run in Debian's Python (python3-qgis, numpy 1.x); the plugin runs
# the geoseg command of $(VENV) as a subprocess.
$(QGIS_VENV)/.installed:
	$(QGIS_PYTHON) -m venv --system-site-packages $(QGIS_VENV)
	$(QGIS_VENV)/bin/pip install --quiet pytest
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/geoseg predict $(SCENE) -o buildings.gpkg --preview buildings.png --overwrite

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest
	@if $(QGIS_PYTHON) -c "import qgis.core" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-qgis; \
	else \
		echo "QGIS plugin tests skipped: python3-qgis is not installed (apt-get install python3-qgis python3-mock); .ci/run installs it"; \
	fi

test-qgis: $(VENV)/.installed $(QGIS_VENV)/.installed
	QT_QPA_PLATFORM=offscreen GEOSEG_EXECUTABLE=$(CURDIR)/$(BIN)/geoseg \
		$(QGIS_VENV)/bin/python -m pytest -o addopts="" -p no:cacheprovider --confcutdir tests/qgis tests/qgis

plugin:
	mkdir -p dist
	cd qgis_plugin && $(PYTHON) -c "import pathlib, zipfile; \
		z = zipfile.ZipFile('../dist/geoseg_qgis.zip', 'w', zipfile.ZIP_DEFLATED); \
		[z.write(p) for p in sorted(pathlib.Path('geoseg_qgis').rglob('*')) if '__pycache__' not in p.parts]"
	@echo "dist/geoseg_qgis.zip: install it in QGIS with Plugins > Manage and Install Plugins > Install from ZIP"

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) $(QGIS_VENV) dist buildings.gpkg buildings.png .pytest_cache .hypothesis
