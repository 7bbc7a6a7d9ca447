"""Reader: .mla files -> napari layers in a real viewer (run under Xvfb)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN, layer_index, phantom

from mlarray import Meta, MLArray
from napari_mlarray import napari_get_reader, read_mla
from napari_mlarray.layers._geometry import napari_world_affine
from napari_mlarray.layers._views import AxisView


def _world_of(layer, file_index):
    return np.asarray(layer.data_to_world(layer_index(layer, file_index)), dtype=float)


# ----------------------------------------------------------------------------- hook contract

def test_reader_returns_none_for_other_files(tmp_path, ct_files):
    assert napari_get_reader(str(tmp_path / "image.tif")) is None
    assert napari_get_reader([str(ct_files["ct"]), str(tmp_path / "x.nii.gz")]) is None
    assert napari_get_reader([]) is None
    assert napari_get_reader(str(ct_files["ct"])) is read_mla
    assert napari_get_reader([str(ct_files["ct"]), str(ct_files["seg"])]) is read_mla


def test_reader_is_lazy_reads_header_and_at_most_smallest_level(tmp_path, monkeypatch):
    from mlarray._data.levels import LevelArray

    big = np.zeros((8, 600, 520), np.uint16)
    big[:, 100:200, 50:300] = 900
    MLArray(big, spacing=[3, 0.5, 0.5]).save(tmp_path / "big.mla")
    touched = []
    real_get = LevelArray._get

    def spy_get(self):
        touched.append(self.level)
        return real_get(self)

    monkeypatch.setattr(LevelArray, "_get", spy_get)
    layers = read_mla(str(tmp_path / "big.mla"))
    (data, kwargs, kind), = layers
    assert kind == "image" and kwargs["multiscale"] is True
    assert all(isinstance(d, AxisView) for d in data)
    assert touched == []  # contrast limits come from stored stats, no level was decoded
    from napari.layers import Image

    layer = Image(data, **kwargs)
    # Building the layer (thumbnail) may touch the smallest level only.
    assert set(touched) <= {len(data) - 1}
    assert layer.contrast_limits == list(kwargs["contrast_limits"])


# ----------------------------------------------------------------------------- image layers

def test_open_ct_layers_transforms_and_levels(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    layers = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    assert [type(lay).__name__ for lay in layers] == ["Image", "Shapes"]
    img, boxes = layers
    ml = MLArray.open(ct_files["ct"])
    # world convention: LPS -> napari (S, P, L)
    assert tuple(viewer.dims.axis_labels) == ("I→S", "A→P", "R→L")
    assert tuple(img.axis_labels) == ("I→S", "A→P", "R→L")
    w, _ = napari_world_affine(ml.affine, "LPS")
    for idx in [(0, 0, 0), (5, 17, 33), (23, 95, 79)]:
        expect = (w @ np.r_[idx, 1])[:3]
        np.testing.assert_allclose(_world_of(img, idx), expect, atol=1e-9)
    # identical transforms for image and boxes
    np.testing.assert_allclose(img._data_to_world.affine_matrix, boxes._data_to_world.affine_matrix)
    # contrast limits from the stored percentiles
    st = ml.meta.stats
    assert img.contrast_limits == pytest.approx([st.percentile(0.5), st.percentile(99.5)])
    md = img.metadata
    assert md["mlarray_role"] == "image" and md["mlarray_path"] == str(ct_files["ct"])
    assert md["mlarray"] == ml.meta.to_mapping()
    assert boxes.metadata["mlarray_role"] == "boxes"
    # axis 0 runs toward S, 1 toward P, 2 toward L: already napari's world order, no permutation
    assert not img.multiscale and img.data.order == (0, 1, 2)
    assert list(img.scale) == [2.5, 0.8, 0.9]


def test_multiscale_levels_and_3d_uses_coarsest(make_napari_viewer, tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 1000, size=(40, 700, 530), dtype=np.int16)
    MLArray(arr, spacing=[2.0, 0.5, 0.5]).save(tmp_path / "ms.mla")
    ml = MLArray.open(tmp_path / "ms.mla")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "ms.mla"), plugin=PLUGIN)
    assert layer.multiscale
    assert len(layer.data) == len(ml.levels) >= 2
    base = ml.levels[0].shape
    for k, lv in enumerate(layer.data):
        stored = ml.levels[k]
        assert lv.shape == stored.shape  # axes already in world order (identity here)
        # level k is ceil(base / factor); napari derives the factor from the shapes, which is
        # within one coarse voxel of the stored factor
        assert stored.shape == tuple(math.ceil(n / f) for n, f in zip(base, stored.scale))
        np.testing.assert_allclose(layer.downsample_factors[k] * np.asarray(stored.shape),
                                   np.asarray(stored.scale) * np.asarray(stored.shape),
                                   atol=max(stored.scale))
    viewer.dims.ndisplay = 3
    viewer.window._qt_viewer.canvas.native.repaint()
    assert layer.data_level == len(layer.data) - 1
    viewer.dims.ndisplay = 2


def test_channel_axis_split_lazily(make_napari_viewer, tmp_path):
    arr = np.stack([np.full((30, 40), 10, np.uint8), np.full((30, 40), 200, np.uint8)])
    ml = MLArray(arr, spacing=[0.5, 0.25], axis_labels=["channel", "spatial_y", "spatial_x"],
                 meta=Meta(extra={"channel_names": ["DAPI", "GFP"]}))
    ml.save(tmp_path / "ch.mla")
    viewer = make_napari_viewer()
    layers = viewer.open(str(tmp_path / "ch.mla"), plugin=PLUGIN)
    assert [lay.name for lay in layers] == ["ch [DAPI]", "ch [GFP]"]
    for lay, val in zip(layers, (10, 200)):
        assert lay.data.shape == (30, 40)
        assert np.all(np.asarray(lay.data) == val)
        assert list(lay.scale) == [0.5, 0.25]
        assert lay.metadata["mlarray_channel"][0] == 0


def test_time_axis_stays_a_slider(make_napari_viewer, tmp_path):
    arr = np.arange(3 * 4 * 5 * 6, dtype=np.float32).reshape(3, 4, 5, 6)
    MLArray(arr, spacing=[2, 1, 1], axis_labels=["temporal", "spatial_z", "spatial_y", "spatial_x"]).save(
        tmp_path / "t.mla")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "t.mla"), plugin=PLUGIN)
    assert layer.ndim == 4
    assert list(layer.scale) == [1, 2, 1, 1]
    assert layer.axis_labels[0] == "time"
    assert viewer.dims.nsteps[0] == 3


# ----------------------------------------------------------------------------- geometry

def _reoriented(arr, affine, perm, flips):
    """The same physical image stored with axes permuted (``new axis k = old axis perm[k]``) and flipped."""
    b = np.transpose(arr, perm)
    a2 = np.eye(4)
    # new index j -> old index i: i[perm[k]] = j[k] (or n-1-j[k] when flipped)
    m = np.zeros((4, 4))
    m[3, 3] = 1
    for k, old in enumerate(perm):
        n = arr.shape[old]
        if k in flips:
            m[old, k] = -1
            m[old, 3] = n - 1
        else:
            m[old, k] = 1
    for k in flips:
        b = np.flip(b, axis=k)
    a2 = np.asarray(affine) @ m
    return np.ascontiguousarray(b), a2, m


@pytest.mark.parametrize("coord_system", ["RAS", "LPS", "unknown"])
def test_two_orientations_overlay_voxel_exactly(make_napari_viewer, tmp_path, coord_system):
    ct, _, _, _ = phantom((12, 40, 36))
    rng = np.random.default_rng(1)
    ct = (ct + rng.integers(0, 50, ct.shape)).astype(np.int16)
    a = MLArray(ct, spacing=[2.0, 0.8, 0.9], origin=[5.0, -7.0, 11.0])
    a.meta.spatial.coord_system = coord_system
    a.save(tmp_path / "a.mla")
    arr_b, aff_b, m = _reoriented(ct, a.affine, perm=(2, 0, 1), flips=(0, 2))
    b = MLArray(arr_b, affine=aff_b)
    b.meta.spatial.coord_system = coord_system
    b.save(tmp_path / "b.mla")

    viewer = make_napari_viewer(show=True)  # a hidden canvas renders black under Xvfb
    (la,) = viewer.open(str(tmp_path / "a.mla"), plugin=PLUGIN)
    (lb,) = viewer.open(str(tmp_path / "b.mla"), plugin=PLUGIN)
    minv = np.linalg.inv(m)
    for idx in [(0, 0, 0), (3, 10, 20), (11, 39, 35), (7, 1, 30)]:
        jdx = tuple(int(round(v)) for v in (minv @ np.r_[idx, 1])[:3])
        assert arr_b[jdx] == ct[idx]
        np.testing.assert_allclose(_world_of(la, idx), _world_of(lb, jdx), atol=1e-9)
        # and the layer data agree at those voxels
        da = la.data[tuple(layer_index(la, idx))]
        db = lb.data[tuple(layer_index(lb, jdx))]
        assert da == db == ct[idx]
    # Rendered: each alone gives the same picture.
    for lay in (la, lb):
        lay.interpolation2d = "nearest"
        lay.contrast_limits = (-1000, 200)
    viewer.dims.set_point(0, float(_world_of(la, (6, 20, 18))[0]))
    lb.visible = False
    viewer.reset_view()
    shot_a = viewer.screenshot(canvas_only=True, flash=False)
    lb.visible, la.visible = True, False
    shot_b = viewer.screenshot(canvas_only=True, flash=False)
    assert shot_a[..., :3].std() > 5  # something is drawn
    # the same picture: napari < 0.7 rounds a flipped layer's last texel column differently, so a
    # thin seam of pixels may differ by a few grey levels
    differ = np.any(shot_a != shot_b, axis=-1)
    assert differ.mean() < 0.002 and np.abs(shot_a.astype(int) - shot_b).max() <= 16


def test_oblique_warns_once_and_keeps_world_geometry(make_napari_viewer, tmp_path):
    arr = np.arange(8 * 10 * 12, dtype=np.int16).reshape(8, 10, 12)
    t = math.radians(20)
    rot = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    ml = MLArray(arr, spacing=[2, 1, 1], origin=[1, 2, 3], direction=rot.tolist())
    ml.meta.spatial.coord_system = "RAS"
    ml.save(tmp_path / "obl.mla")
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match="oblique"):
        (layer,) = viewer.open(str(tmp_path / "obl.mla"), plugin=PLUGIN)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        read_mla(str(tmp_path / "obl.mla"))  # second open: no second warning
    w, _ = napari_world_affine(ml.affine, "RAS")
    for idx in [(0, 0, 0), (7, 9, 11), (3, 4, 5)]:
        np.testing.assert_allclose(_world_of(layer, idx), (w @ np.r_[idx, 1])[:3], atol=1e-9)


# ----------------------------------------------------------------------------- labels, boxes

def test_labels_names_and_colours(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(ct_files["seg"]), plugin=PLUGIN)
    assert type(layer).__name__ == "Labels"
    assert layer.metadata["mlarray_role"] == "labels"
    for c in CLASSES:
        np.testing.assert_allclose(layer.colormap.map(c["id"]), c["color"], atol=1e-6)
    np.testing.assert_allclose(layer.colormap.map(0)[3], 0)
    names = dict(zip(layer.features["index"], layer.features["name"]))
    assert names[1] == "liver" and names[2] == "kidney"
    # hovering a liver voxel shows the class name in the status
    idx = tuple(int(v) for v in np.argwhere(ct_files["labels"] == 1)[0])
    pos = _world_of(layer, idx)
    status = layer.get_status(pos, world=True)
    assert "liver" in str(status)


def test_boxes_2d_rectangles(make_napari_viewer, tmp_path):
    img = np.zeros((50, 60), np.uint8)
    ml = MLArray(img, spacing=[0.5, 2.0], origin=[3, 4],
                 meta=Meta(bbox={"bboxes": [[[10, 19], [5, 14]]], "labels": ["cell"], "scores": [0.5]}))
    ml.save(tmp_path / "b2.mla")
    viewer = make_napari_viewer()
    img_layer, shp = viewer.open(str(tmp_path / "b2.mla"), plugin=PLUGIN)
    assert shp.shape_type == ["rectangle"]
    v = shp.data[0]
    assert v.min(axis=0).tolist() == [9.5, 4.5] and v.max(axis=0).tolist() == [19.5, 14.5]
    assert list(shp.features["label"]) == ["cell"] and list(shp.features["score"]) == [0.5]
    assert shp.text.values[0] == "cell 0.50"
    np.testing.assert_allclose(shp._data_to_world.affine_matrix, img_layer._data_to_world.affine_matrix)


def test_boxes_3d_visible_on_spanned_slices(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    img, shp = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    order = img.data[0].order if img.multiscale else img.data.order
    slider_axis = order[0]  # file axis shown on the slider
    box = ct_files["boxes"][0]
    lo, hi = box[slider_axis]
    n_rects = sum(b[slider_axis][1] - b[slider_axis][0] + 1 for b in ct_files["boxes"])
    assert len(shp.data) == n_rects
    colours = {tuple(np.round(c, 3)) for c in shp.edge_color[np.asarray(shp.features["box_id"]) == 0]}
    assert colours == {tuple(np.round(CLASSES[0]["color"], 3))}

    def shown_ids():
        return set(np.asarray(shp.features["box_id"])[np.where(shp._data_view._displayed)[0]].tolist())

    def goto(file_slice):
        idx = [0, 0, 0]
        idx[slider_axis] = file_slice
        viewer.dims.set_point(0, float(_world_of(img, idx)[0]))

    goto(lo)
    assert 0 in shown_ids()
    goto(hi)
    assert 0 in shown_ids()
    goto(min(hi + 1, ct_files["array"].shape[slider_axis] - 1))
    if hi + 1 < ct_files["array"].shape[slider_axis]:
        assert 0 not in shown_ids()
    viewer.dims.ndisplay = 3
    assert shp._data_view._displayed.all()
    viewer.dims.ndisplay = 2


def test_metadata_only_file_opens_as_boxes_in_world(make_napari_viewer, ct_files, tmp_path):
    ml = MLArray.open(ct_files["ct"])
    meta = Meta(bbox=ml.meta.bbox.to_mapping(),
                spatial={"spacing": ml.spacing, "origin": ml.origin, "direction": ml.direction,
                         "coord_system": "LPS"})
    MLArray(meta=meta).save(tmp_path / "boxes_only.mla")
    assert not MLArray.open(tmp_path / "boxes_only.mla").meta.has_array
    viewer = make_napari_viewer()
    _, shp_img = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    (shp,) = viewer.open(str(tmp_path / "boxes_only.mla"), plugin=PLUGIN)
    assert type(shp).__name__ == "Shapes"
    assert len(shp.data) == len(shp_img.data)
    for a, b in zip(shp.data[:5], shp_img.data[:5]):
        wa = [shp.data_to_world(p) for p in a]
        wb = [shp_img.data_to_world(p) for p in b]
        np.testing.assert_allclose(wa, wb, atol=1e-9)


# ----------------------------------------------------------------------------- what a user sees

def test_screenshot_ct_seg_boxes(make_napari_viewer, tmp_path):
    """CT + segmentation + boxes: grey anatomy, coloured organs, boxes in the class colours."""
    from mlarray import samples
    shape = (64, 160, 160)
    ct = samples.ct_phantom(shape)
    lab = samples.ct_phantom_labels(shape)
    boxes, names, scores = samples.phantom_boxes(shape)
    geom = dict(spacing=[2.0, 1.0, 1.0], origin=[0.0, 0.0, 0.0], direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    img = MLArray(ct, **geom, meta=Meta(classes=samples.PHANTOM_CLASSES,
                                        bbox={"bboxes": boxes, "labels": names, "scores": scores}))
    img.meta.spatial.coord_system = "LPS"
    img.save(tmp_path / "ct.mla")
    seg = MLArray(lab, **geom, meta=Meta(is_seg=True, classes=samples.PHANTOM_CLASSES))
    seg.meta.spatial.coord_system = "LPS"
    seg.save(tmp_path / "ct_seg.mla")

    viewer = make_napari_viewer(show=True)  # a hidden canvas renders black under Xvfb
    image, shp = viewer.open(str(tmp_path / "ct.mla"), plugin=PLUGIN)
    (labels,) = viewer.open(str(tmp_path / "ct_seg.mla"), plugin=PLUGIN)
    viewer.layers.remove(shp)
    viewer.layers.append(shp)  # boxes on top
    labels.opacity = 0.4
    image.contrast_limits = (-200, 300)  # soft-tissue window
    # a slice through the kidneys
    kidney_box = boxes[names.index("kidney")]
    z = (kidney_box[0][0] + kidney_box[0][1]) // 2
    viewer.dims.set_point(0, float(image.data_to_world([z, 0, 0])[0]))
    viewer.reset_view()
    shot = viewer.screenshot(str(tmp_path / "shot.png"), canvas_only=True, flash=False)
    import shutil

    shutil.copy(tmp_path / "shot.png", "/tmp/napari_mlarray_ct_seg_boxes.png")
    rgb = shot[..., :3].astype(int)
    kidney = np.round(np.asarray(samples.PHANTOM_CLASSES[1]["color"][:3]) * 255).astype(int)
    hit = np.all(np.abs(rgb - kidney) <= 2, axis=-1)
    assert hit.sum() > 50  # opaque box edges in the kidney colour
    ys, xs = np.nonzero(hit)
    # the edges form rectangles: many pixels share a few rows and a few columns
    assert np.bincount(ys).max() > 15 and np.bincount(xs).max() > 15
    # anatomy is visible: grey body and coloured labels, not a blank canvas
    assert (rgb.std(axis=-1) < 3).sum() > 1000 and rgb.mean() > 10
    viewer.dims.ndisplay = 3
    viewer.camera.angles = (0, -60, 60)
    shot3d = viewer.screenshot(str(tmp_path / "shot3d.png"), canvas_only=True, flash=False)
    shutil.copy(tmp_path / "shot3d.png", "/tmp/napari_mlarray_ct_seg_boxes_3d.png")
    assert np.all(np.abs(shot3d[..., :3].astype(int) - kidney) <= 2, axis=-1).sum() > 50


def test_2d_view_reads_one_plane_per_slice(make_napari_viewer, tmp_path, monkeypatch):
    """napari cuts multiscale data with slice(None) on the slider axis first; that must stay lazy."""
    from mlarray._data.levels import LevelArray

    arr = np.zeros((40, 600, 520), np.int16)
    MLArray(arr, spacing=[2.0, 0.5, 0.5]).save(tmp_path / "v.mla")
    reads = []
    real = LevelArray.__getitem__

    def spy(self, key):
        out = real(self, key)
        reads.append((self.level, out.shape))
        return out

    monkeypatch.setattr(LevelArray, "__getitem__", spy)
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(tmp_path / "v.mla"), plugin=PLUGIN)
    viewer.dims.set_current_step(0, 20)
    viewer.screenshot(canvas_only=True, flash=False)
    last = len(layer.data) - 1
    assert reads
    for level, shape in reads:  # one plane: a 2D read, a 3D read one slice thick, or the status bar's one voxel
        assert level == last or len(shape) <= 2 or shape[0] == 1, (level, shape)
