#!/usr/bin/env bash
# Print one line per supported Python version: the version and an
# interpreter of it found on PATH or under pyenv ($PYENV_ROOT, default
# ~/.pyenv), or the version and "-" when there is none.
set -euo pipefail
SUPPORTED="3.11 3.12 3.13"
for v in $SUPPORTED; do
  found=-
  for cand in "$(command -v "python$v" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    # pyenv's shims exist for every installed version but run only the active ones
    if [ "$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ]; then
      found=$cand
      break
    fi
  done
  echo "$v $found"
done
