#!/usr/bin/env bash
# Install everything a fresh machine lacks: system libraries for napari's OpenGL window under
# Xvfb, then this project with all extras. Safe to run repeatedly (skips what is present).
#
# Where Python packages go:
#   - inside an active virtualenv or conda environment: into it;
#   - otherwise: into .venv in the checkout, created here (and reused on the next run). Debian 12+
#     and Ubuntu 23.04+ mark the system Python "externally managed" (PEP 668), so pip may not
#     install into it, and they ship `python3` only, never `python`.
# The scripts that call this one (test.sh, demo.sh) source scripts/env.sh to use the same Python.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0
libdbus-1-3 libfontconfig1"

# shellcheck source=scripts/env.sh
. scripts/env.sh

# A distribution Python without its venv module (Debian's python3-venv) cannot create .venv:
# install that package in the same apt step as the screen libraries.
if [ "$MLARRAY_ENV" = "venv-new" ] && ! "$MLARRAY_BASE_PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  pyver=$("$MLARRAY_BASE_PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  APT_PACKAGES="$APT_PACKAGES python3-venv python${pyver}-venv"
fi

missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "Installing system packages:$missing"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if [ "$MLARRAY_ENV" = "venv-new" ]; then
  echo "Creating the project's Python environment in $MLARRAY_VENV"
  "$MLARRAY_BASE_PYTHON" -m venv "$MLARRAY_VENV"
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -c scripts/constraints.txt -e ".[test]"
# nnU-Net finds readers by name only inside its own package folder, in every process it starts
"$PYTHON" -m mlarray.nnunet install >/dev/null
if [ "$MLARRAY_ENV" != "active" ]; then
  echo "Environment: $MLARRAY_VENV  (use it with: source $MLARRAY_VENV/bin/activate)"
fi
