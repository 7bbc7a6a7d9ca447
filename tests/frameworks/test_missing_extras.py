"""Each bridge, without the package it needs, says which extra to install (or what to run), in one line.

A fresh interpreter hides the package as an absent one looks to Python (``sys.modules[name] = None``
makes ``import name`` raise ``ModuleNotFoundError``), then takes the user's path: an import, or the
``python -m`` command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def _run(code: str, hide: str) -> subprocess.CompletedProcess:
    prelude = f"import sys\nfor name in {hide.split()!r}:\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


@pytest.mark.parametrize("module, hide, extra", [
    ("mlarray.monai", "torch", "monai"),
    ("mlarray.monai", "monai", "monai"),
    ("mlarray.torch", "torch", "torch"),
    ("mlarray.nnunet", "nnunetv2", "nnunet"),
    ("mlarray.dask", "dask", "dask"),
])
def test_import_without_the_framework_names_the_extra(module, hide, extra):
    out = _run(f"""
        from mlarray import MissingDependencyError
        try:
            import {module}
        except MissingDependencyError as exc:
            print("MISSING", exc.extra, "|", exc)
        """, hide)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"MISSING {extra} |"), out.stdout + out.stderr
    assert f"pip install 'mlarray[{extra}]'" in out.stdout


def test_nnunet_command_line_without_nnunetv2_prints_one_line():
    out = _run("""
        import runpy
        sys.argv = ["mlarray.nnunet", "status"]
        runpy.run_module("mlarray.nnunet", run_name="__main__", alter_sys=True)
        """, "nnunetv2")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'mlarray[nnunet]'" in lines[0], out.stderr


def test_nnunet_hook_missing_is_announced_on_import(tmp_path, monkeypatch):
    """Before `python -m mlarray.nnunet install`, nnU-Net's own CLI fails with "Unable to determine a reader for
    file ending .mla", which cannot name our fix: registering in a process says what to run."""
    pytest.importorskip("nnunetv2")
    from nnunetv2.imageio import reader_writer_registry as registry

    import mlarray.nnunet
    from mlarray._frameworks import nnunet_hook

    monkeypatch.setattr(nnunet_hook, "shim_path", lambda: str(tmp_path / nnunet_hook.SHIM_NAME))
    monkeypatch.setattr(registry, "LIST_OF_IO_CLASSES", [c for c in registry.LIST_OF_IO_CLASSES
                                                          if c is not mlarray.nnunet.MLArrayIO])
    with pytest.warns(UserWarning, match="python -m mlarray.nnunet install"):
        mlarray.nnunet.register()
    assert mlarray.nnunet.MLArrayIO in registry.LIST_OF_IO_CLASSES
    assert nnunet_hook.main(["status"]) == 1  # and the status command says "not installed"
