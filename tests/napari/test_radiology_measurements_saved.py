"""Measurements saved with the file: napari's save and the plugin's Save-as write the measuring layer
into ``extra["measurements"]`` in world millimetres; opening the file gives the measuring layer back."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN, layer_index  # noqa: E402

from mlarray import MLArray  # noqa: E402


def _world_mm(path, index):
    affine = np.asarray(MLArray.open(path).affine, dtype=float)
    return affine[:3, :3] @ np.asarray(index, dtype=float) + affine[:3, 3]


def _measured_viewer(make_napari_viewer, ct_files):
    from napari_mlarray import measure

    viewer = make_napari_viewer()
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    ct = viewer.layers["ct"]
    layer = measure(viewer, ct)
    line = [(3, 5, 7), (3, 60, 41)]
    rect = [(10, 20, 12), (10, 20, 30), (10, 40, 30), (10, 40, 12)]
    ellipse = [(12, 30, 10), (12, 30, 50), (12, 70, 50), (12, 70, 10)]
    polygon = [(5, 20, 20), (5, 50, 30), (5, 30, 60)]
    layer.add_lines(np.array([layer_index(ct, p) for p in line], dtype=float))
    layer.add_rectangles(np.array([layer_index(ct, p) for p in rect], dtype=float))
    layer.add_ellipses(np.array([layer_index(ct, p) for p in ellipse], dtype=float))
    layer.add_polygons([np.array([layer_index(ct, p) for p in polygon], dtype=float)])
    return viewer, layer, {"line": line, "rectangle": rect, "ellipse": ellipse, "polygon": polygon}


def _save_with_napari(viewer, out):
    viewer.layers.save(str(out), plugin=PLUGIN)


def _save_as(viewer, out):
    from napari_mlarray import save_layers  # what File › Save as MLArray… runs on the chosen layers

    save_layers(list(viewer.layers), str(out))


@pytest.mark.parametrize("save", [_save_with_napari, _save_as], ids=["viewer.layers.save", "save_as"])
def test_measurements_are_saved_in_world_mm_and_come_back_live(make_napari_viewer, ct_files, tmp_path, save):
    viewer, layer, drawn = _measured_viewer(make_napari_viewer, ct_files)
    features = layer.features.copy()
    out = tmp_path / "measured.mla"
    save(viewer, out)

    # the file: plain JSON (no napari needed), each vertex at its voxel's world position in the file's frame
    ml = MLArray.open(out)
    record = ml.meta.extra["measurements"]
    assert record["version"] == 1
    items = record["items"]
    assert [it["type"] for it in items] == ["line", "rectangle", "ellipse", "polygon"]
    for item, (kind, voxels) in zip(items, drawn.items()):
        expected = np.array([_world_mm(ct_files["ct"], v) for v in voxels])
        assert np.allclose(item["points"], expected, atol=1e-6), kind
    assert items[0]["length_mm"] == pytest.approx(features["length_mm"].iloc[0])
    assert items[0]["label"] == features["label"].iloc[0]
    assert items[1]["mean"] == pytest.approx(features["mean"].iloc[1])
    assert ml.meta.bbox.bboxes == MLArray.open(ct_files["ct"]).meta.bbox.bboxes  # measurements are no boxes

    # opening it again: a measuring layer with the same shapes and figures
    again = make_napari_viewer()
    again.open(str(out), plugin=PLUGIN)
    back = again.layers["measurements"]
    ct = again.layers["measured"]
    assert list(back.shape_type) == ["line", "rectangle", "ellipse", "polygon"]
    for vertices, voxels in zip(back.data, drawn.values()):
        assert np.allclose(vertices, [layer_index(ct, v) for v in voxels], atol=1e-6)
    for col in ("length_mm", "area_mm2", "mean", "std", "min", "max"):
        assert np.allclose(back.features[col], features[col], equal_nan=True), col
    assert list(back.features["label"]) == list(features["label"])
    # recomputed live: moving the line's end changes its length
    moved = [np.asarray(d).copy() for d in back.data]
    moved[0][1] = layer_index(ct, (3, 5, 41))
    back.data = moved
    back.shape_type = ["line", "rectangle", "ellipse", "polygon"]
    a, b = _world_mm(out, (3, 5, 7)), _world_mm(out, (3, 5, 41))
    assert back.features["length_mm"].iloc[0] == pytest.approx(float(np.linalg.norm(b - a)))


def test_saved_measurements_stay_on_the_anatomy_of_a_resampled_image(make_napari_viewer, ct_files, tmp_path):
    """World millimetres, not voxels: the record copied to the same CT on a coarser grid opens on the
    same points, with the same length."""
    viewer, layer, drawn = _measured_viewer(make_napari_viewer, ct_files)
    out = tmp_path / "measured.mla"
    viewer.layers.save(str(out), plugin=PLUGIN)
    src = MLArray.open(out)
    coarse = MLArray(np.asarray(ct_files["array"])[:, ::2, :], spacing=[2.5, 1.6, 0.9], origin=src.origin,
                     direction=src.direction)
    coarse.meta.spatial.coord_system = "LPS"
    coarse.meta.extra = {"measurements": src.meta.extra["measurements"]}
    coarse.save(tmp_path / "coarse.mla")
    again = make_napari_viewer()
    again.open(str(tmp_path / "coarse.mla"), plugin=PLUGIN)
    back, ct = again.layers["measurements"], again.layers["coarse"]
    (z0, y0, x0), (z1, y1, x1) = drawn["line"]
    assert np.allclose(back.data[0], [layer_index(ct, (z0, y0 / 2, x0)), layer_index(ct, (z1, y1 / 2, x1))])
    assert back.features["length_mm"].iloc[0] == pytest.approx(layer.features["length_mm"].iloc[0])
    assert not math.isnan(back.features["mean"].iloc[1])  # statistics read from the coarse image itself


def test_values_carry_the_unit_the_file_records(make_napari_viewer, tmp_path):
    """The README promises the value under the cursor in HU: the demo CT said '75.0' with no unit (a trial
    user's), since only a DICOM header's Modality named it. A converted CT records ``extra["value_unit"]``."""
    from pydicom.data import get_testdata_file

    from mlarray.cli import main as mlarray_cli
    from mlarray.demo import write_sample_files
    from napari_mlarray import measure

    assert mlarray_cli(["convert", "-q", get_testdata_file("CT_small.dcm"), str(tmp_path / "ct.mla")]) == 0
    assert MLArray.open(tmp_path / "ct.mla").meta.extra["value_unit"] == "HU"
    paths = write_sample_files(tmp_path / "demo", 64)
    viewer = make_napari_viewer()
    image = next(ly for ly in viewer.open(str(paths["image"]), plugin=PLUGIN) if type(ly).__name__ == "Image")
    layer = measure(viewer, image)
    z = int(round(float(image.world_to_data(viewer.dims.point)[0])))
    data = image.data[0] if image.multiscale else image.data
    y, x = data.shape[1] // 2, data.shape[2] // 2
    layer.add_rectangles(np.array([[z, y - 4, x - 4], [z, y - 4, x + 4], [z, y + 4, x + 4], [z, y + 4, x - 4]],
                                  dtype=float))
    assert layer.features["label"].iloc[0].endswith(" HU")
