# citysoc developer entry points. Every target creates .venv when it is missing and installs
# the project with its dev extras; the install is skipped while pyproject.toml is unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint format clean fuzz

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

# Fuzz every parser, format detection and the pcap engine/reader with FUZZ_EXAMPLES inputs
# per target (Hypothesis; 0 unhandled exceptions expected). Long: run it on purpose.
FUZZ_EXAMPLES ?= 1000000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider -o timeout=0 \
		tests/parsers/test_parse_fuzz.py tests/pcap/test_pcap_fuzz.py

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check soc collectors tests bench scripts

format: $(STAMP)
	$(BIN)/ruff format soc collectors tests
	$(BIN)/ruff check --fix soc collectors tests

clean:
	rm -rf $(VENV) .soc-demo .pytest_cache build dist
