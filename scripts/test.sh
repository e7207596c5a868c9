#!/usr/bin/env bash
# Install everything into .venv and run the whole check: ruff, mypy, the import
# layering contract (lint-imports, [tool.importlinter] in pyproject.toml), pytest
# (the S3 tests start a real SeaweedFS; the example pipeline runs end to end).
# Then the fast part of the suite (-m "not slow") on every other supported
# Python (3.11, 3.12, 3.13) found on PATH or under pyenv, each in its own
# venv (.venv-3.12, ...) with the dev tools only; a version not found is
# skipped with a message (TETHER_REQUIRE_PYTHONS=1 makes that an error).
# Needs only python3 (>= 3.11) and git. Arguments go to every pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The plots' browser test needs Chromium: where it is missing and Debian's apt
# is at hand as root, it is installed alongside the Python packages (the test
# is skipped, saying why, where it cannot be; TETHER_NO_BROWSER=1 skips this).
browser_pid=
if [ -z "${TETHER_NO_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1 \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  rm -rf .test-logs && mkdir -p .test-logs
  ( timeout 300 bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium' ) >.test-logs/chromium.log 2>&1 &
  browser_pid=$!
fi
bash scripts/install.sh
if [ -n "$browser_pid" ]; then
  if wait "$browser_pid"; then echo "== Chromium installed (for the browser test)"
  else echo "== Chromium could not be installed: the browser test is skipped"; fi
fi
main=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "== ruff"
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
echo "== mypy"
.venv/bin/mypy
echo "== import layers"
.venv/bin/lint-imports
missing=()
others=()
mapfile -t pythons < <(bash scripts/pythons.sh)
for line in "${pythons[@]}"; do
  read -r v py <<<"$line"
  [ "$v" = "$main" ] && continue
  if [ "$py" = - ]; then
    echo "== Python $v: no python$v on PATH or under pyenv — SKIPPED (install it to test it)"
    missing+=("$v")
  else
    others+=("$v $py")
  fi
done

# Each other version installs its venv and then runs its fast suite in the
# background, alongside the main suite (much of a test is waiting for git and
# subprocesses, so three suites share two cores well), each into a log
# printed whole at the end: CI stays well under 15 minutes.
logs=.test-logs
mkdir -p "$logs" && rm -f "$logs"/failed-* "$logs"/install-* "$logs"/pytest-*
pids=()
for line in "${others[@]}"; do
  read -r v py <<<"$line"
  (
    if ! PYTHON=$py VENV=.venv-$v EXTRAS=dev bash scripts/install.sh >"$logs/install-$v.log" 2>&1; then
      echo install >"$logs/failed-$v"
      exit 1
    fi
    ".venv-$v/bin/pytest" -q -p no:cacheprovider -m "not slow" "$@" >"$logs/pytest-$v.log" 2>&1
  ) &
  pids+=("$!")
done

echo "== pytest, Python $main: the whole suite"
main_rc=0
TETHER_REQUIRE_EXAMPLES=1 .venv/bin/pytest -q -p no:cacheprovider --durations=15 "$@" || main_rc=$?

failed=0
for i in "${!pids[@]}"; do
  read -r v py <<<"${others[$i]}"
  rc=0
  wait "${pids[$i]}" || rc=$?
  if [ -e "$logs/failed-$v" ]; then
    cat "$logs/install-$v.log"
    echo "== Python $v: install failed"
    failed=1
    continue
  fi
  echo "== pytest, Python $v ($py): the fast part of the suite"
  cat "$logs/pytest-$v.log"
  [ "$rc" = 0 ] || { echo "== Python $v: FAILED (exit $rc)"; failed=1; }
done
[ "$main_rc" = 0 ] || { echo "== Python $main: FAILED (exit $main_rc)"; exit 1; }
[ "$failed" = 0 ] || exit 1
if [ ${#missing[@]} -gt 0 ]; then
  echo "== not tested on Python ${missing[*]} (not installed here)"
  [ -z "${TETHER_REQUIRE_PYTHONS:-}" ] || exit 1
fi
