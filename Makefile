# The README's two commands are `make run` and `make test`. `make help` lists every target.
SHELL := /bin/bash
PY := .venv/bin/python
ROLE ?= staff

.PHONY: help setup run run-prod test test-fast lint format token tokens revoke-token user train finetune bench load fuzz eval validate export-content install-mpnet lock audit clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install both virtual environments (quick when nothing changed)
	@scripts/setup.sh

run: setup ## install everything and start the chatbot at http://127.0.0.1:8000
	@$(PY) -m api

run-prod: ## the production profile: PostgreSQL, Redis, two API replicas (each with its Rasa) behind nginx at http://127.0.0.1:8000 [ARGS=...]
	@scripts/run-prod.sh $(ARGS)

test: ## install what the tests need, check the code (lint, format, types, layers) and run the whole suite
	@scripts/setup.sh --test
	@scripts/install-chromium.sh
	@scripts/install-axe.sh
	@scripts/ensure-postgres.sh
	@scripts/ensure-redis.sh
	@scripts/ensure-nginx.sh
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory audit
	@$(PY) -m pytest

lint: ## ruff (lint and format check), mypy and the layers' import contract, over the whole tree
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy
	@.venv/bin/lint-imports --no-cache

audit: ## known vulnerabilities of both locked environments (pip-audit); each accepted one is in security/pip-audit-ignore.txt
	@scripts/setup.sh --test >/dev/null
	@$(PY) scripts/audit.py

lock: ## re-lock the dependencies with hashes after editing a requirements*.txt [UPGRADE=all|name,name]
	@scripts/lock.sh $(if $(UPGRADE),--upgrade $(UPGRADE))

format: ## apply ruff's fixes and formatting
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .

test-fast: ## only the unit and integration tests (no Rasa, no browser)
	@scripts/ensure-postgres.sh
	@$(PY) -m pytest -m "unit or integration"

token: ## create a token for ROLE (staff, editor or admin) and print it once: make token ROLE=editor [LABEL="helpline desk 3"]
	@$(PY) -m api.cli token --role $(ROLE) --label "$(LABEL)"

tokens: ## list the tokens: fingerprint, role, when made, label (never the tokens themselves)
	@$(PY) -m api.cli tokens

revoke-token: ## delete a token by its fingerprint (make tokens): make revoke-token FINGERPRINT=3f2a9c1b
	@test -n "$(FINGERPRINT)" || { echo "Say which: make revoke-token FINGERPRINT=... (make tokens lists them)" >&2; exit 2; }
	@$(PY) -m api.cli revoke-token "$(FINGERPRINT)"

user: ## create a sign-in account (or reset its password and role); asks for the password: make user ROLE=staff USERNAME=alice
	@test -n "$(USERNAME)" || { echo "Say whose account: make user ROLE=$(ROLE) USERNAME=alice" >&2; exit 2; }
	@$(PY) -m api.cli user --role $(ROLE) --username $(USERNAME)

train: ## train the Rasa model now if the bot's data changed
	@$(PY) -m api.cli train-bot

finetune: ## fine-tune the encoder on the published Q&A pairs now (the service uses it from its next start)
	@scripts/setup.sh
	@$(PY) -m api.cli finetune

bench: ## latency, throughput, start-up and memory figures beside their targets (prints, never asserts) [ARGS=--replicas]
	@scripts/setup.sh --test
	@$(PY) -m tests.bench.run $(ARGS)

load: ## 100 chat visitors then 100 staff searches, 10 min each: req/s, p50/p95/p99, errors, memory (prints) [ARGS=...]
	@scripts/setup.sh --test
	@$(PY) -m tests.load.run $(ARGS)

fuzz: ## schemathesis, every check, against a running test instance (it edits content): make fuzz URL=http://127.0.0.1:8000 TOKEN=<editor token> [EXAMPLES=200]
	@test -n "$(URL)" -a -n "$(TOKEN)" || { echo 'Say where, with a token (make token ROLE=editor) of that instance: make fuzz URL=http://127.0.0.1:8000 TOKEN=...' >&2; exit 2; }
	@scripts/setup.sh --test >/dev/null
	@$(PY) -m tests.hostile.run --base-url "$(URL)" --token="$(TOKEN)" --max-examples $(or $(EXAMPLES),200)

eval: ## retrieval, out-of-scope, safety and quality-loop figures through the service (prints, never asserts)
	@scripts/setup.sh --test
	@$(PY) -m tests.eval.run
	@$(PY) -m tests.eval.quality_loop

validate: ## check the Q&A files: schema, duplicate ids, near-duplicates, review dates, reading age
	@scripts/setup.sh
	@$(PY) -m api.cli validate

export-content: ## write the store's published pairs back to knowledge/qa/*.yml (then make validate and commit)
	@scripts/setup.sh
	@$(PY) -m api.cli export-content

install-mpnet: ## install the stronger encoder all-mpnet-base-v2 (768 dims, 438 MB) into var/models, checked file by file; refuses on any mismatch [DEST=dir]
	@scripts/setup.sh
	@scripts/install-model.sh $(if $(DEST),--dest $(DEST))

clean: ## remove what the service wrote under ./var (database, index, models, logs)
	rm -rf var
