#!/usr/bin/env bash
# Install everything a fresh machine lacks: system libraries for napari's OpenGL window under
# Xvfb, then this project with all extras. Safe to run repeatedly (skips what is present).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0
libdbus-1-3 libfontconfig1"

missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "Installing system packages:$missing"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

python -m pip install -q --disable-pip-version-check -c scripts/constraints.txt -e ".[test]"
# nnU-Net finds readers by name only inside its own package folder, in every process it starts
python -m mlarray.nnunet install >/dev/null
