"""Issue 18 item 11: opening a file in napari does not import Blosc2's HTTP client (``httpx``),
and code that does use it later gets the real package."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("httpx")

_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from napari_mlarray.hooks._reader import read_mla

    assert "blosc2" not in sys.modules
    layers = read_mla(sys.argv[1])
    assert layers and np.asarray(layers[0][0]).sum() == np.arange(64).sum()
    import blosc2
    import httpx
    assert "httpx._client" not in sys.modules, "httpx was loaded while opening a file"
    version = httpx.__version__  # the first real use loads the package
    from httpx import Client
    assert sys.modules["httpx"].Client is Client and httpx.Client is Client
    import blosc2.remote_ctable as rc
    assert rc.httpx.HTTPStatusError is sys.modules["httpx"].HTTPStatusError
    print("OK", version)
""")


def test_opening_a_file_defers_httpx_until_used(tmp_path):
    import numpy as np

    from mlarray import MLArray

    MLArray(np.arange(64, dtype=np.int16).reshape(4, 4, 4)).save(tmp_path / "a.mla")
    # a fresh interpreter: in the test process napari or another test may have imported httpx already
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "a.mla")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("OK ")
