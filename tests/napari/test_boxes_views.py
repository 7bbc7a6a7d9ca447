"""3D boxes in 2D views of every orientation and as wireframes in 3D view (real viewer, Xvfb)."""

from __future__ import annotations

import shutil
from itertools import pairwise

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN, camera

from mlarray import MLArray
from napari_mlarray import attach_box_views as attach
from napari_mlarray import save_layers
from napari_mlarray.boxes._shapes import VIEW_3D
from napari_mlarray.boxes._views import view_of


def _open(viewer, path):
    layers = viewer.open(str(path), plugin=PLUGIN)
    shp = next(ly for ly in layers if type(ly).__name__ == "Shapes")
    return layers[0], shp


def _layer_boxes(shp, file_boxes):
    """File boxes (file axis order) in the shapes layer's axis order."""
    axes = shp.metadata["mlarray_axes"]
    return np.asarray(file_boxes, dtype=float)[:, axes, :]


def _shown(shp) -> set:
    return set(np.asarray(shp.features["box_id"])[shp._data_view._displayed].tolist())


def _goto(viewer, shp, axis, k):
    """Move the slider of layer ``axis`` to data index ``k`` (the layer has the world's 3 axes)."""
    p = np.zeros(3)
    p[axis] = k
    viewer.dims.set_point(axis, float(shp.data_to_world(p)[axis]))


def _saved_bbox(shp, tmp_path, name):
    out = tmp_path / f"{name}.mla"
    save_layers([shp], str(out))
    return MLArray.open(out).meta.bbox


def _colour_mask(shot, rgba):
    rgb = np.round(np.asarray(rgba[:3]) * 255).astype(int)
    return np.all(np.abs(shot[..., :3].astype(int) - rgb) <= 2, axis=-1)


# ----------------------------------------------------------------------------- 2D views

@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (1, 0, 2), (2, 0, 1)],
                         ids=["axial", "axial-transposed", "coronal", "sagittal"])
def test_2d_box_on_exactly_the_slices_it_spans(make_napari_viewer, ct_files, order):
    viewer = make_napari_viewer()
    _, shp = _open(viewer, ct_files["ct"])
    boxes = _layer_boxes(shp, ct_files["boxes"])
    viewer.dims.order = order
    a = order[0]  # the slider axis
    assert view_of(shp) == a
    # one planar rectangle per spanned slice along the slider axis, nothing else
    assert set(shp.shape_type) == {"rectangle"}
    assert all(np.ptp(np.asarray(d)[:, a]) == 0 for d in shp.data)
    assert len(shp.data) == int(sum(b[a, 1] - b[a, 0] + 1 for b in boxes))
    n = ct_files["array"].shape[shp.metadata["mlarray_axes"][a]]
    ks = sorted({int(k) for b in boxes for k in (b[a, 0] - 1, b[a, 0], b[a].mean(), b[a, 1], b[a, 1] + 1)
                 if 0 <= k < n})
    for k in ks:
        _goto(viewer, shp, a, k)
        expect = {i for i, b in enumerate(boxes) if b[a, 0] <= k <= b[a, 1]}
        assert _shown(shp) == expect, (order, k)
    # the rectangles sit on the voxel borders of the box in the two displayed axes
    i0 = np.flatnonzero(np.asarray(shp.features["box_id"]) == 0)[0]
    v = np.asarray(shp.data[i0])
    for ax in order[1:]:
        assert [v[:, ax].min(), v[:, ax].max()] == [boxes[0][ax, 0] - 0.5, boxes[0][ax, 1] + 0.5]


def test_boxes_follow_the_slider_after_units_change(make_napari_viewer, tmp_path):
    """Opening a second file beside the first (units were once switched pixel -> mm then, and napari
    sliced 1000x off): the 2D boxes must still be those of the slice the image shows."""
    from mlarray.demo import write_sample_files

    paths = write_sample_files(tmp_path, 96)  # CT + segmentation in millimetres, boxes in the CT
    viewer = make_napari_viewer()
    img, shp = _open(viewer, paths["image"])
    viewer.open(str(paths["labels"]), plugin=PLUGIN)
    assert str(shp.units[0]) == str(img.units[0]) == "millimeter"
    bbox = MLArray.open(paths["image"]).meta.bbox
    boxes = _layer_boxes(shp, bbox.bboxes)
    ids = np.asarray(shp.features["box_id"])
    n = MLArray.open(paths["image"]).shape[shp.metadata["mlarray_axes"][0]]
    for k in sorted(k for b in boxes for k in (int(b[0, 0]), int(b[0, 1]) + 1) if k < n):
        _goto(viewer, shp, 0, k)
        assert np.allclose(img.world_to_data(viewer.dims.point)[0], k)
        shown = set(ids[shp._data_view._displayed].tolist())
        assert shown == {i for i, b in enumerate(boxes) if b[0, 0] <= k <= b[0, 1]}, k


def test_2d_screenshot_coronal_view(make_napari_viewer, ct_files, tmp_path):
    """What a user sees after rolling the dims: the liver box on a coronal slice through it only."""
    viewer = make_napari_viewer(show=True)  # a hidden canvas renders black under Xvfb
    _, shp = _open(viewer, ct_files["ct"])
    boxes = _layer_boxes(shp, ct_files["boxes"])
    viewer.dims.order = (1, 0, 2)
    viewer.reset_view()
    liver = CLASSES[0]["color"]
    _goto(viewer, shp, 1, int(boxes[0][1].mean()))
    shot = viewer.screenshot(str(tmp_path / "coronal.png"), canvas_only=True, flash=False)
    shutil.copy(tmp_path / "coronal.png", "/tmp/napari_mlarray_boxes_coronal.png")
    hit = _colour_mask(shot, liver)
    ys, xs = np.nonzero(hit)
    assert hit.sum() > 50
    assert np.bincount(ys).max() > 15 and np.bincount(xs).max() > 15  # rectangle edges
    _goto(viewer, shp, 1, int(boxes[0][1, 1]) + 2)  # just past the box
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert _colour_mask(shot, liver).sum() == 0


# ----------------------------------------------------------------------------- 3D view

def _edges(box):
    """The 12 edges of a box (inclusive voxel bounds) as sets of two corner tuples."""
    lo, hi = box[:, 0] - 0.5, box[:, 1] + 0.5
    corners = [tuple(np.where(np.array(c) == 1, hi, lo)) for c in np.ndindex(2, 2, 2)]
    return {frozenset((p, q)) for p in corners for q in corners
            if sum(a != b for a, b in zip(p, q)) == 1}


def test_3d_view_shows_one_wireframe_per_box(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    _, shp = _open(viewer, ct_files["ct"])
    boxes = _layer_boxes(shp, ct_files["boxes"])
    rects = [np.asarray(d).copy() for d in shp.data]
    rect_feats = shp.features.copy()
    viewer.dims.ndisplay = 3
    assert view_of(shp) == VIEW_3D
    assert shp.shape_type == ["path"] * len(boxes)
    assert shp._data_view._displayed.all()
    for i, d in enumerate(shp.data):
        d = np.asarray(d)
        assert d.shape == (16, 3)
        segs = {frozenset((tuple(p), tuple(q))) for p, q in pairwise(d)}
        assert segs == _edges(boxes[i])  # exactly the 12 edges, no face diagonals, no walls
    # label, score, box id, colour and text per box survive the switch
    assert list(shp.features["label"]) == ct_files["names"]
    assert list(shp.features["score"]) == [0.9, 0.75]
    assert list(shp.features["box_id"]) == [0, 1]
    np.testing.assert_allclose(shp.edge_color, [CLASSES[0]["color"], CLASSES[1]["color"]], atol=1e-6)
    assert list(shp.text.values) == ["liver 0.90", "kidney 0.75"]
    # back to 2D: the reader's rectangles again, in the same order with the same features
    viewer.dims.ndisplay = 2
    assert len(shp.data) == len(rects)
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(shp.data, rects))
    assert shp.features[["label", "score", "box_id"]].equals(rect_feats[["label", "score", "box_id"]])


def test_3d_screenshot_outlines_not_walls(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer(show=True)
    img, _ = _open(viewer, ct_files["ct"])
    img.visible = False  # boxes alone, so every box-coloured pixel is an edge
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    camera(viewer).angles = (0, -60, 60)  # oblique: stacked walls would fill the footprint
    shot = viewer.screenshot(str(tmp_path / "wire.png"), canvas_only=True, flash=False)
    shutil.copy(tmp_path / "wire.png", "/tmp/napari_mlarray_boxes_3d_wireframe.png")
    hit = _colour_mask(shot, CLASSES[0]["color"])
    ys, xs = np.nonzero(hit)
    assert hit.sum() > 100
    # Outlines cover ~30% of the box's screen footprint here; the old stacked walls covered ~77%.
    footprint = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert hit.sum() / footprint < 0.5


def test_opening_into_a_3d_view_gives_wireframes(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    viewer.dims.ndisplay = 3
    _, shp = _open(viewer, ct_files["ct"])
    assert shp.shape_type == ["path", "path"]
    viewer.dims.ndisplay = 2
    assert set(shp.shape_type) == {"rectangle"}


def test_layer_built_by_a_script_attaches_explicitly(make_napari_viewer, ct_files):
    from napari.layers import Shapes

    from napari_mlarray import read_mla

    data, kwargs, _ = read_mla(str(ct_files["ct"]))[-1]
    viewer = make_napari_viewer()
    shp = Shapes(data, **kwargs)
    assert attach(shp)
    viewer.add_layer(shp)
    viewer.dims.ndisplay = 3
    assert shp.shape_type == ["path", "path"]
    square = np.array([[0, 0, 0], [0, 0, 5], [0, 5, 5], [0, 5, 0]], float)
    assert not attach(viewer.add_shapes([square]))  # not a boxes layer


# ----------------------------------------------------------------------------- writer round trip

def test_writer_round_trip_exact_in_every_view_and_after_2d_edits(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer()
    _, shp = _open(viewer, ct_files["ct"])
    orig = MLArray.open(ct_files["ct"]).meta.bbox
    for name, setup in [("axial", lambda: None),
                        ("coronal", lambda: setattr(viewer.dims, "order", (1, 0, 2))),
                        ("3d", lambda: setattr(viewer.dims, "ndisplay", 3))]:
        setup()
        assert _saved_bbox(shp, tmp_path, name) == orig, name
    viewer.dims.ndisplay = 2
    viewer.dims.order = (0, 1, 2)

    # 2D edits: move box 0 by +2 along the last layer axis, draw a new box on slice 3
    axes = shp.metadata["mlarray_axes"]
    ids = np.asarray(shp.features["box_id"])
    data = [np.asarray(d).copy() for d in shp.data]
    for i in np.flatnonzero(ids == 0):
        data[i][:, -1] += 2
    shp.data = data
    shp.selected_data = set()
    shp.add_rectangles(np.array([[3, 0.5, 0.5], [3, 0.5, 3.5], [3, 3.5, 3.5], [3, 3.5, 0.5]]))
    expect = [[list(p) for p in b] for b in orig.bboxes]
    expect[0][axes[-1]] = [v + 2 for v in expect[0][axes[-1]]]
    new_box = [None] * 3
    new_box[axes[0]], new_box[axes[1]], new_box[axes[2]] = [3, 3], [1, 3], [1, 3]
    expect.append(new_box)
    for name, setup in [("edited-axial", lambda: None),
                        ("edited-3d", lambda: setattr(viewer.dims, "ndisplay", 3)),
                        ("edited-sagittal", lambda: (setattr(viewer.dims, "ndisplay", 2),
                                                     setattr(viewer.dims, "order", (2, 0, 1))))]:
        setup()
        bb = _saved_bbox(shp, tmp_path, name)
        assert bb.bboxes == expect, name
        assert bb.labels[:2] == ct_files["names"] and bb.scores[:2] == pytest.approx([0.9, 0.75])
    # the drawn box became a box of its own: one-voxel-thick wireframe in 3D, new box id
    viewer.dims.ndisplay = 3
    assert len(shp.data) == 3 and shp.features["box_id"].tolist() == [0, 1, 2]
    assert np.ptp(np.asarray(shp.data[2])[:, 0]) == 1.0


def test_moving_one_slice_rectangle_moves_the_box_in_every_view(make_napari_viewer, ct_files, tmp_path):
    """One slice's rectangle moved in 2D: every slice, and the 3D wireframe, show the moved box."""
    viewer = make_napari_viewer()
    _, shp = _open(viewer, ct_files["ct"])
    boxes = _layer_boxes(shp, ct_files["boxes"])
    i = int(np.flatnonzero(np.asarray(shp.features["box_id"]) == 1)[0])
    data = [np.asarray(d).copy() for d in shp.data]
    data[i][:, 1] += 3
    shp.data = data
    viewer.dims.ndisplay = 3
    d = np.asarray(shp.data[1])
    assert d[:, 1].max() == boxes[1][1, 1] + 3.5 and d[:, 1].min() == boxes[1][1, 0] + 3 - 0.5
    viewer.dims.ndisplay = 2
    k = int(boxes[1][0, 1])  # a slice that was not edited
    _goto(viewer, shp, 0, k)
    shown = [np.asarray(shp.data[j]) for j in np.flatnonzero(shp._data_view._displayed)
             if shp.features["box_id"].iloc[j] == 1]
    assert len(shown) == 1 and shown[0][:, 1].max() == boxes[1][1, 1] + 3.5
    assert shown[0][:, 1].min() == boxes[1][1, 0] + 3 - 0.5


# ----------------------------------------------------------------------------- metadata widget

def test_widget_box_table_and_revert_follow_the_view(make_napari_viewer, ct_files):
    from napari_mlarray.widget._dock import MetadataWidget

    viewer = make_napari_viewer()
    layers = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    img, shp = layers
    w = MetadataWidget(viewer)
    viewer.window.add_dock_widget(w, name="MLArray metadata")
    viewer.layers.selection.active = img
    rows = w.boxes.table.data.to_list()
    md = dict(img.metadata["mlarray"]["bbox"])
    viewer.dims.ndisplay = 3
    assert w.boxes.table.data.to_list() == rows
    assert img.metadata["mlarray"]["bbox"] == md
    assert w.boxes.groups == [[0], [1]]
    w.boxes.edit_box(1, label="left kidney")
    assert shp.features["label"].tolist() == ["liver", "left kidney"]
    assert w.revert()
    assert shp.shape_type == ["path", "path"]  # Revert draws for the view the layer is in
    assert shp.features["label"].tolist() == ["liver", "kidney"]
    viewer.dims.ndisplay = 2
    assert set(shp.shape_type) == {"rectangle"} and w.boxes.table.data.to_list() == rows


def test_selection_hidden_layer_and_empty_layer_across_views(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    # napari itself keeps a Shapes selection across view changes from 0.7 on (0.6 clears it)
    plain = viewer.add_shapes([np.array([[0, 0, 0], [0, 0, 5], [0, 5, 5], [0, 5, 0]], float)])
    plain.selected_data = {0}
    viewer.dims.ndisplay = 3
    napari_keeps_selection = plain.selected_data == {0}
    viewer.dims.ndisplay = 2
    viewer.layers.remove(plain)
    _, shp = _open(viewer, ct_files["ct"])
    ids = np.asarray(shp.features["box_id"])
    shp.selected_data = {int(np.flatnonzero(ids == 1)[0])}
    viewer.dims.ndisplay = 3
    if napari_keeps_selection:  # then so do the boxes, although their shapes are rebuilt
        assert shp.selected_data == {1}  # the kidney box, now its wireframe
    viewer.dims.ndisplay = 2
    if napari_keeps_selection:
        assert {int(shp.features["box_id"].iloc[i]) for i in shp.selected_data} == {1}
    # a hidden layer is not re-sliced; it catches up when shown again
    shp.visible = False
    viewer.dims.ndisplay = 3
    shp.visible = True
    assert shp.shape_type == ["path", "path"]
    # deleting every box, then switching views, leaves an empty layer that still works
    shp.selected_data = {0, 1}
    shp.remove_selected()
    viewer.dims.ndisplay = 2
    assert len(shp.data) == 0
    shp.add_rectangles(np.array([[2, 0.5, 0.5], [2, 0.5, 3.5], [2, 3.5, 3.5], [2, 3.5, 0.5]]))
    viewer.dims.ndisplay = 3
    assert shp.shape_type == ["path"] and shp.features["box_id"].tolist() == [0]
