#!/usr/bin/env bash
# make run-prod: the production profile on this machine. PostgreSQL and Redis are used where they already
# answer on 127.0.0.1 and installed and started from Debian's packages where they are missing; nginx is
# installed if needed. Then api/prod.py runs two API replicas (each with its own Rasa server) behind nginx.
# Usage: scripts/run-prod.sh [api.prod options, e.g. --replicas 3 --port 8080]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-postgres.sh
scripts/ensure-redis.sh
scripts/ensure-nginx.sh
exec .venv/bin/python -m api.prod "$@"
