"""Issue 27 item 5: what a user set on channel layers in napari (names, colormaps, contrast limits,
visibility) is what the saved file holds, and the channel lists always match the channel axis."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN
from save_paths import SAVE_PATHS, save_selected

from mlarray import Meta, MLArray
from mlarray.cli import main as cli


@pytest.fixture
def dapi_gfp(tmp_path):
    arr = np.random.default_rng(1).integers(0, 30000, (2, 4, 30, 32)).astype(np.uint16)
    MLArray(arr, spacing=[2.0, 0.5, 0.5], axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"],
            meta=Meta(extra={"channel_names": ["DAPI", "GFP"], "channel_colors": ["#0000ff", "#00ff00"],
                             "channel_windows": [[200, 20000], [100, 3000]]})).save(tmp_path / "cells.mla")
    return tmp_path / "cells.mla", arr


@pytest.mark.parametrize("how", SAVE_PATHS)
def test_renamed_recoloured_windowed_hidden_channels_are_saved(make_napari_viewer, dapi_gfp, tmp_path,
                                                               monkeypatch, how):
    path, arr = dapi_gfp
    viewer = make_napari_viewer()
    dapi, gfp = viewer.open(str(path), plugin=PLUGIN)
    dapi.name = "nuclei"  # renamed in the layer list
    dapi.colormap = "cyan"
    dapi.contrast_limits = [300.0, 15000.0]
    gfp.visible = False
    out = tmp_path / f"edited_{how}.mla"
    assert save_selected(how, viewer, [dapi, gfp], out, monkeypatch) == [str(out)]
    extra = MLArray.open(out).meta.extra
    assert extra["channel_names"] == ["nuclei", "GFP"]
    assert extra["channel_colors"] == ["#00ffff", "#00ff00"]
    assert extra["channel_windows"] == [[300.0, 15000.0], [100.0, 3000.0]]
    assert extra["channel_visible"] == [True, False]
    np.testing.assert_array_equal(MLArray.open(out).to_numpy(), arr)
    # reopened, it looks as it was left
    nuclei, gfp2 = make_napari_viewer().open(str(out), plugin=PLUGIN)
    assert nuclei.name.endswith("[nuclei]") and nuclei.colormap.name == "cyan"
    assert nuclei.contrast_limits == pytest.approx([300, 15000])
    assert gfp2.visible is False and nuclei.visible is True
    assert cli(["validate", str(out)]) == 0


def test_one_channel_saved_alone_keeps_no_channel_lists(make_napari_viewer, dapi_gfp, tmp_path):
    path, arr = dapi_gfp
    viewer = make_napari_viewer()
    dapi, _gfp = viewer.open(str(path), plugin=PLUGIN)
    viewer.layers.selection = {dapi}
    viewer.layers.save(str(tmp_path / "dapi.mla"), selected=True, plugin=PLUGIN)
    back = MLArray.open(tmp_path / "dapi.mla")
    assert back.shape == arr.shape[1:]
    assert not {"channel_names", "channel_colors", "channel_windows"} & set(back.meta.extra)
    assert cli(["validate", str(tmp_path / "dapi.mla")]) == 0


def test_three_image_layers_give_three_entry_lists(make_napari_viewer, dapi_gfp, tmp_path):
    path, arr = dapi_gfp
    viewer = make_napari_viewer()
    dapi, gfp = viewer.open(str(path), plugin=PLUGIN)
    third = viewer.add_image(np.asarray(dapi.data[0] if dapi.multiscale else dapi.data), name="mask",
                             scale=dapi.scale, translate=dapi.translate, colormap="red")
    viewer.layers.selection = {dapi, gfp, third}
    viewer.layers.save(str(tmp_path / "three.mla"), selected=True, plugin=PLUGIN)
    back = MLArray.open(tmp_path / "three.mla")
    extra = back.meta.extra
    assert back.shape[0] == 3
    assert [len(extra[k]) for k in ("channel_names", "channel_colors", "channel_windows")] == [3, 3, 3]
    assert extra["channel_names"] == ["DAPI", "GFP", "mask"]
    assert extra["channel_colors"] == ["#0000ff", "#00ff00", "#ff0000"]
    assert cli(["validate", str(tmp_path / "three.mla")]) == 0
