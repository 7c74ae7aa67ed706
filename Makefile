# LangJourney: `make run` serves the app with demo data on the embedded default (SQLite, inline jobs);
# `make test` runs the whole suite (TEST_DATABASE_URL / TEST_REDIS_URL pick real services).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= test,postgres,e2e,deploy,morph
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma := ,
FLASK := $(BIN)/flask --app wsgi
PYTEST_ARGS ?=

.PHONY: install translations run test worker clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

translations: install
	$(FLASK) translate compile

run: translations
	$(FLASK) db upgrade
	$(FLASK) demo load
	LOG_FORMAT=text $(FLASK) --debug run --host 127.0.0.1 --port 5000

test: translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install
	$(FLASK) worker

clean:
	rm -rf $(VENV) build dist *.egg-info translations/*/LC_MESSAGES/*.mo
