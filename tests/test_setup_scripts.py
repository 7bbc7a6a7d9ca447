"""scripts/env.sh chooses the Python that setup, test and demo use (issue: a stock Debian/Ubuntu has
``python3`` only and forbids pip into it, PEP 668): an active virtualenv or conda environment as it
is, else the project's own ``.venv``, created on first use and reused after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the set-up scripts are bash")


def _choose(tmp_path: Path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "MLARRAY_VENV")}
    clean.update(env)
    out = subprocess.run(["bash", "-c", f'cd "{ROOT}" && . scripts/env.sh && '
                          'echo "$MLARRAY_ENV|$PYTHON|$MLARRAY_VENV|$(command -v mlarray || true)"'],
                         env=clean, capture_output=True, text=True, check=True).stdout.strip()
    kind, python, venv, on_path = out.split("|")
    return {"kind": kind, "python": python, "venv": venv, "on_path": on_path}


def test_without_an_environment_the_project_venv_is_created_then_reused(tmp_path):
    venv = tmp_path / "project-venv"
    first = _choose(tmp_path, MLARRAY_VENV=str(venv))
    assert first["kind"] == "venv-new" and first["python"] == str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    again = _choose(tmp_path, MLARRAY_VENV=str(venv))
    assert again["kind"] == "venv" and again["python"] == str(venv / "bin" / "python")


def test_an_active_virtualenv_is_used_as_it_is(tmp_path):
    active = tmp_path / "active"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(active)], check=True)
    chosen = _choose(tmp_path, VIRTUAL_ENV=str(active), MLARRAY_VENV=str(tmp_path / "unused"))
    assert chosen["kind"] == "active" and chosen["python"] == str(active / "bin" / "python")
    assert not (tmp_path / "unused").exists()


def test_setup_never_calls_a_bare_python(tmp_path):
    """Debian and Ubuntu ship ``python3`` only: no script may call ``python`` unqualified."""
    for script in ("setup.sh", "test.sh", "demo.sh", "test_oldest_napari.sh", "env.sh"):
        for n, line in enumerate((ROOT / "scripts" / script).read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0].replace("command -v python", "")  # looking one up is fine
            words = code.replace(";", " ").replace("(", " ").split()
            assert "python" not in words, f"scripts/{script}:{n} calls a bare python: {line.strip()}"
