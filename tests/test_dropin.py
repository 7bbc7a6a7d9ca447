"""A drop-in for the published ``mlarray`` package: its files open, its API works, its exceptions are caught.

The fixtures in tests/data/upstream/ were written by the published package itself
(scripts/make_upstream_fixtures.py); expected.json is what its own API said each file holds.
"""

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import mlarray
from mlarray import Meta, MetaSpatial, MLArray, validate
from mlarray._file.format import FormatV1, PublishedPickleFormat, detect_format

DATA = Path(__file__).parent / "data" / "upstream"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))["fixtures"]


def _plain(value):
    """NaN/Inf as the strings expected.json uses."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same_values(a, b) -> bool:
    """Exact equality of nested JSON-like values where a float NaN equals a float NaN (and nothing else)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_values(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_values(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_file_the_published_package_wrote_opens_with_its_voxels_and_metadata(name):
    exp = EXPECTED[name]
    img = MLArray.open(DATA / name)
    assert img.meta.has_array == exp["has_array"]
    assert _plain(dict(img.meta.source)) == (exp["plain"]["source"] or {})
    if exp["has_array"]:
        arr = img.to_numpy()
        assert list(arr.shape) == exp["array"]["shape"] and str(arr.dtype) == exp["array"]["dtype"]
        assert hashlib.sha256(arr.tobytes()).hexdigest() == exp["array"]["sha256"]
        np.testing.assert_allclose(img.affine, exp["affine"], atol=1e-12)
        assert img.meta.spatial.coord_system == exp["plain"]["spatial"]["coord_system"]
        assert img.meta.spatial.axis_labels == exp["plain"]["spatial"]["axis_labels"]
    assert not [p for p in validate(DATA / name) if p.severity == "error"]


def test_nifti_conversion_keeps_nan_scaling_through_a_resave(tmp_path):
    img = MLArray.open(DATA / "converted_nifti.mla")
    assert math.isnan(img.meta.source["scl_slope"]) and math.isnan(img.meta.source["scl_inter"])
    img.save(tmp_path / "v1.mla")
    back = MLArray.open(tmp_path / "v1.mla")
    assert math.isnan(back.meta.source["scl_slope"])
    assert _same_values(dict(back.meta.source), dict(img.meta.source))
    # The stored text is strict JSON: NaN is the tagged object, never a bare NaN token.
    import blosc2

    from mlarray._file.container import base_offset

    store = blosc2.open(str(tmp_path / "v1.mla"), offset=base_offset(str(tmp_path / "v1.mla")))
    text = store.vlmeta["mla.meta"]
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the stored JSON"))
    assert doc["source"]["scl_slope"] == {"$float": "NaN"}


def test_nonfinite_values_round_trip_in_source_and_extra_and_the_tag_is_reserved(tmp_path):
    img = MLArray(np.zeros((2, 3, 4), np.uint8), meta=Meta(source={"a": [1.0, float("inf")]},
                                                            extra={"b": {"c": float("-inf"), "d": float("nan")}}))
    img.save(tmp_path / "n.mla")
    back = MLArray.open(tmp_path / "n.mla").meta
    assert back.source["a"] == [1.0, math.inf] and back.extra["b"]["c"] == -math.inf
    assert math.isnan(back.extra["b"]["d"])
    with pytest.raises(mlarray.MetadataError, match=r"extra.x.*reserves.*rename"):
        MLArray(np.zeros(3), meta=Meta(extra={"x": {"$float": "NaN"}})).save(tmp_path / "r.mla")
    with pytest.raises(mlarray.MetadataError, match="stats.min.*NaN"):
        Meta(stats={"min": float("nan")})  # outside source/extra numbers stay finite


def test_non_orthonormal_direction_and_shear_are_kept_exactly_and_reported(tmp_path):
    d = MLArray.open(DATA / "nonorthonormal_direction.mla")
    assert d.direction == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert Meta.from_mapping(d.meta.to_mapping()).spatial.direction == d.direction  # both views stored, parts kept
    warn = [p for p in validate(DATA / "nonorthonormal_direction.mla") if p.field == "spatial.direction"]
    assert warn and warn[0].severity == "warning" and "not orthonormal" in warn[0].message
    s = MLArray.open(DATA / "sheared_affine.mla")
    np.testing.assert_allclose(s.affine, EXPECTED["sheared_affine.mla"]["affine"], atol=1e-12)
    assert not s.meta.spatial.is_orthonormal
    assert not np.allclose(s.shear, np.eye(3))  # the published views: shear is the identity only without shear
    np.testing.assert_allclose(MLArray(np.zeros((2, 2, 2)), spacing=(2, 3, 4)).shear, np.eye(3), atol=1e-12)
    s.save(tmp_path / "s.mla")  # written as the general affine it is
    np.testing.assert_allclose(MLArray.open(tmp_path / "s.mla").affine, s.affine, atol=1e-12)


def test_six_dimensional_array_with_five_units_opens_and_is_reported():
    img = MLArray.open(DATA / "nonspatial_6d.mla")
    assert img.shape == (2, 6, 4, 4, 3, 2) and img.spatial_axes == [1, 2, 3]
    assert img.meta.spatial.axis_units == ["s", "mm", "mm", "mm", ""]
    assert [p.field for p in validate(DATA / "nonspatial_6d.mla") if p.severity == "warning"].count(
        "spatial.axis_units") == 1


def test_metadata_only_file_has_no_shape_and_refuses_voxel_access_as_type_error():
    img = MLArray.open(DATA / "metadata_only.mla")
    assert img.shape is None and len(img) == 0 and img.affine is None
    assert img.meta.bbox.labels == ["nodule"]
    with pytest.raises(TypeError):
        img[0]
    with pytest.raises(mlarray.NoArrayError, match="no array"):
        img.to_numpy()


@pytest.mark.parametrize("name", ["created_filled.mla", "converted_nifti.mla"])
def test_r_plus_edit_of_a_published_file_converts_it_whole(tmp_path, name):
    path = tmp_path / name
    shutil.copy(DATA / name, path)
    img = MLArray.open(path, mmap_mode="r+")
    img.meta.source["edited"] = True  # a metadata edit before the first voxel write is kept too
    img[0, 0, :3] = 99
    img.close()
    back = MLArray.open(path)
    assert back.meta.source["edited"] is True and list(back[0, 0, :3]) == [99, 99, 99]
    assert detect_format(back._store, str(path)) is FormatV1 and "legacy" not in back.meta.writer
    assert back.meta.stats.max is not None and not [p for p in validate(path) if p.severity == "error"]


def test_r_plus_metadata_edit_alone_converts_and_a_failed_conversion_leaves_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.mla"
    shutil.copy(DATA / "metadata_only.mla", path)
    img = MLArray.open(path, mmap_mode="r+")
    img.meta.extra["note"] = "kept"
    img.close()
    assert MLArray.open(path).meta.extra["note"] == "kept"

    path2 = tmp_path / "c.mla"
    shutil.copy(DATA / "created_filled.mla", path2)
    before = path2.read_bytes()
    from mlarray._data import writer as _writer

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(_writer, "write_file", broken)
    img = MLArray.open(path2, mmap_mode="r+")
    with pytest.raises(OSError, match="disk full"):
        img[0] = 1
    assert path2.read_bytes() == before  # never half-applied: no voxel, no metadata change
    assert detect_format(MLArray.open(path2)._store, str(path2)) is PublishedPickleFormat


def test_mlarray_header_prints_the_published_json(capsys):
    from mlarray.cli import header_main

    assert header_main([str(DATA / "converted_nrrd.mla")]) == 0
    printed = json.loads(capsys.readouterr().out)
    exp = EXPECTED["converted_nrrd.mla"]["plain"]
    for key in ("source", "is_seg", "_image_meta_format"):
        assert _plain(printed[key]) == exp[key]
    assert printed["spatial"]["coord_system"] == "RAS+" and printed["spatial"]["shape"] == [6, 7, 8]
    assert header_main([str(DATA / "missing.mla")]) == 1


def test_errors_are_also_the_builtin_types_the_published_package_raised(tmp_path):
    with pytest.raises(RuntimeError):
        MLArray.open(tmp_path / "missing.mla")
    with pytest.raises(FileNotFoundError):
        MLArray.open(tmp_path / "missing.mla")
    MLArray(np.zeros((2, 2))).save(tmp_path / "a.mla")
    for call in (lambda: MLArray.open(tmp_path / "a.mla", mode="w"),
                 lambda: MLArray.create(tmp_path / "b.mla", shape=(2,), dtype=np.uint8, mmap_mode="r+"),
                 lambda: MLArray(np.zeros(2)).save(tmp_path / "a.b2nd")):
        with pytest.raises(RuntimeError) as err:
            call()
        assert isinstance(err.value, mlarray.MLArrayError)
    with pytest.raises(TypeError) as err:
        MetaSpatial(coord_system=123)
    assert isinstance(err.value, mlarray.MetadataError) and "spatial.coord_system" in str(err.value)
    with pytest.raises(TypeError):
        MLArray.zeros_like(123)
    with pytest.raises(ValueError, match="spatial.spacing"):
        MLArray(np.zeros((4, 4, 4))).meta.spatial.spacing = [1.0, 2.0]


def test_ras_plus_and_lps_plus_are_the_anatomical_systems():
    from mlarray.affines import anatomical_letters, axis_directions, convert_coord_system

    assert [anatomical_letters(c) for c in ("RAS+", "LPS+", "ras", mlarray.CoordSystem.LPS_PLUS, "ENU", None)] == \
        ["RAS", "LPS", "RAS", "LPS", None, None]
    assert axis_directions(np.eye(3), "LPS+") == axis_directions(np.eye(3), "LPS")
    np.testing.assert_allclose(convert_coord_system(np.eye(4), "RAS+", "LPS"), np.diag([-1, -1, 1, 1]))
    assert MetaSpatial(coord_system=MetaSpatial.CoordSystem.RAS_PLUS).coord_system == "RAS+"


def test_compressed_flag_keeps_voxels_compressed_in_memory(tmp_path):
    import blosc2

    arr = np.zeros((32, 64, 64), np.int16)
    arr[8:24] = 7
    img = MLArray(arr, spacing=(2, 1, 1))
    assert isinstance(img._store, blosc2.NDArray) and img._store.schunk.cbytes < arr.nbytes / 20
    assert img.meta.blosc2.chunk_size == list(img._store.chunks)
    np.testing.assert_array_equal(img[8], arr[8])
    img.save(tmp_path / "c.mla")
    assert isinstance(MLArray.load(tmp_path / "c.mla")._store, blosc2.NDArray)
    assert isinstance(MLArray.load(tmp_path / "c.mla", compressed=False)._store, np.ndarray)
    plain = MLArray(arr, compressed=False)
    assert isinstance(plain._store, np.ndarray)
    plain.compress(patch_size=16)
    assert plain.meta.blosc2.patch_size == [16, 16, 16] and isinstance(plain._store, blosc2.NDArray)
    plain.decompress()
    assert isinstance(plain._store, np.ndarray) and plain.meta.blosc2.chunk_size is None


def test_library_managed_fields_are_read_only_for_users():
    from mlarray.meta import _meta_internal_write

    img = MLArray(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(AttributeError, match="meta.spatial.shape"):
        img.meta.spatial.shape = [1, 1, 1]
    with pytest.raises(AttributeError):
        img.meta.blosc2.chunk_size[0] = 1
    with pytest.raises(AttributeError, match="meta._has_array"):
        img.meta._has_array.has_array = False
    with _meta_internal_write():
        img.meta._image_meta_format = "nifti"
    assert img.meta.source_format == "nifti" and img.meta._image_meta_format.to_plain() == "nifti"


def test_legacy_file_with_nan_statistics_and_source_opens(tmp_path):
    # The published package pickled whatever plain values it held; np.mean over NaN data gives NaN.
    import gzip
    import pickle

    import blosc2

    mapping = {"source": {"data": {"scl_slope": float("nan")}}, "extra": {"data": {}},
               "stats": {"mean": float("nan"), "min": 0.0, "percentile_max": float("inf"), "percentile_max_key": 0.99},
               "_has_array": {"has_array": True}, "_mlarray_version": {"mlarray_version": "0.0.54"}}
    path = tmp_path / "nan.mla"
    store = blosc2.asarray(np.zeros((2, 2), np.uint8), urlpath=str(path), mode="w")
    store.schunk.vlmeta["mlarray"] = gzip.compress(pickle.dumps(mapping))  # plain values only
    del store
    meta = MLArray.open(path).meta
    assert meta.stats.min == 0.0 and meta.stats.mean is None and meta.stats.percentiles is None
    unmapped = meta.extra["legacy_unmapped"]
    assert math.isnan(unmapped["stats.mean"]) and unmapped["stats.percentile_max"] == math.inf
    assert math.isnan(meta.source["scl_slope"])


def test_saving_an_in_memory_compressed_array_copies_its_chunks_without_reencoding(tmp_path, monkeypatch):
    from mlarray._data import writer as _writer

    arr = (np.arange(16 * 40 * 40) % 251).astype(np.int16).reshape(16, 40, 40)
    img = MLArray(arr, patch_size=16)

    def no_reencode(*a, **k):
        raise AssertionError("the chunks were decompressed and compressed again")

    monkeypatch.setattr(_writer, "write_region", no_reencode)
    img.save(tmp_path / "c.mla")
    back = MLArray.open(tmp_path / "c.mla", verify=True)
    np.testing.assert_array_equal(back[...], arr)
    assert back.meta.blosc2.chunk_size == img.meta.blosc2.chunk_size


def _published_converter_inputs(folder: Path) -> dict:
    """The inputs scripts/make_upstream_fixtures.py gave the published package's converter."""
    import nibabel as nib
    import nrrd

    vol = (np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8) % 50) * 3
    aff = np.array([[-0.9, 0, 0, 90.0], [0, 0.8, 0, -110.0], [0, 0, 2.5, -60.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(vol, aff), folder / "ct.nii.gz")
    nrrd.write(str(folder / "ct.nrrd"), vol, {"space": "left-posterior-superior",
                                              "space directions": np.diag([0.7, 0.7, 3.0]),
                                              "space origin": np.array([-10.0, 20.0, 5.0])})
    return {"converted_nifti.mla": folder / "ct.nii.gz", "converted_nrrd.mla": folder / "ct.nrrd"}


@pytest.mark.parametrize("fixture", ["converted_nifti.mla", "converted_nrrd.mla"])
def test_published_python_converter_with_the_real_medvol_matches_the_published_package(tmp_path, fixture):
    from mlarray.cli import convert_from_mlarray, convert_to_mlarray

    source = _published_converter_inputs(tmp_path)[fixture]
    convert_to_mlarray(str(source), str(tmp_path / "ours.mla"))
    ours, theirs = MLArray.open(tmp_path / "ours.mla"), MLArray.open(DATA / fixture)
    np.testing.assert_array_equal(ours.to_numpy(), theirs.to_numpy())
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-9)
    assert ours.meta.spatial.axis_labels == theirs.meta.spatial.axis_labels
    assert ours.meta.spatial.coord_system == theirs.meta.spatial.coord_system

    # ... and back out through MedVol (which writes RAS+ voxel order): every voxel of the input is
    # found again at the same world position, with the same value (SimpleITK as the reference).
    out = tmp_path / ("back" + "".join(source.suffixes))
    convert_from_mlarray(str(tmp_path / "ours.mla"), str(out))
    import SimpleITK as sitk

    a, b = sitk.ReadImage(str(source)), sitk.ReadImage(str(out))
    assert a.GetSize() == b.GetSize()
    for idx in np.ndindex(*a.GetSize()):
        back = b.TransformPhysicalPointToContinuousIndex(a.TransformIndexToPhysicalPoint(idx))
        j = tuple(int(round(x)) for x in back)
        assert np.allclose(back, j, atol=1e-4), (idx, back)
        assert a.GetPixel(idx) == b.GetPixel(j), idx
