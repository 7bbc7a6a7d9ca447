"""``mlarray demo`` / ``run_demo``: writes openable sample files; napari only when showing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlarray import MLArray
from mlarray.demo import run_demo, sample_shape


def test_run_demo_writes_openable_files(tmp_path, capsys):
    assert run_demo(tmp_path, show=False, size=64) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out
    img = MLArray.open(tmp_path / "ct_phantom.mla")
    seg = MLArray.open(tmp_path / "ct_phantom_seg.mla")
    assert img.shape == seg.shape == sample_shape(64)
    assert img.meta.spatial.coord_system == "LPS"
    assert img.meta.bbox.labels and len(img.meta.bbox.bboxes) == len(img.meta.bbox.labels)
    assert seg.meta.is_seg is True
    assert [c["name"] for c in seg.meta.classes] == ["liver", "kidney", "bone", "lung"]
    lab = seg[...]
    assert set(np.unique(lab)) == {0, 1, 2, 3, 4}
    # boxes enclose their class voxels
    names = {c["name"]: c["id"] for c in seg.meta.classes}
    for box, name in zip(img.meta.bbox.bboxes, img.meta.bbox.labels):
        sl = tuple(slice(lo, hi + 1) for lo, hi in box)
        assert (lab[sl] == names[name]).any()
    hu = img[...]
    assert hu.min() >= -1024 and hu.max() > 500
    np.testing.assert_allclose(img.affine, seg.affine)


def test_default_size_and_validation():
    assert sample_shape(None) == (160, 384, 384)
    with pytest.raises(ValueError, match="size"):
        sample_shape(4)


def test_cli_demo_no_viewer_does_not_import_napari(tmp_path):
    code = ("import sys; from mlarray.cli import main; rc = main(['demo', '--dir', sys.argv[1], '--size', '32', "
            "'--no-viewer']); assert 'napari' not in sys.modules, 'napari imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ct_phantom.mla").is_file() and (tmp_path / "ct_phantom_seg.mla").is_file()
    assert "ct_phantom.mla" in r.stdout
