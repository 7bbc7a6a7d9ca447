# Sourced by setup.sh, test.sh, demo.sh and test_oldest_napari.sh: choose the Python they all use.
# Sets PYTHON (the interpreter to run), MLARRAY_ENV (active | venv | venv-new), MLARRAY_VENV and
# MLARRAY_BASE_PYTHON (the interpreter a new virtualenv is made from).
#
# An active virtualenv or conda environment is used as it is. Otherwise the project's own .venv in
# the checkout (MLARRAY_VENV overrides the place); it is created by setup.sh when missing.
MLARRAY_VENV="${MLARRAY_VENV:-$PWD/.venv}"
MLARRAY_BASE_PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$MLARRAY_BASE_PYTHON" ]; then
  echo "No python3 found: install it first (Debian/Ubuntu: apt-get install python3 python3-venv)." >&2
  exit 1
fi
if [ -n "${VIRTUAL_ENV:-}" ] && [ "${VIRTUAL_ENV}" != "$MLARRAY_VENV" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  MLARRAY_ENV=active; PYTHON="$VIRTUAL_ENV/bin/python"
elif [ -n "${CONDA_PREFIX:-}" ] && [ -x "$CONDA_PREFIX/bin/python" ]; then
  MLARRAY_ENV=active; PYTHON="$CONDA_PREFIX/bin/python"
elif [ -x "$MLARRAY_VENV/bin/python" ]; then
  MLARRAY_ENV=venv; PYTHON="$MLARRAY_VENV/bin/python"
else
  MLARRAY_ENV=venv-new; PYTHON="$MLARRAY_VENV/bin/python"
fi
export PYTHON MLARRAY_ENV MLARRAY_VENV MLARRAY_BASE_PYTHON
# Console scripts (mlarray, napari) of the chosen environment come first on PATH.
PATH="$(dirname "$PYTHON"):$PATH"
export PATH
