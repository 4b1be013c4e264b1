# Lineside: `make run` serves the app on its embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
FLASK  := $(BIN)/flask --app server

.PHONY: run test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	@$(FLASK) db upgrade
	@$(FLASK) seed-demo
	@echo ""
	@echo "Lineside is running on http://127.0.0.1:$(PORT)  (API docs: http://127.0.0.1:$(PORT)/api/docs)"
	@echo "Sign in with one of the demo logins above. Stop with Ctrl-C."
	@PORT=$(PORT) exec $(BIN)/gunicorn -c gunicorn.conf.py 'server:create_app()'

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/vision.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/pwa.py

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
