"""The MLArray metadata dock widget on a real viewer (run under Xvfb, see conftest)."""

from __future__ import annotations

import json
import time

import blosc2
import numpy as np
import pytest

from mlarray import Meta, MLArray  # noqa: E402
from napari_mlarray.widget._dock import MetadataWidget  # noqa: E402
from napari_mlarray.widget._save import save_metadata_in_place  # noqa: E402
from napari_mlarray.widget._tree import LazyTree  # noqa: E402


def _chunks(path) -> list[bytes]:
    from mlarray._file.container import base_offset

    # the base frame sits at the offset the file header names; keep the NDArray alive while using .schunk
    arr = blosc2.open(str(path), mmap_mode="r", offset=base_offset(str(path)))
    sc = arr.schunk
    out = [bytes(sc.get_chunk(i)) for i in range(sc.nchunks)]
    del sc, arr
    return out


def _stored(path):
    img = MLArray.open(str(path), mmap_mode="r")
    meta = img.meta
    img.close()
    return meta


@pytest.fixture
def opened(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    layers = viewer.open([str(ct_files["ct"]), str(ct_files["seg"])], plugin="mlarray", stack=False)
    by_role = {ly.metadata["mlarray_role"]: ly for ly in layers}
    widget = MetadataWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MLArray metadata")
    viewer.layers.selection.active = by_role["image"]
    return viewer, widget, by_role, ct_files


def test_widget_follows_selection(opened):
    viewer, w, layers, _ = opened
    assert w.layer is layers["image"]
    assert w.spatial.spacing.value == "2.5, 0.8, 0.9"
    assert w.spatial.coord_system.value == "LPS"
    viewer.layers.selection.active = layers["labels"]
    assert w.layer is layers["labels"]
    assert w.classes.is_seg.value is True
    assert [r[1] for r in w.classes.table.data.to_list()] == ["liver", "kidney", "bone"]


def test_showing_a_layer_applies_nothing(opened):
    """Loading a layer's metadata into the fields is not an edit: nothing is applied, stored or reported."""
    viewer, w, layers, _ = opened
    before = {role: json.dumps(ly.metadata["mlarray"], sort_keys=True) for role, ly in layers.items()}
    for role in ("labels", "boxes", "image", "labels"):
        viewer.layers.selection.active = layers[role]
        assert w.layer is layers[role]
        assert w.error == "" and w._message.value == ""
        assert not w.dirty
    assert {role: json.dumps(ly.metadata["mlarray"], sort_keys=True) for role, ly in layers.items()} == before
    assert viewer.layers.selection.active is layers["labels"]  # is_seg shown, not re-applied as a type swap


def test_manifest_widget_docks(make_napari_viewer):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("mlarray", "MLArray metadata")
    assert isinstance(widget, MetadataWidget)


def test_spacing_edit_changes_layer_transform_live(opened):
    _, w, layers, _ = opened
    img, boxes = layers["image"], layers["boxes"]
    before = np.array(img.scale)
    w.spatial.spacing.value = "5, 0.8, 0.9"  # axis 0 (S) spacing 2.5 -> 5
    assert w.error == ""
    after = np.array(img.scale)
    assert after[0] == pytest.approx(2 * before[0])
    np.testing.assert_allclose(after[1:], before[1:])
    # the boxes drawn from the same file follow
    np.testing.assert_allclose(np.array(boxes.scale), after)
    assert img.metadata["mlarray"]["spatial"]["spacing"] == [5.0, 0.8, 0.9]
    w.spatial.origin.value = "-40, -35, 150"
    np.testing.assert_allclose(img.translate[0], 150.0)  # napari world (S, P, L): S first


def test_direction_edit_flips_axis(opened):
    _, w, layers, _ = opened
    img = layers["image"]
    w.spatial.direction.value = "0, 0, 1; 0, -1, 0; 1, 0, 0"
    assert w.error == ""
    m = img.affine.affine_matrix @ np.diag(list(img.scale) + [1.0])
    world = img.data_to_world([0, 10, 0])
    assert world[1] == pytest.approx(-0.8 * 10 + img.translate[1])
    del m


@pytest.mark.parametrize("field, text, needle", [
    ("spacing", "1, -2, 1", "spatial.spacing"),
    ("spacing", "1, 2", "spatial.spacing"),
    ("spacing", "1, x, 2", "not a number"),
    ("direction", "1, 1, 0; 0, 1, 0; 0, 0, 1", "orthonormal"),
    ("origin", "[1, 2", "JSON"),
])
def test_invalid_geometry_is_refused_and_saves_nothing(opened, field, text, needle):
    _, w, layers, files = opened
    img = layers["image"]
    before_scale, before_tr = np.array(img.scale), np.array(img.translate)
    before_md = json.dumps(img.metadata["mlarray"], sort_keys=True)
    getattr(w.spatial, field).value = text
    assert needle in w.error
    assert w._message.value.startswith("Not applied")
    np.testing.assert_array_equal(img.scale, before_scale)
    np.testing.assert_array_equal(img.translate, before_tr)
    assert json.dumps(img.metadata["mlarray"], sort_keys=True) == before_md
    # issue 18 item 8: the refused text stays in the field, so Save and Save as refuse rather than
    # reporting success with the last valid value
    stored_before = _stored(files["ct"]).to_mapping()
    assert getattr(w.spatial, field).value == text
    assert not w.save()
    assert w.error.startswith("Not saved") and "spatial" in w.error
    assert w.save_as() is None and w.error.startswith("Not saved")
    assert _stored(files["ct"]).to_mapping() == stored_before
    # fixing the field applies it, and Save writes what the field shows
    getattr(w.spatial, field).value = {"spacing": "2.5, 0.8, 0.7", "direction": "0, 0, 1; 0, 1, 0; 1, 0, 0",
                               "origin": "-40, -35, 121"}[field]
    assert w.error == ""
    assert w.save(), w.error
    stored = _stored(files["ct"]).spatial
    assert {"spacing": stored.spacing == [2.5, 0.8, 0.7], "origin": stored.origin == [-40, -35, 121],
            "direction": stored.direction == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]}[field]


def test_revert_clears_a_refused_field(opened):
    _, w, _layers, files = opened
    w.extra.text.value = "{not json"
    assert not w.extra.apply()
    assert not w.save()
    assert w.revert()
    assert w.extra.text.value.strip().startswith("{") and w.save(), w.error


def test_save_writes_metadata_and_keeps_pixels_byte_identical(opened):
    _, w, layers, files = opened
    path = files["ct"]
    chunks_before = _chunks(path)
    w.spatial.spacing.value = "3, 0.8, 0.9"
    w.spatial.coord_system.value = "LPS"
    assert w.extra.apply('{"note": "edited", "reviewer": "me"}')
    assert w.dirty
    assert w.save(), w.error
    assert not w.dirty
    meta = _stored(path)
    assert meta.spatial.spacing == [3.0, 0.8, 0.9]
    assert meta.extra == {"note": "edited", "reviewer": "me"}
    assert meta.bbox.labels == ["liver", "kidney"]
    assert meta.stats.to_mapping()  # the file's stats survive
    assert _chunks(path) == chunks_before
    np.testing.assert_array_equal(MLArray.open(str(path))[...], files["array"])
    # no temporaries left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["ct.mla", "ct_seg.mla"]


def test_invalid_extra_is_refused(opened):
    _, w, layers, files = opened
    assert not w.extra.apply("{not json")
    assert "extra" in w.error and "JSON" in w.error
    assert not w.extra.apply("[1, 2]")
    assert "JSON object" in w.error
    assert layers["image"].metadata["mlarray"]["extra"] == {"note": "phantom"}
    assert not w.dirty


def test_revert_restores_file_metadata_and_transform(opened):
    _, w, layers, files = opened
    img = layers["image"]
    scale0, tr0 = np.array(img.scale), np.array(img.translate)
    w.spatial.spacing.value = "7, 0.8, 0.9"
    w.spatial.origin.value = "0, 0, 0"
    w.boxes.edit_box(0, label="tumour")
    assert w.dirty
    assert w.revert()
    np.testing.assert_allclose(img.scale, scale0)
    np.testing.assert_allclose(img.translate, tr0)
    assert w.spatial.spacing.value == "2.5, 0.8, 0.9"
    assert list(dict.fromkeys(layers["boxes"].features["label"])) == ["liver", "kidney"]
    assert not w.dirty
    assert _stored(files["ct"]).spatial.spacing == [2.5, 0.8, 0.9]


def _type(qtbot, table, row, col, text):
    """Edit a table cell as a user would (the widget applies it on the next event-loop turn)."""
    table.data[row, col] = text
    qtbot.wait(20)


def test_box_table_to_shapes(opened, qtbot):
    _, w, layers, files = opened
    shapes = layers["boxes"]
    assert [r[0] for r in w.boxes.table.data.to_list()] == ["liver", "kidney"]
    _type(qtbot, w.boxes.table, 1, 0, "left kidney")
    _type(qtbot, w.boxes.table, 1, 1, "0.5")
    ids = shapes.features["box_id"].to_numpy()
    assert set(shapes.features["label"][ids == 1]) == {"left kidney"}
    assert set(shapes.features["score"][ids == 1]) == {0.5}
    assert set(shapes.features["label"][ids == 0]) == {"liver"}
    md = shapes.metadata["mlarray"]["bbox"]
    assert md["labels"] == ["liver", "left kidney"] and md["scores"] == [0.9, 0.5]
    assert layers["image"].metadata["mlarray"]["bbox"]["labels"] == ["liver", "left kidney"]
    # invalid score refused
    _type(qtbot, w.boxes.table, 0, 1, "high")
    assert "bbox.scores" in w.error
    assert set(shapes.features["score"][ids == 0]) == {0.9}
    assert w.save()
    assert _stored(files["ct"]).bbox.labels == ["liver", "left kidney"]


def test_shapes_to_box_table(opened):
    viewer, w, layers, files = opened
    shapes = layers["boxes"]
    viewer.layers.selection.active = shapes
    assert w.boxes.table.shape[0] == 2
    # delete every rectangle of box 0 (liver)
    ids = shapes.features["box_id"].to_numpy()
    shapes.selected_data = set(np.flatnonzero(ids == 0).tolist())
    shapes.remove_selected()
    assert [r[0] for r in w.boxes.table.data.to_list()] == ["kidney"]
    assert shapes.metadata["mlarray"]["bbox"]["labels"] == ["kidney"]
    # draw a new rectangle on slice 3: a new one-slice box
    shapes.add_rectangles(np.array([[3, 10, 10], [3, 10, 20], [3, 30, 20], [3, 30, 10]], dtype=float))
    rows = w.boxes.table.data.to_list()
    assert len(rows) == 2 and rows[1][0].startswith("box")
    bb = shapes.metadata["mlarray"]["bbox"]
    assert len(bb["bboxes"]) == 2
    assert w.save()
    assert len(_stored(files["ct"]).bbox.bboxes) == 2


def test_class_table_updates_labels_colours(opened, qtbot):
    viewer, w, layers, files = opened
    lab = layers["labels"]
    viewer.layers.selection.active = lab
    _type(qtbot, w.classes.table, 0, 2, "#00ff00")
    assert w.error == "", w.error
    np.testing.assert_allclose(lab.colormap.map(np.array([1]))[0], [0, 1, 0, 1], atol=1e-6)
    _type(qtbot, w.classes.table, 1, 1, "left kidney")
    assert list(lab.features["name"]) == ["background", "liver", "left kidney", "bone"]
    # invalid colour refused, colour unchanged
    _type(qtbot, w.classes.table, 2, 2, "#zzzzzz")
    assert "classes[2].color" in w.error
    np.testing.assert_allclose(lab.colormap.map(np.array([3]))[0], [0.95, 0.95, 0.90, 1.0], atol=1e-3)
    assert not w.save() and "classes" in w.error  # the refused cell still shows "#zzzzzz"
    _type(qtbot, w.classes.table, 2, 2, "#f2f2e6")
    assert w.error == "", w.error
    assert w.save(), w.error
    stored = _stored(files["seg"])
    assert stored.classes[1]["name"] == "left kidney"
    assert stored.classes[0]["color"] == [0.0, 1.0, 0.0, 1.0]


def test_is_seg_swaps_layer_type(opened):
    viewer, w, layers, _ = opened
    lab = layers["labels"]
    viewer.layers.selection.active = lab
    scale = np.array(lab.scale)
    w.classes.is_seg.value = False
    new = viewer.layers.selection.active
    assert type(new).__name__.lower() == "image" and new.name == lab.name
    np.testing.assert_allclose(new.scale, scale)
    assert new.metadata["mlarray"]["is_seg"] is False
    assert w.layer is new
    w.classes.is_seg.value = True
    assert type(viewer.layers.selection.active).__name__.lower() == "labels"


def test_recompute_stats(opened):
    _, w, layers, files = opened
    w.stats.recompute(block=True)
    st = layers["image"].metadata["mlarray"]["stats"]
    assert st["min"] == float(files["array"].min()) and st["max"] == float(files["array"].max())
    assert "max:" in w.stats.text.value


def test_layer_without_file_gets_metadata_from_transforms(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((4, 8, 8), np.float32), scale=(3, 0.5, 0.5), translate=(10, 0, 0))
    w = MetadataWidget(viewer)
    viewer.layers.selection.active = layer
    assert w.layer is layer
    assert w.spatial.spacing.value == "3, 0.5, 0.5"
    assert w.spatial.origin.value == "10, 0, 0"
    assert not w.save_button.enabled and w.save_as_button.enabled
    w.spatial.spacing.value = "2, 0.5, 0.5"
    np.testing.assert_allclose(layer.scale, [2, 0.5, 0.5])
    assert not w.save()
    assert "Save as MLArray" in w.error


def test_save_metadata_in_place_refuses_invalid(ct_files):
    meta = _stored(ct_files["ct"])
    with pytest.raises(ValueError, match="spacing"):
        meta.spatial.spacing = [1.0, 2.0]  # refused at once: the file's metadata knows it is 3D
    doc = meta.to_mapping()
    doc["spatial"]["spacing"] = [1.0, 2.0]  # wrong length for the 3D file, built without that check
    for key in ("affine", "shape"):
        doc["spatial"].pop(key, None)
    meta = Meta.from_mapping(doc)
    before = ct_files["ct"].read_bytes()
    with pytest.raises(ValueError, match="spacing"):
        save_metadata_in_place(str(ct_files["ct"]), meta)
    assert ct_files["ct"].read_bytes() == before
    assert sorted(p.name for p in ct_files["ct"].parent.iterdir()) == ["ct.mla", "ct_seg.mla"]


def _big_header(n=5000) -> dict:
    groups = {}
    for i in range(n):
        g = f"({0x0008 + i // 500:04X},xxxx) group {i // 500}"
        groups.setdefault(g, {})[f"({0x0008 + i // 500:04X},{i % 500:04X}) Tag{i}"] = {
            "vr": "LO", "value": f"value {i}" if i % 7 else [i, i + 1, i + 2]}
    groups["PixelSpacing"] = [0.8, 0.8]
    return groups


def test_large_source_header_stays_responsive(qtbot):
    header = _big_header()
    tree = LazyTree()
    qtbot.addWidget(tree)
    tree.show()
    t0 = time.perf_counter()
    tree.set_value(header)
    qtbot.wait(1)
    shown = time.perf_counter() - t0
    print(f"5,000-element header shown in {shown * 1000:.1f} ms (tree build {tree.last_build_ms:.1f} ms)")
    assert shown < 0.5
    assert tree.tree.topLevelItemCount() == len(header)  # only the top level is built
    first = tree.tree.topLevelItem(0)
    assert first.childCount() == 1  # placeholder until expanded
    first.setExpanded(True)
    assert first.childCount() == 500
    t0 = time.perf_counter()
    tree.set_filter("tag4321")
    searched = time.perf_counter() - t0
    print(f"search over 5,000 elements in {searched * 1000:.1f} ms")
    assert searched < 0.5
    rows = tree.visible_rows()
    assert rows and all("Tag4321" in p for p, _ in rows)
    tree.set_filter("value")  # many hits are capped
    assert len(tree.visible_rows()) == tree.max_hits
    assert "showing" in tree.info.text()
    tree.set_filter("")
    assert tree.tree.topLevelItemCount() == len(header)


def test_widget_shows_large_header_fast(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((4, 8, 8), np.int16))
    layer.metadata = {"mlarray": {"format_version": 1, "has_array": True, "source": _big_header(),
                                  "source_format": "dicom", "spatial": {"shape": [4, 8, 8]}}}
    w = MetadataWidget(viewer)
    t0 = time.perf_counter()
    w.set_layer(layer)
    elapsed = time.perf_counter() - t0
    print(f"widget switched to a layer with a 5,000-element header in {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0
    assert "dicom" in w._source_format.text()
