#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, napari tests included, on a virtual screen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest -p no:xvfb "$@"
