"""How stored display fields open in napari: the contrast slider reaches the data (issue 22 item 6),
stored channel colours and windows win over ours (issue 27 item 3), files written by others."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import MLArray
from mlarray.cli import main as cli


def test_ct_contrast_slider_reaches_a_bone_window(make_napari_viewer, tmp_path):
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    out = tmp_path / "ct.mla"
    assert cli(["convert", get_testdata_file("CT_small.dcm"), str(out)]) == 0
    stats = MLArray.open(out).meta.stats
    data = MLArray.open(out).to_numpy()
    assert (float(data.min()), float(data.max())) == (stats.min, stats.max)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(out), plugin=PLUGIN)
    lo, hi = layer.contrast_limits_range
    assert lo <= data.min() and hi >= data.max()  # −896 … 1167 HU, beyond the 0.5–99.5 percentile window
    assert layer.contrast_limits == pytest.approx([stats.percentile(0.5), stats.percentile(99.5)])
    layer.contrast_limits = [300.0, float(data.max())]  # a bone window, as the slider sets it
    assert layer.contrast_limits == [300.0, float(data.max())]


@pytest.fixture
def dapi_gfp(tmp_path):
    """A two-channel OME-Zarr written by ome-zarr-py (DAPI blue 200–20000, GFP a custom orange), converted."""
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("ome_zarr.writer")  # a test-only interop dependency (the main suite has it)
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    rng = np.random.default_rng(2)
    img = rng.integers(0, 30000, (2, 4, 32, 30)).astype(np.uint16)
    omero = {"channels": [
        {"label": "DAPI", "color": "0000FF", "active": True,
         "window": {"start": 200, "end": 20000, "min": 0, "max": 65535}},
        {"label": "GFP", "color": "FF8000", "active": True,
         "window": {"start": 1000, "end": 9000, "min": 0, "max": 65535}}]}
    store = tmp_path / "cells.ome.zarr"
    fmt = FormatV04()
    group = zarr.open_group(str(store), mode="w", zarr_format=fmt.zarr_format)
    write_image(img, group, fmt=fmt, axes="czyx", metadata={"omero": omero}, scaler=None)
    out = tmp_path / "cells.mla"
    assert cli(["convert", str(store), str(out)]) == 0
    return out, img


def test_stored_channel_colours_and_windows_win(dapi_gfp, make_napari_viewer):  # skips before a viewer
    out, img = dapi_gfp
    viewer = make_napari_viewer()
    dapi, gfp = viewer.open(str(out), plugin=PLUGIN)
    assert dapi.name.endswith("[DAPI]") and gfp.name.endswith("[GFP]")
    np.testing.assert_allclose(dapi.colormap.colors[-1], [0, 0, 1, 1])  # blue, as stored
    assert dapi.colormap.name == "blue"
    assert dapi.contrast_limits == pytest.approx([200, 20000])
    np.testing.assert_allclose(gfp.colormap.colors[-1], [1.0, 128 / 255, 0, 1], atol=1e-6)
    assert gfp.contrast_limits == pytest.approx([1000, 9000])
    lo, hi = dapi.contrast_limits_range
    assert lo <= img[0].min() and hi >= img[0].max()


def test_without_stored_colours_ours_are_the_fallback(make_napari_viewer, tmp_path):
    from mlarray import Meta

    arr = np.random.default_rng(0).integers(0, 1000, (2, 10, 12)).astype(np.uint16)
    MLArray(arr, axis_labels=["channel", "spatial_y", "spatial_x"],
            meta=Meta(extra={"channel_names": ["a", "b"]})).save(tmp_path / "c.mla")
    a, b = make_napari_viewer().open(str(tmp_path / "c.mla"), plugin=PLUGIN)
    assert (a.colormap.name, b.colormap.name) == ("magenta", "green")


def test_a_channel_off_in_ome_zarr_opens_hidden_and_stays_off_on_export(make_napari_viewer, tmp_path):
    """``omero`` ``active: false`` (a channel the microscopist switched off) opens as a hidden layer, and the
    converted file written back to OME-Zarr keeps it off."""
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("ome_zarr.writer")
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    img = np.random.default_rng(4).integers(0, 3000, (3, 2, 16, 16)).astype(np.uint16)
    omero = {"channels": [{"label": n, "color": c, "active": a} for n, c, a in
                          [("DAPI", "0000FF", True), ("GFP", "00FF00", False), ("RFP", "FF0000", True)]]}
    store = tmp_path / "three.ome.zarr"
    fmt = FormatV04()
    write_image(img, zarr.open_group(str(store), mode="w", zarr_format=fmt.zarr_format), fmt=fmt, axes="czyx",
                metadata={"omero": omero}, scaler=None)
    out = tmp_path / "three.mla"
    assert cli(["convert", str(store), str(out)]) == 0
    assert MLArray.open(out).meta.extra["channel_visible"] == [True, False, True]
    layers = make_napari_viewer().open(str(out), plugin=PLUGIN)
    assert [lay.visible for lay in layers] == [True, False, True]
    back = tmp_path / "back.ome.zarr"
    assert cli(["convert", str(out), str(back)]) == 0
    attrs = dict(zarr.open_group(str(back), mode="r").attrs)
    chans = (attrs.get("ome") or attrs)["omero"]["channels"]
    assert [c["active"] for c in chans] == [True, False, True]


def test_a_window_set_in_napari_is_the_window_the_saved_file_reopens_with(make_napari_viewer, tmp_path):
    """A trial user applied the bone window, saved with napari's save and reopened: the old window was back."""
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    from napari_mlarray import window

    src = tmp_path / "ct.mla"
    assert cli(["convert", get_testdata_file("CT_small.dcm"), str(src)]) == 0
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(src), plugin=PLUGIN)
    opened_with = tuple(layer.contrast_limits)
    bone = window(layer, "bone")
    assert bone != opened_with
    out = tmp_path / "ct_bone.mla"
    viewer.layers.selection = {layer}
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert MLArray.open(out).meta.extra["display_window"] == list(bone)
    (again,) = make_napari_viewer().open(str(out), plugin=PLUGIN)
    assert tuple(again.contrast_limits) == pytest.approx(bone)


def test_the_demo_opens_in_the_soft_tissue_window_it_stores(make_napari_viewer, tmp_path):
    from mlarray.demo import write_sample_files

    paths = write_sample_files(tmp_path, 64)
    layers = make_napari_viewer().open(str(paths["image"]), plugin=PLUGIN)
    image = next(ly for ly in layers if type(ly).__name__ == "Image")
    assert tuple(image.contrast_limits) == (-160.0, 240.0)
