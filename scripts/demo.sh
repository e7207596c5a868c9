#!/usr/bin/env bash
# The main job: the example ML pipeline end to end, with a local remote.
#   prepare (Rotten Tomatoes snippets) -> fine-tune MiniLM-L6 (CUDA if present,
#   else CPU) -> evaluate; commit; push; a grid of two experiments (exp show);
#   change one param; repro again (prepare is skipped); metrics diff.
# Needs only python3 (>= 3.11) and git. Everything happens under ./demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
if [ -t 1 ]; then  # bold headings on a terminal; plain text in a log
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi
start=$(date +%s)

step "installing tether and the example's libraries into .venv (a few minutes the first time)"
bash scripts/install.sh
export PATH="$top/.venv/bin:$PATH"   # the stages run `python` from this venv

demo=$top/demo
step "a fresh git repository with the example: $demo/sentiment"
rm -rf "$demo" && mkdir -p "$demo"
cp -r examples/sentiment "$demo/sentiment"
rm -f "$demo/sentiment/params.ci.yaml"
cd "$demo/sentiment"
git init -q -b main
git config user.email demo@example.invalid
git config user.name "tether demo"
tether init
tether remote add local "$demo/remote" --default
git add -A && git commit -qm "sentiment pipeline"

step "tether repro: prepare -> train -> evaluate"
tether repro
tether metrics show
git add -A && git commit -qm "first run"

step "tether push: data, weights and metrics to the local remote"
tether push --run-cache

step "two experiments (train.lr_head 0.002 and 0.004), each in its own work tree: the checkout is untouched"
tether exp run -S train.lr_head=0.002,0.004
tether exp show

step "tether repro again: nothing changed"
tether repro

step "change one param (train.lr_head 0.001 -> 0.003) and repro: prepare is skipped"
sed -i 's/lr_head: 0.001/lr_head: 0.003/' params.yaml
tether status
tether repro

step "tether metrics diff HEAD (the first run vs this one)"
tether metrics diff HEAD
tether params diff HEAD
git add -A && git commit -qm "lr_head 0.003"
tether push

step "tether plots diff: both runs' curves, confusion matrices and PR curves in one page"
tether plots diff HEAD~1 HEAD

step "done in $(( $(date +%s) - start )) s"
cat <<EOT
  workspace:  $demo/sentiment   (git log, tether dag, tether metrics diff HEAD~1)
  cache:      $demo/sentiment/.tether/cache
  remote:     $demo/remote
  metrics:    $demo/sentiment/metrics.json
  weights:    $demo/sentiment/models/model.safetensors

tether and the example's libraries are in $top/.venv, which this script
activated only for itself. To use them in your shell:
  source $top/.venv/bin/activate && cd $demo/sentiment && tether dag
EOT
