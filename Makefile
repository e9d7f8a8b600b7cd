# Two commands on a fresh machine (Python 3.11 and make): `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))
CONFIG ?= alertd.toml

.PHONY: install install-test run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# The package and every built-in plugin, pinned by constraints.txt.
$(VENV)/.installed: pyproject.toml constraints.txt $(PLUGINS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . $(addprefix -e ,$(PLUGIN_DIRS))
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/alertd run -c $(CONFIG)

test: install-test
	@# Bytecode written once: hundreds of test subprocesses then skip compiling alertd (even under PYTHONDONTWRITEBYTECODE).
	$(BIN)/python -m compileall -q src plugins tests > /dev/null
	$(BIN)/python -m pytest -n 2 --dist worksteal

lint: install-test
	$(BIN)/ruff check src plugins tests bench
	$(BIN)/ruff format --check src plugins tests bench

clean:
	rm -rf $(VENV) .pytest_cache
