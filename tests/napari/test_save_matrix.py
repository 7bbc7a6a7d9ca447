"""Every layer kind the reader produces, and common napari-made layers: open -> edit -> save through
each public save path -> reopen -> compare data, geometry and metadata (issue 18, items 1, 7, 8)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN
from save_paths import SAVE_PATHS, save_selected

from mlarray import Meta, MLArray
from napari_mlarray.layers import _to_layers

GEOM = dict(spacing=[3.0, 0.7, 0.8], origin=[10.0, -20.0, 5.0], direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]])


def _lps(ml: MLArray) -> MLArray:
    ml.meta.spatial.coord_system = "LPS"
    return ml


def _world(layer, idx):
    """World positions of voxel ``idx`` and of its neighbour one step along each layer axis: equal
    for two layers only if their origin, spacing and direction agree (the whole affine)."""
    idx = np.asarray(idx, float)
    steps = [idx] + [idx + np.eye(len(idx))[k] for k in range(len(idx))]
    return np.array([layer.data_to_world(p) for p in steps], float)


# ----------------------------------------------------------------------------- cases
# Each case writes its source file(s), opens them, edits, and returns what the saved file must hold.

def _case_multiscale_image(viewer, tmp_path):
    arr = np.random.default_rng(1).integers(-1000, 1500, size=(4, 300, 270)).astype(np.int16)
    _lps(MLArray(arr, **GEOM, meta=Meta(source={"Modality": "CT"}, extra={"case": 1}))).save(tmp_path / "img.mla")
    (img,) = viewer.open(str(tmp_path / "img.mla"), plugin=PLUGIN)
    assert img.multiscale
    img.translate = np.asarray(img.translate) + [6.0, 0.0, -1.5]  # edit: move it
    return [img], dict(data=arr, world_of=(img, (1, 2, 3)), source={"Modality": "CT"}, extra={"case": 1})


def _case_paintable_labels(viewer, tmp_path):
    lab = np.zeros((5, 40, 30), np.uint8)
    lab[1:4, 10:30, 5:25] = 1
    _lps(MLArray(lab, **GEOM, meta=Meta(is_seg=True, classes=CLASSES))).save(tmp_path / "seg.mla")
    (layer,) = viewer.open(str(tmp_path / "seg.mla"), plugin=PLUGIN)
    assert layer.editable and not layer.multiscale
    order = layer.metadata["mlarray_axes"]
    voxel = (2, 20, 15)
    layer.data[tuple(voxel[a] for a in order)] = 3  # edit: paint one voxel (napari's brush writes like this)
    want = lab.copy()
    want[voxel] = 3
    return [layer], dict(data=want, is_seg=True, classes=CLASSES, world_of=(layer, (0, 0, 0)))


def _case_read_only_labels(viewer, tmp_path, monkeypatch):
    monkeypatch.setattr(_to_layers, "PAINTABLE_LABELS_MAX_BYTES", 1000)
    lab = np.zeros((4, 300, 260), np.uint8)
    lab[1:3, 50:250, 40:200] = 2
    _lps(MLArray(lab, **GEOM, meta=Meta(is_seg=True, classes=CLASSES))).save(tmp_path / "big_seg.mla")
    (layer,) = viewer.open(str(tmp_path / "big_seg.mla"), plugin=PLUGIN)
    assert layer.multiscale and not layer.editable
    layer.translate = np.asarray(layer.translate) + [0.0, 2.1, 0.0]
    return [layer], dict(data=lab, is_seg=True, classes=CLASSES, world_of=(layer, (1, 5, 7)))


def _case_boxes(viewer, tmp_path):
    arr = np.zeros((8, 30, 24), np.int16)
    boxes = [[[1, 5], [3, 20], [4, 9]]]
    _lps(MLArray(arr, **GEOM, meta=Meta(bbox={"bboxes": boxes, "labels": ["lesion"], "scores": [0.7]}))).save(
        tmp_path / "b.mla")
    _img, shp = viewer.open(str(tmp_path / "b.mla"), plugin=PLUGIN)
    order = shp.metadata["mlarray_axes"]
    data = [np.asarray(d).copy() for d in shp.data]
    data[0][:, 2] += 2  # edit: move one slice's rectangle along the last layer axis
    shp.data = data
    moved = [list(p) for p in boxes[0]]
    moved[order[2]] = [v + 2 for v in moved[order[2]]]
    return [shp], dict(has_array=False, bboxes=[moved], scores=[0.7], world_of=(shp, (0, 0, 0)))


def _case_metadata_only_boxes(viewer, tmp_path):
    boxes = [[[1, 5], [3, 20], [4, 9]], [[0, 2], [0, 4], [1, 1]]]
    meta = Meta(bbox={"bboxes": boxes, "labels": ["a", "b"]}, extra={"reader": "boxes only"})
    meta.spatial.spacing, meta.spatial.origin = [2.0, 1.0, 1.0], [0.0, 5.0, 0.0]
    meta.spatial.direction, meta.spatial.coord_system = GEOM["direction"], "LPS"
    MLArray(meta=meta).save(tmp_path / "only.mla")
    (shp,) = viewer.open(str(tmp_path / "only.mla"), plugin=PLUGIN)
    ids = np.asarray(shp.features["box_id"])
    shp.selected_data = set(np.flatnonzero(ids == 1).tolist())
    shp.remove_selected()  # edit: delete box "b"
    return [shp], dict(has_array=False, bboxes=boxes[:1], extra={"reader": "boxes only"}, world_of=(shp, (0, 0, 0)))


def _case_channels(viewer, tmp_path):
    arr = np.stack([np.full((5, 20, 24), 3, np.uint16), np.arange(5 * 20 * 24, dtype=np.uint16).reshape(5, 20, 24)])
    MLArray(arr, spacing=[2.0, 0.5, 0.5], axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"],
            meta=Meta(extra={"channel_names": ["DAPI", "GFP"]})).save(tmp_path / "ch.mla")
    layers = viewer.open(str(tmp_path / "ch.mla"), plugin=PLUGIN)
    for lay in layers:
        lay.translate = np.asarray(lay.translate) + [1.0, 0.0, 0.0]
    return list(layers), dict(data=arr, axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"],
                              extra={"channel_names": ["DAPI", "GFP"], **_shown(layers)},
                              world_of=(layers[0], (1, 2, 3)))


def _shown(layers) -> dict:
    """The colours and windows the channel layers show, which a save records (issue 27 item 5)."""
    return {"channel_colors": [{"magenta": "#ff00ff", "green": "#00ff00"}[ly.colormap.name] for ly in layers],
            "channel_windows": [[float(v) for v in ly.contrast_limits] for ly in layers]}


def _case_time_series(viewer, tmp_path):
    arr = np.random.default_rng(3).random((6, 10, 12, 3)).astype(np.float32)  # z, y, x, t
    labels = ["spatial_z", "spatial_y", "spatial_x", "temporal"]
    MLArray(arr, spacing=[2.0, 1.0, 1.5], axis_labels=labels).save(tmp_path / "t.mla")
    (layer,) = viewer.open(str(tmp_path / "t.mla"), plugin=PLUGIN)
    assert viewer.dims.axis_labels[0] == "time"
    layer.translate = np.asarray(layer.translate) + [0.0, 4.0, 0.0, 0.0]
    return [layer], dict(data=arr, axis_labels=labels, world_of=(layer, (1, 2, 3, 4)))


def _case_rgb(viewer, tmp_path):
    rgb = np.random.default_rng(5).integers(0, 256, (30, 40, 3)).astype(np.uint8)
    layer = viewer.add_image(rgb, rgb=True, scale=[0.25, 0.25], translate=[3.0, 1.0], name="photo")
    return [layer], dict(data=rgb, axis_labels=["spatial_y", "spatial_x", "channel"], reopened_rgb=True,
                         world_of=(layer, (4, 5)))


def _case_channel_split(viewer, tmp_path):
    arr = np.random.default_rng(6).random((2, 4, 16, 18)).astype(np.float32)
    layers = viewer.add_image(arr, channel_axis=0, name=["nuclei", "membrane"], scale=[2.0, 0.5, 0.5])
    return list(layers), dict(data=arr, axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"],
                              extra={"channel_names": ["nuclei", "membrane"], **_shown(layers)},
                              world_of=(layers[0], (1, 2, 3)))


def _case_4d_numpy(viewer, tmp_path):
    arr = np.random.default_rng(7).random((3, 4, 10, 12)).astype(np.float32)
    layer = viewer.add_image(arr, axis_labels=("t", "z", "y", "x"), scale=[1.0, 2.0, 0.5, 0.5], name="movie")
    return [layer], dict(data=arr, axis_labels=["temporal", "spatial_z", "spatial_y", "spatial_x"],
                         world_of=(layer, (1, 2, 3, 4)))


CASES = {
    "multiscale_image": _case_multiscale_image,
    "paintable_labels": _case_paintable_labels,
    "read_only_labels": _case_read_only_labels,
    "boxes": _case_boxes,
    "metadata_only_boxes": _case_metadata_only_boxes,
    "channels": _case_channels,
    "time_series": _case_time_series,
    "rgb_numpy": _case_rgb,
    "channel_axis_split": _case_channel_split,
    "4d_numpy_with_axis_labels": _case_4d_numpy,
}


@pytest.mark.parametrize("how", SAVE_PATHS)
@pytest.mark.parametrize("case", list(CASES))
def test_open_edit_save_reopen(make_napari_viewer, tmp_path, monkeypatch, case, how):
    viewer = make_napari_viewer()
    make = CASES[case]
    layers, want = make(viewer, tmp_path, monkeypatch) if case == "read_only_labels" else make(viewer, tmp_path)
    out = tmp_path / "out" / "saved.mla"
    out.parent.mkdir()
    assert save_selected(how, viewer, layers, out, monkeypatch) == [str(out)]
    back = MLArray.open(out)
    if want.get("has_array", True):
        np.testing.assert_array_equal(back.to_numpy(), want["data"])
    else:
        assert not back.meta.has_array
        assert back.meta.bbox.bboxes == want["bboxes"]
        if "scores" in want:
            assert back.meta.bbox.scores == pytest.approx(want["scores"])
    for key in ("axis_labels",):
        if key in want:
            assert back.axis_labels == want[key]
    for key in ("source", "extra", "classes", "is_seg"):
        if key in want:
            assert getattr(back.meta, key) == want[key], key
    # reopened, the layer lands where the edited layer was, voxel for voxel
    layer, idx = want["world_of"]
    expect = _world(layer, idx)
    viewer.layers.clear()
    again = viewer.open(str(out), plugin=PLUGIN)
    first = again[0]
    if want.get("reopened_rgb"):
        assert len(again) == 1 and first.rgb
    np.testing.assert_allclose(_world(first, idx), expect, atol=1e-6)


def test_a_refused_save_says_why_through_napari(make_napari_viewer, tmp_path):
    """napari reports a writer's ValueError as "not a valid writer"; the plugin's reason must reach the user."""
    from napari_mlarray.hooks._writer import LayerSaveError

    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((5, 6), np.float32), name="a")
    b = viewer.add_image(np.zeros((7, 8), np.float32), name="b")
    viewer.layers.selection = {a, b}
    with pytest.raises(LayerSaveError, match="differ in shape, dtype or transform"):
        viewer.layers.save(str(tmp_path / "two.mla"), selected=True, plugin=PLUGIN)
    assert not (tmp_path / "two.mla").exists()


def test_rgb_tiff_opens_as_one_rgb_layer(make_napari_viewer, tmp_path):
    """A pathologist's RGB slide (TIFF -> .mla) shows in colour, not as three channel layers."""
    tifffile = pytest.importorskip("tifffile")
    from mlarray.convert._bridge import convert_file

    rgb = np.random.default_rng(8).integers(0, 256, (64, 80, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "slide.tif", rgb, photometric="rgb")
    convert_file(str(tmp_path / "slide.tif"), str(tmp_path / "slide.mla"))
    assert MLArray.open(tmp_path / "slide.mla").axis_labels[-1] == "channel"
    viewer = make_napari_viewer()
    layers = viewer.open(str(tmp_path / "slide.mla"), plugin=PLUGIN)
    assert len(layers) == 1 and layers[0].rgb
    np.testing.assert_array_equal(np.asarray(layers[0].data), rgb)


def test_three_named_fluorescence_channels_stay_channels(make_napari_viewer, tmp_path):
    arr = np.random.default_rng(9).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    MLArray(arr, axis_labels=["spatial_y", "spatial_x", "channel"],
            meta=Meta(extra={"channel_names": ["DAPI", "GFP", "RFP"]})).save(tmp_path / "f.mla")
    layers = make_napari_viewer().open(str(tmp_path / "f.mla"), plugin=PLUGIN)
    assert [ly.name for ly in layers] == ["f [DAPI]", "f [GFP]", "f [RFP]"]
