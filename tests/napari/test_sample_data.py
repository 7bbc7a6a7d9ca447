"""npe2 sample data: File > Open Sample > MLArray gives real, .mla-backed layers."""

from __future__ import annotations

import numpy as np
import pytest

from mlarray import MLArray  # noqa: E402
from mlarray.demo import SAMPLE_NAMES  # noqa: E402


@pytest.fixture
def small_samples(tmp_path, monkeypatch):
    """Point the sample cache at tmp_path and make the phantom small (fast)."""
    import napari_mlarray.hooks._samples as sd

    monkeypatch.setenv("MLARRAY_SAMPLE_DIR", str(tmp_path))
    real = sd.sample_paths
    monkeypatch.setattr(sd, "sample_paths", lambda size=None: real(64))
    return tmp_path


def test_open_sample_all(make_napari_viewer, small_samples):
    viewer = make_napari_viewer()
    layers = viewer.open_sample("mlarray", "ct_phantom_all")
    kinds = sorted((type(ly).__name__.lower(), ly.metadata["mlarray_role"]) for ly in layers)
    assert kinds == [("image", "image"), ("labels", "labels"), ("shapes", "boxes")]
    img = next(ly for ly in layers if type(ly).__name__.lower() == "image")
    lab = next(ly for ly in layers if type(ly).__name__.lower() == "labels")
    shp = next(ly for ly in layers if type(ly).__name__.lower() == "shapes")
    # lazy, file-backed, with metadata the widget can save
    assert img.metadata["mlarray_path"] == str(small_samples / SAMPLE_NAMES["image"])
    assert img.metadata["mlarray"]["spatial"]["coord_system"] == "LPS"
    assert not isinstance(img.data, np.ndarray) and not isinstance(lab.data, np.ndarray)
    # named classes and boxes
    assert [c["name"] for c in lab.metadata["mlarray"]["classes"]] == ["liver", "kidney", "bone", "lung"]
    assert set(shp.features["label"]) == {"liver", "kidney", "lung", "bone"}
    # CT contrast: the soft-tissue window the sample stores, in HU; the slider reaches the data's range
    assert tuple(img.contrast_limits) == (-160.0, 240.0)
    lo, hi = img.contrast_limits_range
    assert lo < -500 and hi > 500
    # image and labels share the world geometry
    np.testing.assert_allclose(img.scale, lab.scale)
    np.testing.assert_allclose(img.translate, lab.translate)


def test_sample_files_are_cached(small_samples):
    from napari_mlarray.hooks._samples import ct_phantom, ct_phantom_segmentation, sample_paths

    p = sample_paths()
    mtime = (small_samples / SAMPLE_NAMES["image"]).stat().st_mtime_ns
    image_layers = ct_phantom()
    assert [t[2] for t in image_layers] == ["image", "shapes"]
    assert [t[2] for t in ct_phantom_segmentation()] == ["labels"]
    assert (small_samples / SAMPLE_NAMES["image"]).stat().st_mtime_ns == mtime
    assert MLArray.open(p["labels"]).meta.is_seg is True


def test_default_sample_has_a_pyramid(tmp_path):
    """The default size (as opened from the menu) is stored with a resolution pyramid."""
    from mlarray.demo import write_sample_files

    p = write_sample_files(tmp_path, 300)  # > 256 in-plane, so a pyramid level is built
    img = MLArray.open(p["image"])
    assert img.meta.pyramid.levels
    assert len(img.levels) >= 2
