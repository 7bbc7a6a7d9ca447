#!/usr/bin/env bash
# Run the napari plugin tests (tests/napari) a second time against the oldest napari that
# pyproject.toml declares (the lower bound of the napari extra), in a throwaway virtualenv, on a
# virtual screen. CI runs it after scripts/test.sh; the shared environment keeps the newest napari.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh  # for MLARRAY_BASE_PYTHON: stock Debian has python3 only
OLDEST=$(grep -oE '"napari>=[0-9.]+' pyproject.toml | head -1 | cut -d= -f2)
VENV="${MLARRAY_OLDEST_NAPARI_VENV:-/tmp/mlarray-napari-$OLDEST}"
PINS="$(mktemp)"
echo "torch==2.13.0" > "$PINS"  # nothing here needs torch; never let a resolver fetch a CUDA build
[ -x "$VENV/bin/python" ] || "$MLARRAY_BASE_PYTHON" -m venv "$VENV"
echo "napari $OLDEST in $VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$PINS" \
  -e ".[convert,napari,omezarr]" "napari==$OLDEST" pytest pytest-qt \
  "ome-zarr>=0.12,<0.18" pydicom-data  # the plugin tests' OME-Zarr inputs and real enhanced CT (as in .[test])
rm -f "$PINS"
"$VENV/bin/python" -c "import napari, mlarray; assert napari.__version__ == '$OLDEST', napari.__version__"
# test_formats_omezarr_napari.py compares with another plugin (napari-ome-zarr, zarr 3, ome-zarr), a
# test-only interop check that is not part of the napari extra; it runs in the main suite.
exec xvfb-run -a -s "-screen 0 1280x1024x24" "$VENV/bin/python" -m pytest -p no:xvfb tests/napari \
  --ignore=tests/napari/test_formats_omezarr_napari.py "$@"
