#!/usr/bin/env bash
# The main job, until the example ML pipeline lands: a scripted tour of
# add -> commit -> change -> add -> commit -> checkout an older version.
# Needs only python3 (>= 3.11) and git. Everything happens under ./demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
PY=${PYTHON:-python3}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "installing tether into .venv"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
tether() { "$top/.venv/bin/tether" "$@"; }

demo=$top/demo
rm -rf "$demo" && mkdir -p "$demo" && cd "$demo"
git init -q -b main
git config user.email demo@example.invalid
git config user.name "tether demo"

step "tether init"
tether init
git commit -qm "tether init"

step "a dataset (2,000 files) and model weights (8 MiB)"
"$top/.venv/bin/python" - <<'PY'
import os, random
rnd = random.Random(7)
for i in range(2000):
    d = f"data/raw/part{i % 20:02d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/sample{i:05d}.txt", "w") as f:
        f.write(" ".join(rnd.choice(["good", "bad", "film", "plot", "actor"]) for _ in range(50)))
os.makedirs("models", exist_ok=True)
with open("models/base.safetensors", "wb") as f:
    f.write(rnd.randbytes(8 << 20))
PY

step "tether add data/raw models/base.safetensors"
tether add data/raw models/base.safetensors
cat data/raw.tether
git commit -qm "data v1"

step "change the data: edit one file, delete one, add one"
echo "edited" > data/raw/part00/sample00000.txt
rm data/raw/part01/sample00001.txt
echo "brand new" > data/raw/part02/extra.txt
tether status || true

step "tether add data/raw && git commit  (data v2)"
tether add data/raw
git commit -qm "data v2"

step "git checkout HEAD~1 && tether checkout  (back to data v1)"
git checkout -q HEAD~1
tether checkout
test ! -e data/raw/part02/extra.txt
test -e data/raw/part01/sample00001.txt
tether status --exit-code
echo "data v1 restored byte for byte"

step "back to main, then cache upkeep"
git checkout -q main
tether checkout
tether gc --dry-run
tether gc --dry-run --all-commits
tether fsck

step "done"
echo "workspace:  $demo"
echo "cache:      $(tether cache dir)"
echo "history:"; git log --oneline
