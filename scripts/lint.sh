#!/usr/bin/env bash
# Static checks: ruff (pycodestyle, pyflakes, import order) and mypy (the modules listed in pyproject.toml's
# [tool.mypy] files), both from the Python that scripts/test.sh uses. Run `bash scripts/setup.sh` first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
status=0
"$PYTHON" -m ruff check . || status=1  # both run, so one run shows every finding
"$PYTHON" -m mypy || status=1
exit "$status"
