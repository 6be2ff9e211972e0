# Two commands do all the set-up on a fresh machine:
#   make app    create .venv, install what is missing, start the app on http://127.0.0.1:7860
#   make test   the same, plus the test packages, then the whole test suite
#   make screenshots   the browser tests, saving the README's pictures into assets/ (make test leaves them alone)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: app test screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

app: $(VENV)/.installed
	$(BIN)/python app.py

# Two pytest-xdist workers, a test file each at a time, one torch thread each (tests/conftest.py): the browser tests
# wait on Chromium and Gradio while the other worker computes.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

screenshots: $(VENV)/.installed-test
	SCREENSHOTS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile tests/test_app*.py
