"""ITK formats through SimpleITK: ITK's own reading is the oracle for values and world geometry."""

from __future__ import annotations

import math
import os

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from mlarray import Meta, MLArray
from mlarray._errors import CorruptFileError
from mlarray.cli import main
from mlarray.convert import detect_format, read_any, write_any
from mlarray.convert.formats.itk import read_itk, write_itk


def _cli(*args):
    """``mlarray convert -q ARGS`` in this process (the CLI path users take, without a start-up per call)."""
    from mlarray.cli import main

    assert main(["convert", "-q", *map(str, args)]) == 0
INDICES = [(0, 0, 0), (1, 2, 3), (3, 4, 5), (2, 0, 4)]


def _oblique_image(dtype=np.int16, shape=(4, 5, 6)):
    a = (np.arange(int(np.prod(shape))) * 7 - 50).reshape(shape).astype(dtype)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing((0.5, 0.7, 1.3))
    img.SetOrigin((10.0, -20.0, 30.5))
    c, s = math.cos(0.3), math.sin(0.3)
    img.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))
    return a, img


def _itk_world(img, index):
    """ITK's physical point of a numpy-order index (ITK indexes fastest axis first)."""
    return np.asarray(img.TransformContinuousIndexToPhysicalPoint([float(i) for i in reversed(index)]))


def _assert_same_as_itk(record, path, indices=INDICES):
    ref = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(record.array, sitk.GetArrayFromImage(ref))
    assert record.array.dtype == sitk.GetArrayFromImage(ref).dtype
    for idx in indices:
        np.testing.assert_allclose(record.world(idx), _itk_world(ref, idx), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["x.mha", "x.mhd", "x.gipl", "x.gipl.gz", "x.vtk", "x.mnc", "x.mrc", "x.hdr",
                                  "x.nrrd"])
def test_itk_formats_read_exactly_as_itk_reads_them(tmp_path, name):
    _, img = _oblique_image()
    img.SetMetaData("PatientName", "Doe^Jane")
    path = tmp_path / name
    sitk.WriteImage(img, str(path))
    record = read_itk(path)
    _assert_same_as_itk(record, path)
    assert record.coord_system == "LPS"
    assert record.source["image_io"] == sitk.ImageFileReader().GetImageIOFromFileName(str(path))
    assert record.source["itk_geometry"]["size"] == [6, 5, 4]
    if name.startswith("x.mh"):
        assert record.source_format == "metaimage"
        assert record.source["metadata"]["PatientName"] == "Doe^Jane"  # a MetaImage custom field
    if name == "x.hdr":
        assert record.source_format == "nifti1-pair"
        assert record.source["metadata"]["qform_code_name"] == "NIFTI_XFORM_SCANNER_ANAT"


def test_dispatch_sends_unclaimed_extensions_to_itk(tmp_path):
    _, img = _oblique_image()
    for name in ("a.mha", "b.gipl.gz", "c.vtk", "d.mnc"):
        sitk.WriteImage(img, str(tmp_path / name))
        assert detect_format(tmp_path / name) == "itk"
        _assert_same_as_itk(read_any(tmp_path / name), tmp_path / name)
    assert detect_format(tmp_path / "a.nrrd") == "nrrd"  # dedicated converters keep their extensions


def test_analyze_written_by_nibabel(tmp_path):
    """Analyze 7.5 (no orientation in the header): ITK's reading is what we keep; nibabel disagrees.

    nibabel assumes radiological storage (its Analyze affine flips x); ITK's NiftiImageIO reads
    Analyze with the orientation ITK has always used. We follow ITK, the reader the issue names.
    """
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    img = nib.AnalyzeImage(data, np.diag([2.0, 3.0, 4.0, 1.0]))
    nib.save(img, tmp_path / "a.hdr")
    assert detect_format(tmp_path / "a.hdr") == "itk"
    record = read_any(tmp_path / "a.hdr")
    assert record.source_format == "analyze"
    _assert_same_as_itk(record, tmp_path / "a.hdr")
    assert sorted(record.spacing) == [2.0, 3.0, 4.0]
    # the disagreement, pinned: nibabel flips x and centres the origin, ITK does neither
    back = nib.load(tmp_path / "a.hdr")
    lps = record.world((3, 2, 1))  # ITK's numpy order reverses nibabel's (1, 2, 3)
    ras_nib = (back.affine @ [1, 2, 3, 1])[:3]
    assert not np.allclose([-lps[0], -lps[1], lps[2]], ras_nib, atol=1.0)


def test_mla_to_metaimage_and_back_is_exact(tmp_path):
    a, img = _oblique_image(np.float32)
    img.SetMetaData("StudyComment", "phantom run 3")
    sitk.WriteImage(img, str(tmp_path / "in.mha"))
    _cli(str(tmp_path / "in.mha"),
                    str(tmp_path / "in.mla"))
    ml = MLArray.open(tmp_path / "in.mla")
    assert ml.meta.source_format == "metaimage"
    assert ml.meta.source["metadata"]["StudyComment"] == "phantom run 3"
    for ext in (".mha", ".mhd"):
        out = tmp_path / f"out{ext}"
        _cli(str(tmp_path / "in.mla"), str(out))
        back = sitk.ReadImage(str(out))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(back), a)
        # the .mla keeps geometry to ~1e-16 relative (its direction is re-orthonormalised on entry)
        np.testing.assert_allclose(back.GetSpacing(), img.GetSpacing(), rtol=1e-12)
        np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), rtol=1e-12)
        np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-12)
        assert back.GetMetaData("StudyComment") == "phantom run 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mha", "in.mla", "out.mha", "out.mhd", "out.zraw"]


def test_ras_mla_to_mha_lands_at_the_same_world_points(tmp_path):
    """NIfTI (RAS) -> .mla -> .mha: ITK's LPS points are the RAS points with x and y negated."""
    aff = np.array([[-0.9, 0.1, 0.0, 12.0], [0.1, 0.9, 0.0, -7.0], [0.0, 0.0, 2.5, 30.0], [0, 0, 0, 1]])
    aff[:3, :3] = aff[:3, :3] / np.linalg.norm(aff[:3, :3], axis=0) * [0.9, 0.9, 2.5]
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    nib.save(nib.Nifti1Image(data, aff), tmp_path / "ct.nii.gz")
    rec = read_any(tmp_path / "ct.nii.gz")
    write_any(rec, tmp_path / "ct.mha")
    ref = sitk.ReadImage(str(tmp_path / "ct.mha"))
    # the voxel layout ITK itself gives a NIfTI: NIfTI's i is ITK's x (numpy order (k, j, i))
    itk_own = sitk.ReadImage(str(tmp_path / "ct.nii.gz"))
    assert ref.GetSize() == itk_own.GetSize() == (5, 6, 7)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ref), sitk.GetArrayFromImage(itk_own))
    np.testing.assert_allclose(ref.GetDirection(), itk_own.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(ref.GetOrigin(), itk_own.GetOrigin(), atol=1e-6)
    for idx in INDICES:
        ras = aff @ np.r_[idx, 1]
        lps = _itk_world(ref, tuple(reversed(idx)))
        np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-6)


def test_time_series_and_vector_pixels_round_trip(tmp_path):
    a = np.arange(3 * 4 * 5 * 6 * 2, dtype=np.float32).reshape(3, 4, 5, 6, 2)
    img = sitk.GetImageFromArray(a, isVector=True)
    img.SetSpacing((0.5, 0.6, 0.7, 2.0))  # 2 s between frames
    img.SetOrigin((1.0, 2.0, 3.0, 10.0))
    sitk.WriteImage(img, str(tmp_path / "t.mha"))
    rec = read_any(tmp_path / "t.mha")
    assert rec.axis_labels == ["temporal", "spatial", "spatial", "spatial", "channel"]
    assert rec.spacing == [0.7, 0.6, 0.5] and rec.origin == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(rec.array, a)
    write_any(rec, tmp_path / "back.mha")
    back = sitk.ReadImage(str(tmp_path / "back.mha"))
    assert back.GetSize() == img.GetSize() and back.GetNumberOfComponentsPerPixel() == 2
    assert back.GetSpacing() == img.GetSpacing() and back.GetOrigin() == img.GetOrigin()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), a)


def test_channel_first_mla_becomes_vector_pixels(tmp_path):
    a = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    ml = MLArray(a, meta=Meta(spatial={"spacing": [1.5, 1.0, 0.5], "coord_system": "LPS",
                                       "axis_labels": ["channel", "spatial", "spatial", "spatial"]}))
    ml.save(tmp_path / "c.mla")
    _cli(str(tmp_path / "c.mla"),
                    str(tmp_path / "c.mha"))
    back = sitk.ReadImage(str(tmp_path / "c.mha"))
    assert back.GetNumberOfComponentsPerPixel() == 2
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), np.moveaxis(a, 0, -1))
    assert back.GetSpacing() == (0.5, 1.0, 1.5)


def test_overwriting_mhd_replaces_header_and_data(tmp_path):
    a, img = _oblique_image()
    rec = read_itk_from(img, tmp_path)
    write_itk(rec, tmp_path / "o.mhd")
    first = sitk.ReadImage(str(tmp_path / "o.mhd"))
    # record -> MetaImage moves and negates numbers only: geometry is bit-exact
    assert (first.GetSpacing(), first.GetOrigin(), first.GetDirection()) == \
        (img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    rec.array = rec.array + 1
    write_itk(rec, tmp_path / "o.mhd", compress=False)
    header = (tmp_path / "o.mhd").read_text(encoding="utf-8")
    assert "ElementDataFile = o.raw" in header
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "o.mhd"))), a + 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left behind


def read_itk_from(img, folder):
    sitk.WriteImage(img, str(folder / "src.mha"))
    return read_itk(folder / "src.mha")


def test_damaged_headers_give_clear_errors_fast(tmp_path):
    bad = tmp_path / "huge.mha"
    bad.write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 100000 100000 100000\nElementType = MET_FLOAT\n"
                    b"ElementDataFile = LOCAL\n" + b"\0" * 64)
    with pytest.raises(CorruptFileError, match=r"declares .* GiB of voxels, more than .*max_read_bytes"):
        read_any(bad)
    _, img = _oblique_image()
    sitk.WriteImage(img, str(tmp_path / "ok.mha"))
    raw = (tmp_path / "ok.mha").read_bytes()
    (tmp_path / "short.mha").write_bytes(raw[: len(raw) - 40])
    with pytest.raises(CorruptFileError, match="short.mha"):
        read_any(tmp_path / "short.mha")
    (tmp_path / "noise.xyz").write_bytes(os.urandom(256))
    with pytest.raises(Exception, match="list-formats"):
        read_any(tmp_path / "noise.xyz")


def test_images_without_an_anatomical_frame_stay_upright(tmp_path):
    """A PNG or a TIFF stack has no world frame: world axes follow the array axes both ways."""
    rgb = np.random.default_rng(2).integers(0, 255, (20, 30, 3)).astype(np.uint8)
    png = sitk.GetImageFromArray(rgb, isVector=True)
    png.SetSpacing((0.5, 0.25))
    sitk.WriteImage(png, str(tmp_path / "photo.png"))
    rec = read_any(tmp_path / "photo.png")
    assert rec.axis_labels == ["spatial_y", "spatial_x", "channel"] and rec.coord_system == "unknown"  # as TIFF
    assert rec.direction == [[1.0, 0.0], [0.0, 1.0]] and rec.spacing == [0.25, 0.5]  # rows, then columns
    write_any(rec, tmp_path / "photo.mha")
    back = sitk.ReadImage(str(tmp_path / "photo.mha"))
    assert back.GetDirection() == (1.0, 0.0, 0.0, 1.0) and back.GetSpacing() == (0.5, 0.25)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), rgb)

    import tifffile

    stack = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "stack.ome.tif", stack, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0, "PhysicalSizeY": 0.5, "PhysicalSizeX": 0.25})
    write_any(read_any(tmp_path / "stack.ome.tif"), tmp_path / "stack.mha")
    back = sitk.ReadImage(str(tmp_path / "stack.mha"))
    assert back.GetDirection() == tuple(np.eye(3).ravel()) and back.GetSpacing() == (0.25, 0.5, 2.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), stack)


@pytest.mark.parametrize("src", ["a.hdr", "a.mha"])
def test_files_read_by_itk_go_to_metaimage_and_nifti_as_itk_writes_them(tmp_path, src):
    """A file read through ITK is in GetArrayFromImage's reversed order (an Analyze file too, although its format
    id names a nibabel-indexed family): MetaImage and NIfTI exports must still give ITK's own conversion of it."""
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    if src.endswith(".hdr"):
        nib.save(nib.AnalyzeImage(data, np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / src)
    else:
        img = sitk.GetImageFromArray(data.transpose(2, 1, 0).copy())
        img.SetSpacing((2.0, 3.0, 4.0))
        img.SetOrigin((1.0, -2.0, 3.0))
        sitk.WriteImage(img, str(tmp_path / src))
    assert main(["convert", "-q", str(tmp_path / src), str(tmp_path / "a.mla")]) == 0
    ref = sitk.ReadImage(str(tmp_path / src))
    for out in ("b.mha", "b.nii.gz"):
        assert main(["convert", "-q", str(tmp_path / "a.mla"), str(tmp_path / out)]) == 0
        got = sitk.ReadImage(str(tmp_path / out))
        assert got.GetSize() == ref.GetSize() == (3, 4, 5)
        np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), rtol=1e-6)
        np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-4)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(ref))
