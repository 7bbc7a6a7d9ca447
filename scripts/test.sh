#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, napari tests included, on a virtual screen,
# across the machine's cores (pytest-xdist; every worker draws on the same Xvfb screen).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/napari -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
WORKERS="${MLARRAY_TEST_WORKERS:-auto}"
exec xvfb-run -a -s "-screen 0 1280x1024x24" "$PYTHON" -m pytest -p no:xvfb -n "$WORKERS" "$@"
