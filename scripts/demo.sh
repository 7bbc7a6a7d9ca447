#!/usr/bin/env bash
# Set up (if needed) and open the demo in napari: a CT phantom with its segmentation and boxes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
if [ -z "${DISPLAY:-}" ]; then
  echo "No DISPLAY: running the demo on a virtual screen (xvfb-run)." >&2
  exec xvfb-run -a -s "-screen 0 1280x1024x24" mlarray demo "$@"
fi
exec mlarray demo "$@"
