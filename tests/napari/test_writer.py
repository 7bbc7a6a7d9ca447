"""Writers: layers -> .mla and back, in a real viewer (run under Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN, layer_index

from mlarray import Meta, MLArray
from napari_mlarray import write_layers
from napari_mlarray.hooks._writer import save_layers


def _same_geometry(a: MLArray, b: MLArray):
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-9)
    assert a.meta.spatial.coord_system == b.meta.spatial.coord_system
    assert a.meta.spatial.axis_labels == b.meta.spatial.axis_labels


def _reoriented_file(tmp_path):
    """An RAS image stored transposed and flipped, with source/extra metadata and boxes."""
    rng = np.random.default_rng(3)
    arr = rng.integers(-100, 900, size=(20, 14, 10)).astype(np.int16)
    direction = [[0, 0, -1], [1, 0, 0], [0, -1, 0]]
    ml = MLArray(arr, spacing=[0.9, 1.5, 2.5], origin=[12.0, -30.0, 44.0], direction=direction,
                 meta=Meta(source={"descrip": "nifti header", "dim": [3, 20, 14, 10]}, extra={"study": 7},
                           source_format="nifti1", classes=CLASSES,
                           bbox={"bboxes": [[[2, 9], [3, 8], [1, 4]], [[10, 12], [0, 13], [5, 5]]],
                                 "labels": ["liver", "kidney"], "scores": [0.8, 0.6]}))
    ml.meta.spatial.coord_system = "RAS"
    ml.save(tmp_path / "src.mla")
    return tmp_path / "src.mla", arr


def test_image_round_trip_keeps_orientation_geometry_and_metadata(make_napari_viewer, tmp_path):
    src, arr = _reoriented_file(tmp_path)
    viewer = make_napari_viewer()
    img, shp = viewer.open(str(src), plugin=PLUGIN)
    assert img.data.order != (0, 1, 2)  # the reader permuted the axes for display
    out = tmp_path / "out.mla"
    viewer.layers.selection = {img}
    written = viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert written == [str(out)]
    a, b = MLArray.open(src), MLArray.open(out)
    np.testing.assert_array_equal(b.to_numpy(), arr)  # stored orientation kept
    _same_geometry(a, b)
    for key in ("source", "extra", "classes", "source_format", "is_seg"):
        assert getattr(b.meta, key) == getattr(a.meta, key), key
    assert b.meta.bbox == a.meta.bbox  # carried in the layer metadata
    assert b.meta.stats.max == arr.max()  # stats recomputed


def test_changed_transform_is_written(make_napari_viewer, tmp_path):
    src, arr = _reoriented_file(tmp_path)
    viewer = make_napari_viewer()
    img, _ = viewer.open(str(src), plugin=PLUGIN)
    before = [np.asarray(img.data_to_world(p)) for p in ([0, 0, 0], [3, 5, 7])]
    img.scale = [2 * s for s in img.scale]
    img.translate = [t + 10 for t in img.translate]
    after = [np.asarray(img.data_to_world(p)) for p in ([0, 0, 0], [3, 5, 7])]
    assert not np.allclose(before, after)
    out = tmp_path / "moved.mla"
    save_layers([img], str(out))
    viewer2 = make_napari_viewer()
    (img2, _) = viewer2.open(str(out), plugin=PLUGIN)
    for p, w in zip(([0, 0, 0], [3, 5, 7]), after):
        np.testing.assert_allclose(img2.data_to_world(p), w, atol=1e-9)
    np.testing.assert_allclose(MLArray.open(out).spacing, 2 * np.asarray(MLArray.open(src).spacing))


def test_plain_numpy_layer_is_written_with_its_transform(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = np.arange(6 * 7 * 8, dtype=np.uint16).reshape(6, 7, 8)
    layer = viewer.add_image(data, scale=[3, 2, 1], translate=[5, 6, 7])
    out = tmp_path / "plain.mla"
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    ml = MLArray.open(out)
    np.testing.assert_array_equal(ml.to_numpy(), data)
    assert ml.spacing == [3, 2, 1] and ml.origin == [5, 6, 7]
    (back,) = make_napari_viewer().open(str(out), plugin=PLUGIN)
    np.testing.assert_allclose(back._data_to_world.affine_matrix, layer._data_to_world.affine_matrix)


def test_labels_round_trip(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer()
    (lab,) = viewer.open(str(ct_files["seg"]), plugin=PLUGIN)
    out = tmp_path / "seg_out.mla"
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    a, b = MLArray.open(ct_files["seg"]), MLArray.open(out)
    assert b.meta.is_seg is True and b.meta.classes == a.meta.classes
    _same_geometry(a, b)
    np.testing.assert_array_equal(b.to_numpy(), ct_files["labels"])


def test_new_labels_layer_gets_classes_from_features(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    lab = np.zeros((10, 12), np.uint8)
    lab[2:5, 3:6] = 2
    viewer.add_labels(lab, features={"index": [0, 2], "name": ["bg", "tumour"]})
    out = tmp_path / "new_seg.mla"
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    ml = MLArray.open(out)
    assert ml.meta.is_seg is True and ml.meta.classes == [{"id": 2, "name": "tumour"}]


def test_shapes_round_trip_and_edit(make_napari_viewer, tmp_path):
    src, _ = _reoriented_file(tmp_path)
    a = MLArray.open(src)
    viewer = make_napari_viewer()
    _, shp = viewer.open(str(src), plugin=PLUGIN)
    out = tmp_path / "boxes.mla"
    viewer.layers.selection = {shp}
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    b = MLArray.open(out)
    assert not b.meta.has_array
    assert b.meta.bbox == a.meta.bbox
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-9)
    # reopening the metadata-only file puts the boxes at the same world positions
    (shp2,) = make_napari_viewer().open(str(out), plugin=PLUGIN)
    np.testing.assert_allclose([shp2.data_to_world(p) for p in shp2.data[0]],
                               [shp.data_to_world(p) for p in shp.data[0]], atol=1e-9)

    # move every rectangle of box 0 by +2 along the last layer axis, delete box 1, draw a new one
    ids = np.asarray(shp.features["box_id"])
    data = [d.copy() for d in shp.data]
    for i in np.flatnonzero(ids == 0):
        data[i][:, -1] += 2
    shp.data = data  # same number of shapes: features are kept
    assert (np.asarray(shp.features["box_id"]) == ids).all()
    shp.selected_data = set(np.flatnonzero(ids == 1).tolist())
    shp.remove_selected()
    shp.selected_data = set()
    shp.add_rectangles(np.array([[4, 0.5, 0.5], [4, 0.5, 3.5], [4, 3.5, 3.5], [4, 3.5, 0.5]]))
    save_layers([shp], str(tmp_path / "edited.mla"))
    c = MLArray.open(tmp_path / "edited.mla").meta.bbox
    assert len(c.bboxes) == 2
    order = shp.metadata["mlarray_axes"]  # file axis of each layer axis
    moved_axis = order[-1]
    expect = [list(p) for p in a.meta.bbox.bboxes[0]]
    expect[moved_axis] = [v + 2 for v in expect[moved_axis]]
    assert c.bboxes[0] == expect
    assert c.labels[0] == "liver" and c.scores[0] == pytest.approx(0.8)
    new_box = np.asarray(c.bboxes[1])
    assert new_box[order[0]].tolist() == [4, 4]
    assert new_box[order[1]].tolist() == [1, 3] and new_box[order[2]].tolist() == [1, 3]


def test_multi_layer_write_image_seg_boxes(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer()
    img, shp = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    (lab,) = viewer.open(str(ct_files["seg"]), plugin=PLUGIN)
    viewer.layers.selection = {img, shp, lab}
    out = tmp_path / "case.mla"
    written = viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert sorted(written) == sorted([str(out), str(tmp_path / "case_seg.mla")])
    im, sg = MLArray.open(out), MLArray.open(tmp_path / "case_seg.mla")
    np.testing.assert_array_equal(im.to_numpy(), ct_files["array"])
    np.testing.assert_array_equal(sg.to_numpy(), ct_files["labels"])
    assert im.meta.bbox.bboxes == ct_files["boxes"]
    assert im.meta.bbox.labels == ct_files["names"]
    assert sg.meta.is_seg and sg.meta.classes == CLASSES
    _same_geometry(MLArray.open(ct_files["ct"]), im)
    assert write_layers is not None


def test_channel_layers_restack(make_napari_viewer, tmp_path):
    arr = np.stack([np.full((30, 40), 10, np.uint8), np.full((30, 40), 200, np.uint8)])
    MLArray(arr, spacing=[0.5, 0.25], axis_labels=["channel", "spatial_y", "spatial_x"]).save(tmp_path / "ch.mla")
    viewer = make_napari_viewer()
    layers = viewer.open(str(tmp_path / "ch.mla"), plugin=PLUGIN)
    out = tmp_path / "ch_out.mla"
    save_layers(layers, str(out))
    ml = MLArray.open(out)
    np.testing.assert_array_equal(ml.to_numpy(), arr)
    assert ml.axis_labels == ["channel", "spatial_y", "spatial_x"] and ml.spacing == [0.5, 0.25]
    # one channel alone is written without the channel axis
    save_layers([layers[1]], str(tmp_path / "c1.mla"))
    one = MLArray.open(tmp_path / "c1.mla")
    assert one.shape == (30, 40) and one.axis_labels == ["spatial_y", "spatial_x"]
    np.testing.assert_array_equal(one.to_numpy(), arr[1])


def test_saving_over_the_source_file_is_safe(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    img, shp = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    img.metadata["mlarray"]["extra"] = {"note": "edited"}
    before = np.asarray(img.data[5]).copy() if not img.multiscale else None
    save_layers([img, shp], str(ct_files["ct"]))
    # the layer's lazy data still reads (the old, unlinked inode stays mapped)
    np.testing.assert_array_equal(np.asarray(img.data[5]), before)
    viewer.dims.set_point(0, float(img.data_to_world(layer_index(img, (7, 0, 0)))[0]))
    viewer.screenshot(canvas_only=True, flash=False)
    ml = MLArray.open(ct_files["ct"])
    assert ml.meta.extra == {"note": "edited"}
    np.testing.assert_array_equal(ml.to_numpy(), ct_files["array"])
    assert ml.meta.bbox.bboxes == ct_files["boxes"]


def test_save_as_menu_contribution(make_napari_viewer, ct_files, tmp_path, monkeypatch):
    from napari._app_model import get_app_model
    from qtpy.QtWidgets import QFileDialog

    viewer = make_napari_viewer()
    img, shp = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    app = get_app_model()
    items = [getattr(i, "command", None) for i in app.menus.get_menu("napari/file/io_utilities")]
    assert any(getattr(c, "id", None) == "mlarray.save_as" for c in items)
    out = tmp_path / "dialog.mla"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    viewer.layers.selection = {img, shp}
    app.commands.execute_command("mlarray.save_as").result()
    ml = MLArray.open(out)
    assert ml.meta.bbox.bboxes == ct_files["boxes"]
