#!/usr/bin/env bash
# Proof that the package installs on its own: a fresh virtual environment, `pip install <checkout>`
# with no extras, then -- from a folder outside the checkout -- every module of hiercourse imports,
# a notebook runs in the "python3" kernel through hiercourse.run (nbclient + ipykernel), and the
# fast shop benchmark runs end to end.
#
# Usage:   scripts/check_fresh_install.sh [VENV_DIR]      (default /tmp/hiercourse-freshvenv; recreated)
# Env:     PYTHON  interpreter that makes the venv (default python3)
#          TORCH   requirement installed before the package (default torch==2.13.0, the CPU wheel that
#                  requirements-lock.txt pins). `pip install .` alone resolves torch>=2.1 to the newest
#                  release on PyPI, a CUDA build that pulls ~3 GB of nvidia-* wheels; a learner who has
#                  torch already (Colab, a conda env) keeps theirs, which is what this step mimics.
#                  TORCH= (empty) skips it and lets pip choose.
#          OUT     folder for the benchmark CSV and the logs (default: a new temporary folder)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-/tmp/hiercourse-freshvenv}
PYTHON=${PYTHON:-python3}
TORCH=${TORCH-torch==2.13.0}
OUT=${OUT:-$(mktemp -d /tmp/hiercourse-fresh.XXXXXX)}
mkdir -p "$OUT"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export HIERCOURSE_CACHE="$OUT/cache"   # downloads (none expected) stay out of ~/.cache
unset HIERCOURSE_DATA PYTHONPATH        # nothing from the checkout or the shared data leaks in

T0=$(date +%s)
step() { printf '\n== [%4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
timed() {  # timed LABEL CMD...: run CMD, print its wall time
  local label=$1 start; shift; start=$(date +%s.%N)
  "$@"
  awk -v l="$label" -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "-- %s: %.1f s\n", l, b - a }'
}

step "fresh venv $VENV ($("$PYTHON" --version))"
rm -rf "$VENV"
timed "venv" "$PYTHON" -m venv "$VENV"

if [ -n "$TORCH" ]; then
  step "pre-install $TORCH (see the header: plain resolution would pick the CUDA build)"
  timed "pip install $TORCH" "$PY" -m pip install -q "$TORCH"
fi

step "pip install $REPO  (no extras)"
timed "pip install ." "$PY" -m pip install "$REPO" >"$OUT/pip-install.log" 2>&1 \
  || { tail -30 "$OUT/pip-install.log"; exit 1; }
grep -E '^Successfully installed' "$OUT/pip-install.log" | fold -s -w 110
"$PY" -m pip check
"$PY" -m pip freeze >"$OUT/freeze.txt"
echo "$(wc -l <"$OUT/freeze.txt") distributions in the venv (list: $OUT/freeze.txt)"

cd "$OUT"  # outside the checkout: only the installed package can be imported

step "import every module of hiercourse"
timed "imports" "$PY" - "$REPO" <<'EOF'
import importlib, importlib.metadata as md, pkgutil, sys
from pathlib import Path

import hiercourse

repo = Path(sys.argv[1]).resolve()
where = Path(hiercourse.__file__).resolve()
assert repo not in where.parents, f"hiercourse imported from the checkout ({where}), not the install"
names = ["hiercourse"] + [m.name for m in pkgutil.walk_packages(hiercourse.__path__, "hiercourse.")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as err:  # report every failure, not just the first
        failed[name] = f"{type(err).__name__}: {err}"
print(f"{len(names) - len(failed)}/{len(names)} modules import (from {where.parent})")
for name, err in failed.items():
    print(f"  FAIL {name}: {err}")
meta = md.metadata("hiercourse")
assert meta["Version"] == hiercourse.__version__, (meta["Version"], hiercourse.__version__)
assert meta["License-Expression"] == "MIT", meta["License-Expression"]
print(f"version {hiercourse.__version__} (metadata agrees), licence {meta['License-Expression']}")
sys.exit(1 if failed else 0)
EOF

step "entry points"
"$VENV/bin/hiercourse-run" --help >/dev/null && echo "hiercourse-run --help: ok"
"$VENV/bin/hiercourse-bench" --help >/dev/null && echo "hiercourse-bench --help: ok"

step "a notebook through hiercourse.run.execute (nbclient + the python3 kernel)"
timed "notebook" "$PY" - <<'EOF'
from pathlib import Path

import nbformat

from hiercourse.notebook import read_records
from hiercourse.run import execute

nb = nbformat.v4.new_notebook()
nb.cells = [
    nbformat.v4.new_code_cell("import IPython, ipywidgets, scipy, sklearn, torch\nimport hiercourse"),
    nbformat.v4.new_code_cell("from hiercourse.notebook import fast_mode, record\nrecord('fast', fast_mode())"),
]
src, out = Path("probe.ipynb"), Path("probe.out.ipynb")
nbformat.write(nb, src)
run = execute(src, out, fast=True, timeout=300)
print(f"status {run.status} in {run.seconds:.1f} s; records {read_records(out)}")
assert run.status == "ok" and read_records(out) == {"fast": True}
EOF

step "python -m hiercourse.bench --dataset shop --fast --no-progress"
timed "bench" "$PY" -m hiercourse.bench --dataset shop --fast --no-progress --out "$OUT/fastbench/shop.csv" \
  >"$OUT/bench.log" 2>&1 || { tail -30 "$OUT/bench.log"; exit 1; }
tail -15 "$OUT/bench.log"
test -s "$OUT/fastbench/shop.csv"
echo "csv: $OUT/fastbench/shop.csv ($(( $(wc -l <"$OUT/fastbench/shop.csv") - 1 )) rows)"

step "all checks passed"
