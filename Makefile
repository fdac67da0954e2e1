# geoseg: make demo | make test | make bench | make clean
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCENE  := data/scenes/shanghai_sn2_img6917_rgb16.tif

.PHONY: demo test install bench clean

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

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/geoseg predict $(SCENE) -o buildings.gpkg --preview buildings.png --overwrite

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) buildings.gpkg buildings.png .pytest_cache .hypothesis
