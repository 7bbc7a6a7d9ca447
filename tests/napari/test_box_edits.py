"""Issue 18 item 3: editing one slice's rectangle of a 3D box moves or resizes the box; no made-up scores."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN, camera

from mlarray import Meta, MLArray


def _open(viewer, path):
    img, shp = viewer.open(str(path), plugin=PLUGIN)
    return img, shp


def _box_rects(shp, box_id):
    ids = np.asarray(shp.features["box_id"])
    return [np.asarray(shp.data[i]) for i in np.flatnonzero(ids == box_id)]


def _saved(viewer, shp, path):
    viewer.layers.selection = {shp}
    viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    return MLArray.open(path).meta.bbox


def _to_canvas(viewer, world_yx):
    """Canvas pixel (x, y) of a displayed world point (default 2D camera: down/right)."""
    sc = viewer.window._qt_viewer.canvas._scene_canvas
    cam = camera(viewer)
    size = np.array(sc.size[::-1], float)
    yx = (np.asarray(world_yx, float) - np.asarray(cam.center[-2:])) * cam.zoom + size / 2
    return float(yx[1]), float(yx[0])


def _drag(viewer, p0, p1, steps=6):
    sc = viewer.window._qt_viewer.canvas._scene_canvas
    sc.events.mouse_press(pos=p0, modifiers=(), button=1)
    for t in np.linspace(0, 1, steps)[1:]:
        pos = (p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1]))
        sc.events.mouse_move(pos=pos, modifiers=(), button=1, press_event=None, buttons=[1])
    sc.events.mouse_release(pos=p1, modifiers=(), button=1)


def test_dragging_one_slice_rectangle_moves_the_whole_box(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer(show=True)
    _img, shp = _open(viewer, ct_files["ct"])
    axes = shp.metadata["mlarray_axes"]  # file axis of each layer axis
    box = np.asarray(ct_files["boxes"][1], float)[axes]  # the kidney box, layer order
    z = int(box[0].mean())
    viewer.dims.set_point(0, float(shp.data_to_world([z, 0, 0])[0]))
    viewer.reset_view()
    viewer.layers.selection.active = shp
    shp.mode = "select"
    centre = shp.data_to_world([z, box[1].mean(), box[2].mean()])[1:]
    p0 = _to_canvas(viewer, centre)
    _drag(viewer, p0, (p0[0] + 40, p0[1] + 60))  # right and down on the screen, on one slice

    rects = _box_rects(shp, 1)
    assert len(rects) == int(box[0, 1] - box[0, 0] + 1)  # still one rectangle per slice
    in_plane = {(tuple(r[:, 1:].min(0)), tuple(r[:, 1:].max(0))) for r in rects}
    assert len(in_plane) == 1  # every slice shows the moved rectangle
    lo, hi = np.asarray(next(iter(in_plane)))
    shift = lo - (box[1:, 0] - 0.5)
    assert np.all(shift > 0.5)  # it moved down and right on the screen
    np.testing.assert_allclose(hi - lo, box[1:, 1] - box[1:, 0] + 1, atol=1e-4)  # same size: moved, not grown

    saved = np.asarray(_saved(viewer, shp, tmp_path / "moved.mla").bboxes[1], float)
    expect = box.copy()
    expect[1:] += shift[:, None]
    np.testing.assert_allclose(saved[axes], expect, atol=1e-4)
    # the other box is untouched, and a 3D view draws the moved box
    np.testing.assert_allclose(MLArray.open(tmp_path / "moved.mla").meta.bbox.bboxes[0], ct_files["boxes"][0])
    viewer.dims.ndisplay = 3
    wire = _box_rects(shp, 1)
    assert len(wire) == 1
    np.testing.assert_allclose(wire[0][:, 1:].min(0), lo, atol=1e-4)


@pytest.mark.parametrize("edit", ["move", "resize"])
def test_scripted_edit_of_one_rectangle_applies_to_the_box(make_napari_viewer, ct_files, tmp_path, edit):
    viewer = make_napari_viewer()
    _img, shp = _open(viewer, ct_files["ct"])
    axes = shp.metadata["mlarray_axes"]
    box = np.asarray(ct_files["boxes"][0], float)[axes]
    ids = np.asarray(shp.features["box_id"])
    i = int(np.flatnonzero(ids == 0)[2])  # one middle slice of the liver box
    data = [np.asarray(d).copy() for d in shp.data]
    if edit == "move":
        data[i][:, 2] += 4
    else:
        data[i][:, 1] = np.where(data[i][:, 1] > box[1].mean(), data[i][:, 1] + 5, data[i][:, 1])
    shp.data = data
    expect = box.copy()
    if edit == "move":
        expect[2] += 4
    else:
        expect[1, 1] += 5
    saved = np.asarray(_saved(viewer, shp, tmp_path / f"{edit}.mla").bboxes[0], float)
    np.testing.assert_allclose(saved[axes], expect)
    for r in _box_rects(shp, 0):
        np.testing.assert_allclose(r[:, 1:].min(0), expect[1:, 0] - 0.5)
        np.testing.assert_allclose(r[:, 1:].max(0), expect[1:, 1] + 0.5)


def test_hand_drawn_box_has_no_made_up_score(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer()
    _img, shp = _open(viewer, ct_files["ct"])
    shp.selected_data = set()
    shp.add_rectangles(np.array([[3, 0.5, 0.5], [3, 0.5, 3.5], [3, 3.5, 3.5], [3, 3.5, 0.5]]))
    bb = _saved(viewer, shp, tmp_path / "drawn.mla")
    assert bb.scores[:2] == pytest.approx([0.9, 0.75]) and bb.scores[2] is None
    assert bb.labels[:2] == ct_files["names"] and len(bb.bboxes) == 3
    # reopened, the drawn box has no score and its caption shows none
    (shp2,) = make_napari_viewer().open(str(tmp_path / "drawn.mla"), plugin=PLUGIN)  # boxes-only file
    ids = np.asarray(shp2.features["box_id"])
    row = int(np.flatnonzero(ids == 2)[0])
    assert np.isnan(shp2.features["score"].iloc[row])
    assert shp2.features["caption"].iloc[row] == bb.labels[2]
    assert shp2.features["caption"].iloc[0] == "liver 0.90"


def test_boxes_without_scores_stay_without(make_napari_viewer, tmp_path):
    a = np.zeros((6, 20, 20), np.uint8)
    MLArray(a, meta=Meta(bbox={"bboxes": [[[1, 2], [3, 8], [4, 9]]], "labels": ["lesion"]})).save(tmp_path / "a.mla")
    viewer = make_napari_viewer()
    _img, shp = _open(viewer, tmp_path / "a.mla")
    shp.selected_data = set()
    shp.add_rectangles(np.array([[4, 10.5, 10.5], [4, 10.5, 14.5], [4, 14.5, 14.5], [4, 14.5, 10.5]]))
    bb = _saved(viewer, shp, tmp_path / "b.mla")
    assert bb.scores is None and len(bb.bboxes) == 2
