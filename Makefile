# The two commands of the README:
#   make demo   set up, then run the in-place upgrade runbook on a fresh lab; prints the HTML report
#   make test   set up, then run the project's own test suite
SHELL := /bin/bash
PY := .venv/bin/python
RUN := $(shell date +%Y%m%d-%H%M%S)

.PHONY: setup demo health test report lint

setup:
	@scripts/setup.sh

demo: setup
	@mkdir -p reports/demo-$(RUN)
	@set +e; $(PY) -m pytest runbooks/in_place --cluster=lab \
	    --alluredir=reports/demo-$(RUN)/allure-results; code=$$?; \
	  echo "HTML report: $$(scripts/report.sh reports/demo-$(RUN)/allure-results)"; exit $$code

health: setup
	@mkdir -p reports/health-$(RUN)
	@set +e; $(PY) -m pytest runbooks/health --cluster=$${CLUSTER:-lab} \
	    --alluredir=reports/health-$(RUN)/allure-results; code=$$?; \
	  echo "HTML report: $$(scripts/report.sh reports/health-$(RUN)/allure-results)"; exit $$code

test: setup
	$(PY) -m pytest tests

# the harness (what runs against a cluster): formatted by ruff, typed strictly by mypy
HARNESS := model checks drivers fixtures runbooks conftest.py

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check $(HARNESS)
	.venv/bin/mypy model checks drivers fixtures
