# citysoc developer entry points. Every target creates .venv when it is missing and installs
# the project with its dev extras; the install is skipped while pyproject.toml is unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	SOC_DATA_DIR=$${SOC_DATA_DIR:-.soc-demo} $(BIN)/soc demo

test: $(STAMP)
	$(BIN)/ruff check soc collectors tests bench scripts
	$(BIN)/ruff format --check soc collectors tests bench scripts
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check soc collectors tests bench scripts

format: $(STAMP)
	$(BIN)/ruff format soc collectors tests
	$(BIN)/ruff check --fix soc collectors tests

clean:
	rm -rf $(VENV) .soc-demo .pytest_cache build dist
