"""OME-Zarr (NGFF 0.4 and 0.5) in and out; ome-zarr-py's own reader is the oracle."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr.writer import write_multiscale, write_multiscale_labels

from mlarray import Meta, MLArray
from mlarray._errors import CorruptFileError
from mlarray.convert import ConversionError, ImageRecord, detect_format, read_any, write_any
from mlarray.convert.formats.omezarr import OMEZarrGeometryWarning, read_omezarr
from mlarray.pyramid import downsample_block

FORMATS = {"0.4": FormatV04, "0.5": FormatV05}
AXES = [{"name": "c", "type": "channel"}, {"name": "z", "type": "space", "unit": "micrometer"},
        {"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]
OMERO = {"channels": [
    {"label": "DAPI", "color": "0000FF", "active": True, "window": {"start": 10, "end": 500, "min": 0, "max": 65535}},
    {"label": "GFP", "color": "00FF00", "active": True, "window": {"start": 0, "end": 900, "min": 0, "max": 65535}}],
    "rdefs": {"model": "color"}}


def _cli(*args):
    """``mlarray convert -q ARGS`` in this process (the CLI path users take, without a start-up per call)."""
    from mlarray.cli import main

    assert main(["convert", "-q", *map(str, args)]) == 0


def _third_party_store(path, version, rng=np.random.default_rng(3)):
    """A czyx store with a 2-level pyramid and a labels image, written by ome-zarr-py (not by us)."""
    fmt = FORMATS[version]()
    img = rng.integers(0, 4000, (2, 6, 20, 24)).astype(np.uint16)
    lab = (rng.integers(0, 3, (6, 20, 24))).astype(np.uint8)
    tr = [[{"type": "scale", "scale": [1.0, 2.0, 0.5, 0.4]},
           {"type": "translation", "translation": [0, 10, 20, 30]}],
          [{"type": "scale", "scale": [1.0, 2.0, 1.0, 0.8]},
           {"type": "translation", "translation": [0, 10, 20.25, 30.2]}]]
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    write_multiscale([img, img[:, :, ::2, ::2]], group, fmt=fmt, axes=AXES, coordinate_transformations=tr,
                     name="cells", metadata={"omero": json.loads(json.dumps(OMERO))})
    ltr = [[{"type": t["type"], t["type"]: t[t["type"]][1:]} for t in level] for level in tr]
    write_multiscale_labels([lab, lab[:, ::2, ::2]], group, "nuclei", fmt=fmt, axes=AXES[1:],
                            coordinate_transformations=ltr,
                            label_metadata={"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]},
                                                       {"label-value": 2, "rgba": [0, 128, 255, 255]}],
                                            "properties": [{"label-value": 1, "class": "nucleus"},
                                                           {"label-value": 2, "class": "mitotic nucleus"}]})
    return img, lab


def _oracle_world(metadata, index):
    """World point of ``index`` (all axes) from ome-zarr-py's per-dataset transforms of level 0."""
    point = np.asarray(index, float)
    for t in metadata["coordinateTransformations"][0]:
        point = point * np.asarray(t["scale"]) if t["type"] == "scale" else point + np.asarray(t["translation"])
    return point


def _nodes(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [n for n in Reader(parse_url(str(path)))() if n.data]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_reads_a_store_written_by_ome_zarr_py(tmp_path, version):
    path = tmp_path / "cells.ome.zarr"
    img, lab = _third_party_store(path, version)
    assert detect_format(path) == "omezarr"
    rec = read_any(path)
    np.testing.assert_array_equal(rec.array, img)
    assert rec.array.dtype == img.dtype
    assert [lv.shape for lv in rec.levels] == [(2, 6, 10, 12)]
    np.testing.assert_array_equal(rec.levels[0], img[:, :, ::2, ::2])
    assert rec.axis_labels == ["channel", "spatial_z", "spatial_y", "spatial_x"]
    assert rec.axis_units == ["µm"] * 3
    image_node, label_node = _nodes(path)
    for idx in [(0, 0, 0, 0), (1, 5, 19, 23), (0, 2, 7, 11)]:
        np.testing.assert_allclose(rec.world(idx[1:]), _oracle_world(image_node.metadata, idx)[1:], atol=1e-6)
    assert rec.extra["channel_names"] == list(image_node.metadata["channel_names"]) == ["DAPI", "GFP"]
    assert rec.extra["channel_colors"] == ["#0000ff", "#00ff00"]
    assert rec.extra["channel_windows"] == [[10.0, 500.0], [0.0, 900.0]]
    assert rec.source_format == "ome-zarr" and rec.source["ngff_version"] == version
    assert rec.source["attributes"] == json.loads(json.dumps(dict(zarr.open_group(str(path), mode="r").attrs)))
    # labels/ -> a segmentation with a class table from the image-label colours and properties
    seg = rec.companions["nuclei"]
    assert seg.is_seg is True
    np.testing.assert_array_equal(seg.array, lab)
    assert seg.classes == [{"id": 1, "name": "nucleus", "color": [1.0, 0.0, 0.0, 1.0]},
                           {"id": 2, "name": "mitotic nucleus", "color": [0.0, 128 / 255, 1.0, 1.0]}]
    assert label_node.metadata["properties"] == {1: {"class": "nucleus"}, 2: {"class": "mitotic nucleus"}}
    for idx in [(0, 0, 0), (5, 19, 23)]:
        np.testing.assert_allclose(seg.world(idx), _oracle_world(label_node.metadata, idx), atol=1e-6)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_to_mla_writes_image_and_labels_via_cli(tmp_path, version):
    path = tmp_path / "cells.ome.zarr"
    img, lab = _third_party_store(path, version)
    _cli(path, tmp_path / "cells.mla")
    ml = MLArray.open(tmp_path / "cells.mla")
    np.testing.assert_array_equal(ml.to_numpy(), img)
    assert ml.meta.extra["channel_names"] == ["DAPI", "GFP"]
    assert ml.meta.source_format == "ome-zarr"
    assert [lv.shape for lv in ml.levels[1:]] == [(2, 6, 10, 12)] and ml.meta.pyramid.method == "source"
    seg = MLArray.open(tmp_path / "cells_label-nuclei.mla")
    assert seg.meta.is_seg is True and [c["name"] for c in seg.meta.classes] == ["nucleus", "mitotic nucleus"]
    np.testing.assert_array_equal(seg.to_numpy(), lab)


def test_multiscale_level_transforms_compose_after_the_dataset_ones(tmp_path):
    """NGFF: dataset transforms first, then the multiscale's: world = s_g * (s_d * i + t_d) + t_g."""
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=2)
    g.create_array("0", data=np.arange(60, dtype=np.int32).reshape(3, 4, 5))
    g.attrs["multiscales"] = [{
        "version": "0.4", "axes": [{"name": n, "type": "space", "unit": "millimeter"} for n in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [2.0, 0.5, 0.25]}, {"type": "translation", "translation": [1.0, 2.0, 3.0]}]}],
        "coordinateTransformations": [{"type": "scale", "scale": [10.0, 1.0, -1.0]},
                                      {"type": "translation", "translation": [0.5, 0.0, 100.0]}]}]
    rec = read_any(tmp_path / "g.zarr")
    for idx in [(0, 0, 0), (2, 3, 4)]:
        i = np.asarray(idx, float)
        expect = np.array([10.0, 1.0, -1.0]) * (np.array([2.0, 0.5, 0.25]) * i + [1.0, 2.0, 3.0]) + [0.5, 0, 100]
        np.testing.assert_allclose(rec.world(idx), expect, atol=1e-12)
    assert rec.axis_units == ["mm"] * 3
    assert rec.direction[2][2] == -1.0  # the negative scale is a flip, not a negative spacing


def test_old_ngff_versions_without_axes_or_transforms(tmp_path):
    g = zarr.open_group(str(tmp_path / "v03.zarr"), mode="w", zarr_format=2)
    g.create_array("0", data=np.ones((2, 3, 4), np.uint8))
    g.attrs["multiscales"] = [{"version": "0.3", "axes": ["c", "y", "x"], "datasets": [{"path": "0"}]}]
    rec = read_any(tmp_path / "v03.zarr")
    assert rec.axis_labels == ["channel", "spatial_y", "spatial_x"] and rec.spacing == [1.0, 1.0]
    g = zarr.open_group(str(tmp_path / "v01.zarr"), mode="w", zarr_format=2)
    g.create_array("0", data=np.ones((1, 2, 3, 4, 5), np.uint8))
    g.attrs["multiscales"] = [{"version": "0.1", "datasets": [{"path": "0"}]}]
    rec = read_any(tmp_path / "v01.zarr")
    assert rec.axis_labels == ["temporal", "channel", "spatial_z", "spatial_y", "spatial_x"]


def _mla_pair(tmp_path, direction=None, coord_system="unknown"):
    rng = np.random.default_rng(7)
    img = rng.integers(0, 3000, (2, 10, 90, 70)).astype(np.uint16)
    lab = np.zeros((10, 90, 70), np.uint8)
    lab[2:8, 10:60, 20:50] = 1
    lab[4:6, 30:40, 25:35] = 2
    spatial = {"spacing": [3.0, 0.4, 0.3], "origin": [5.0, -3.0, 7.5], "coord_system": coord_system,
               "direction": direction or np.eye(3).tolist()}
    MLArray(img, meta=Meta(spatial={**spatial, "axis_labels": ["channel", "spatial_z", "spatial_y", "spatial_x"],
                                    "axis_units": ["µm"] * 3},
                           extra={"channel_names": ["DAPI", "Actin"]})).save(tmp_path / "img.mla")
    classes = [{"id": 1, "name": "cell", "color": [0.2, 0.6, 0.3, 1.0]},
               {"id": 2, "name": "nucleus", "color": [0.9, 0.1, 0.1, 1.0]}]
    MLArray(lab, meta=Meta(spatial={**spatial, "axis_units": ["µm"] * 3}, is_seg=True,
                           classes=classes)).save(tmp_path / "seg.mla")
    return img, lab, classes


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_mla_to_ome_zarr_with_pyramid_and_labels_and_back(tmp_path, version):
    img, lab, classes = _mla_pair(tmp_path)
    out = tmp_path / "img.ome.zarr"
    _cli(tmp_path / "img.mla", out, "--labels", tmp_path / "seg.mla", "--ngff-version", version)
    # what ome-zarr-py sees
    image_node, label_node = _nodes(out)
    # in-plane axes over 64 voxels are halved: 90 x 70 -> 45 x 35; z (10) and channels stay
    assert [tuple(d.shape) for d in image_node.data] == [(2, 10, 90, 70), (2, 10, 45, 35)]
    np.testing.assert_array_equal(np.asarray(image_node.data[0]), img)
    np.testing.assert_array_equal(np.asarray(image_node.data[1]),
                                  downsample_block(img, (1, 1, 2, 2), "mean"))  # area mean, as in .mla levels
    ml = MLArray.open(tmp_path / "img.mla")
    for idx in [(0, 0, 0, 0), (1, 9, 89, 69), (0, 3, 40, 12)]:
        world = np.asarray(ml.affine) @ np.r_[idx[1:], 1]
        np.testing.assert_allclose(_oracle_world(image_node.metadata, idx)[1:], world[:3], atol=1e-6)
    assert list(image_node.metadata["channel_names"]) == ["DAPI", "Actin"]
    assert [a.get("unit") for a in image_node.metadata["axes"][1:]] == ["micrometer"] * 3
    np.testing.assert_array_equal(np.asarray(label_node.data[0]), lab)
    np.testing.assert_array_equal(np.asarray(label_node.data[1]), downsample_block(lab, (1, 2, 2), "mode"))
    assert label_node.metadata["properties"] == {1: {"class": "cell"}, 2: {"class": "nucleus"}}
    zattrs = dict(zarr.open_group(str(out), mode="r").attrs)
    assert ("ome" in zattrs) == (version == "0.5")
    # and back: the same .mla content
    _cli(out, tmp_path / "back.mla")
    back = MLArray.open(tmp_path / "back.mla")
    np.testing.assert_array_equal(back.to_numpy(), img)
    assert back.meta.spatial.spacing == ml.meta.spatial.spacing
    assert back.meta.spatial.origin == ml.meta.spatial.origin
    assert back.meta.spatial.axis_labels == ml.meta.spatial.axis_labels
    assert back.meta.extra["channel_names"] == ["DAPI", "Actin"]
    seg = MLArray.open(tmp_path / "back_label-seg.mla")
    np.testing.assert_array_equal(seg.to_numpy(), lab)
    assert seg.meta.classes == classes  # colours exact: the mlarray attribute keeps them unrounded


def test_oblique_ras_image_warns_and_comes_back_exactly(tmp_path):
    c, s = np.cos(0.2), np.sin(0.2)
    direction = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    img, _, _ = _mla_pair(tmp_path, direction=direction, coord_system="RAS")
    from mlarray.convert._bridge import mlarray_to_record

    record = mlarray_to_record(MLArray.open(tmp_path / "img.mla"))
    with pytest.warns(OMEZarrGeometryWarning, match="cannot express a rotated image"):
        write_any(record, tmp_path / "o.ome.zarr")
    image_node = _nodes(tmp_path / "o.ome.zarr")[0]
    # other tools see the image axis-aligned with its spacing, each axis starting at the origin's
    # coordinate along that axis's direction
    assert image_node.metadata["coordinateTransformations"][0][0]["scale"] == [1.0, 3.0, 0.4, 0.3]
    projected = np.asarray(direction).T @ np.array([5.0, -3.0, 7.5])
    np.testing.assert_allclose(image_node.metadata["coordinateTransformations"][0][1]["translation"],
                               [0.0, *projected], atol=1e-12)
    back = read_any(tmp_path / "o.ome.zarr")
    np.testing.assert_allclose(back.direction, record.direction, atol=0)
    assert back.coord_system == "RAS"
    np.testing.assert_array_equal(back.array, img)


def test_a_tool_editing_the_ngff_transform_wins_over_our_attribute(tmp_path):
    _mla_pair(tmp_path, coord_system="RAS")
    _cli(tmp_path / "img.mla", tmp_path / "o.ome.zarr", "--ngff-version", "0.4")
    g = zarr.open_group(str(tmp_path / "o.ome.zarr"), mode="r+")
    ms = g.attrs["multiscales"]
    ms[0]["datasets"][0]["coordinateTransformations"][1]["translation"] = [0.0, 50.0, 60.0, 70.0]
    g.attrs["multiscales"] = ms
    rec = read_any(tmp_path / "o.ome.zarr")
    assert rec.origin == [50.0, 60.0, 70.0] and rec.coord_system == "unknown"


def test_time_axis_interval_and_channel_last_order_round_trip(tmp_path):
    data = np.arange(3 * 4 * 5 * 2, dtype=np.float32).reshape(3, 4, 5, 2)  # t, y, x, c
    rec = ImageRecord(array=data, spacing=[0.5, 0.25], origin=[1.0, 2.0], direction=np.eye(2).tolist(),
                      axis_labels=["temporal", "spatial_y", "spatial_x", "channel"],
                      axis_units=["s", "µm", "µm", ""], extra={"time_interval": 1.5, "channel_names": ["a", "b"]})
    write_any(rec, tmp_path / "t.ome.zarr", ngff_version="0.4")
    node = _nodes(tmp_path / "t.ome.zarr")[0]
    assert [a["name"] for a in node.metadata["axes"]] == ["t", "c", "y", "x"]
    assert node.metadata["axes"][0]["unit"] == "second"
    assert node.metadata["coordinateTransformations"][0][0]["scale"][0] == 1.5
    np.testing.assert_array_equal(np.asarray(node.data[0]), np.moveaxis(data, 3, 1))
    back = read_any(tmp_path / "t.ome.zarr")
    assert back.axis_labels == rec.axis_labels
    np.testing.assert_array_equal(back.array, data)
    assert back.extra["time_interval"] == 1.5 and back.extra["channel_names"] == ["a", "b"]


def test_overwriting_a_store_is_atomic_and_leaves_nothing_behind(tmp_path):
    _mla_pair(tmp_path)
    _cli(tmp_path / "img.mla", tmp_path / "o.ome.zarr")
    _cli("--overwrite", tmp_path / "seg.mla", tmp_path / "o.ome.zarr")  # replaces the image store by the segmentation
    rec = read_any(tmp_path / "o.ome.zarr")
    assert rec.is_seg is True and rec.array.dtype == np.uint8 and [c["name"] for c in rec.classes] == ["cell",
                                                                                                         "nucleus"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.mla", "o.ome.zarr", "seg.mla"]


def test_unreadable_stores_give_clear_errors(tmp_path):
    with pytest.raises(ConversionError, match="does not exist"):
        read_any(tmp_path / "missing.zarr")
    plate = zarr.open_group(str(tmp_path / "plate.zarr"), mode="w", zarr_format=2)
    plate.attrs["plate"] = {"wells": [{"path": "A/1"}], "version": "0.4"}
    well = plate.create_group("A/1")
    well.attrs["well"] = {"images": [{"path": "0"}]}
    with pytest.raises(ConversionError, match=r"plate.*A/1/0"):
        read_omezarr(tmp_path / "plate.zarr")
    g = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w", zarr_format=2)
    g.attrs["multiscales"] = [{"version": "0.4", "datasets": [{"path": "nope"}],
                               "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]}]
    with pytest.raises(CorruptFileError, match="'nope'"):
        read_any(tmp_path / "bad.zarr")
    ms = g.attrs["multiscales"]
    ms[0]["datasets"][0]["path"] = "../outside"
    g.attrs["multiscales"] = ms
    with pytest.raises(CorruptFileError, match="outside"):
        read_any(tmp_path / "bad.zarr")
    huge = zarr.open_group(str(tmp_path / "huge.zarr"), mode="w", zarr_format=3)
    huge.create_array("0", shape=(10**6, 10**6, 10**6), chunks=(64, 64, 64), dtype=np.uint16)
    huge.attrs["ome"] = {"version": "0.5", "multiscales": [{"datasets": [{"path": "0"}], "axes": [
        {"name": n, "type": "space"} for n in "zyx"]}]}
    with pytest.raises(CorruptFileError, match=r"declares .* GiB of voxels, more than .*max_read_bytes"):
        read_any(tmp_path / "huge.zarr")
    empty = zarr.open_group(str(tmp_path / "empty.zarr"), mode="w", zarr_format=3)
    empty.attrs["note"] = 1
    with pytest.raises(ConversionError, match="no OME-Zarr multiscale image"):
        read_any(tmp_path / "empty.zarr")
    rec = ImageRecord(array=np.zeros((2, 3, 4, 5, 6, 7)), spacing=[1, 1, 1], origin=[0, 0, 0],
                      direction=np.eye(3).tolist(), axis_labels=["a", "b", "c", "spatial", "spatial", "spatial"])
    with pytest.raises(ConversionError, match="at most 5 axes"):
        write_any(rec, tmp_path / "six.ome.zarr")
    assert not (tmp_path / "six.ome.zarr").exists()


def test_unusable_transform_or_axes_metadata_still_reads_the_image(tmp_path):
    g = zarr.open_group(str(tmp_path / "p.zarr"), mode="w", zarr_format=2)
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    g.create_array("0", data=data)
    g.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": n, "type": "space"} for n in "zyx"],
                               "datasets": [{"path": "0", "coordinateTransformations": [
                                   {"type": "scale", "path": "scale.bin"}]}]}]
    with pytest.warns(UserWarning, match="binary array.*unit spacing"):
        rec = read_any(tmp_path / "p.zarr")
    np.testing.assert_array_equal(rec.array, data)
    assert rec.spacing == [1.0, 1.0, 1.0]
    assert rec.source["attributes"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["path"] \
        == "scale.bin"
    g.attrs["multiscales"] = [{"version": "0.4", "axes": [7, 8], "datasets": [{"path": "0"}]}]
    with pytest.warns(UserWarning, match="read as space"):
        rec = read_any(tmp_path / "p.zarr")
    assert rec.axis_labels == ["spatial", "spatial", "spatial"]


def _dicomdir_tests() -> str:
    from pydicom.data import get_testdata_file

    return os.path.dirname(get_testdata_file("DICOMDIR"))  # DICOMDIR sits at the top of dicomdirtests/


def _ngff_world(node, index):
    """World position of a voxel as ome-zarr-py's reader gives the transforms (scale, then translation)."""
    t = node.metadata["coordinateTransformations"][0]
    scale = next(x["scale"] for x in t if x["type"] == "scale")
    shift = next((x["translation"] for x in t if x["type"] == "translation"), [0.0] * len(scale))
    return {a["name"]: s * i + o for a, s, i, o in zip(node.metadata["axes"], scale, index, shift)}


def _assert_ngff_places_voxels_like_mlarray(store, mla, voxels):
    node = _nodes(store)[0]
    affine = np.asarray(MLArray.open(mla).affine, float)
    names = [a["name"] for a in node.metadata["axes"]]
    assert names == ["z", "y", "x"]
    for index in voxels:
        ours = affine @ np.array([*index, 1.0])  # world x, y, z of array index (axis order of the .mla)
        theirs = _ngff_world(node, index)
        np.testing.assert_allclose([theirs["x"], theirs["y"], theirs["z"]], ours[:3], rtol=0, atol=1e-6)


def test_axial_ct_is_placed_per_axis_without_a_warning(tmp_path):
    # A real axial CT: array axes slice, row, column run along world z, y, x (an axis permutation)
    _cli(os.path.join(_dicomdir_tests(), "77654033", "CT2"), tmp_path / "ct2.mla")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OMEZarrGeometryWarning)
        _cli(tmp_path / "ct2.mla", tmp_path / "back.ome.zarr")
    _assert_ngff_places_voxels_like_mlarray(tmp_path / "back.ome.zarr", tmp_path / "ct2.mla",
                                            [(0, 0, 0), (3, 15, 0), (1, 7, 12), (2, 0, 15)])
    back = MLArray.open(tmp_path / "ct2.mla")
    _cli(tmp_path / "back.ome.zarr", tmp_path / "rt.mla")
    rt = MLArray.open(tmp_path / "rt.mla")  # our attribute still agrees with the transforms: exact frame back
    assert rt.meta.spatial.coord_system == back.meta.spatial.coord_system == "LPS"
    np.testing.assert_allclose(rt.affine, back.affine, atol=1e-9)


def test_flipped_axis_gets_a_negative_scale_not_a_warning(tmp_path):
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    direction = [[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]  # slices run -z, columns -x
    MLArray(data, spacing=[2.0, 0.5, 0.25], origin=[10.0, -20.0, 30.0], direction=direction,
            meta=Meta(spatial={"coord_system": "LPS"})).save(tmp_path / "f.mla")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OMEZarrGeometryWarning)
        _cli(tmp_path / "f.mla", tmp_path / "f.ome.zarr")
    _assert_ngff_places_voxels_like_mlarray(tmp_path / "f.ome.zarr", tmp_path / "f.mla",
                                            [(0, 0, 0), (2, 3, 4), (1, 0, 3)])
    _cli(tmp_path / "f.ome.zarr", tmp_path / "rt.mla")
    np.testing.assert_allclose(MLArray.open(tmp_path / "rt.mla").affine, MLArray.open(tmp_path / "f.mla").affine)
