# Both targets create the virtual environment and install pixelseg on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test docs figures bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/pixelseg demo --out runs/demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf runs build *.egg-info
