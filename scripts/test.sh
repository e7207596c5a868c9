#!/usr/bin/env bash
# Install everything into .venv and run the whole check: ruff, mypy, pytest
# (the S3 tests start a real SeaweedFS; the example pipeline runs end to end).
# Needs only python3 (>= 3.11) and git.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "== ruff"
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
TETHER_REQUIRE_EXAMPLES=1 .venv/bin/pytest -q -p no:cacheprovider "$@"
