"""NIfTI <-> ImageRecord on nibabel's shipped test images."""

import json
import os

import nibabel as nib
import numpy as np
import pytest
from dicom_voxel_order import SOURCES, dicom_mla, sitk_write, world_columns  # noqa: E402
from nibabel.affines import apply_affine  # noqa: E402
from nibabel.testing import data_path  # noqa: E402

from mlarray import MLArray  # noqa: E402
from mlarray._errors import CorruptFileError  # noqa: E402
from mlarray.cli import main  # noqa: E402
from mlarray.convert import ConversionError, read_any, write_any  # noqa: E402
from mlarray.convert.nifti import read_nifti, write_nifti  # noqa: E402

FILES = ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "reoriented_anat_moved.nii",
         "functional.nii", "standard.nii.gz"]
FIELDS = ["descrip", "qform_code", "sform_code", "intent_code", "intent_name", "intent_p1",
          "xyzt_units", "cal_min", "cal_max", "slice_code", "dim_info"]


def _path(name):
    p = os.path.join(data_path, name)
    assert os.path.exists(p), f"{name} is not in nibabel's test data; pin a nibabel that ships it"
    return p


def _ijk(shape):
    return np.array([[0, 0, 0], [shape[0] - 1, 0, 0], [0, shape[1] - 1, 0], [0, 0, shape[2] - 1],
                     [shape[0] // 2, shape[1] // 3, shape[2] - 1], [1, 2, 3]], float)


@pytest.mark.parametrize("name", FILES)
def test_world_coordinates_match_nibabel(name):
    p = _path(name)
    img = nib.load(p)
    rec = read_nifti(p)
    assert rec.coord_system == "RAS"
    assert rec.source_format == ("nifti2" if isinstance(img, nib.Nifti2Image) else "nifti1")
    assert rec.axis_labels[:3] == ["spatial"] * 3
    assert tuple(rec.array.shape) == img.shape
    np.testing.assert_allclose(rec.affine(), img.affine, atol=1e-6)
    for ijk in _ijk(img.shape):
        np.testing.assert_allclose(rec.world(ijk), apply_affine(img.affine, ijk), atol=1e-5)
    json.dumps(rec.source, allow_nan=False)  # plain JSON, no NaN
    assert isinstance(rec.source["descrip"], str)


@pytest.mark.parametrize("name", FILES)
def test_nifti_round_trip(name, tmp_path):
    p = _path(name)
    img = nib.load(p)
    rec = read_nifti(p)
    out = tmp_path / ("out.nii.gz" if name.endswith(".gz") else "out.nii")
    write_nifti(rec, out)
    back = nib.load(out)
    assert type(back) is type(img)
    np.testing.assert_allclose(back.affine, img.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), np.asanyarray(img.dataobj))
    for f in FIELDS:
        np.testing.assert_array_equal(back.header[f], img.header[f], err_msg=f)
    np.testing.assert_allclose(back.header.get_zooms(), img.header.get_zooms(), rtol=1e-6)
    assert len(back.header.extensions) == len(img.header.extensions)


def test_4d_axis_labels_and_units():
    rec = read_nifti(_path("example4d.nii.gz"))
    assert rec.axis_labels == ["spatial", "spatial", "spatial", "temporal"]
    assert rec.axis_units == ["mm", "mm", "mm", "s"]  # one per axis: the header says sec
    assert rec.extra == {"time_interval": 2000.0}
    assert rec.source["time_unit"] == "sec"
    assert [e["code"] for e in rec.source["extensions"]] == [6, 6]


def test_scaling_applied_for_images_but_not_for_segmentations(tmp_path):
    raw = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    img = nib.Nifti1Image(raw, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(0.5, 10.0)
    img.header["descrip"] = "scaled"
    p = tmp_path / "scaled.nii"
    img.to_filename(p)
    rec = read_nifti(p)
    np.testing.assert_allclose(rec.array, raw * 0.5 + 10.0)
    assert rec.intensity["applied"] is True and rec.intensity["scl_slope"] == 0.5
    seg = read_nifti(p, is_seg=True)
    assert seg.is_seg is True and seg.array.dtype == np.int16
    np.testing.assert_array_equal(seg.array, raw)
    assert seg.intensity["applied"] is False
    out = tmp_path / "seg.nii.gz"
    write_nifti(seg, out)
    back = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj.get_unscaled()), raw)
    assert (float(back.dataobj.slope), float(back.dataobj.inter)) == (0.5, 10.0)
    np.testing.assert_allclose(np.asanyarray(back.dataobj), raw * 0.5 + 10.0)


@pytest.mark.parametrize("stored", [np.int16, np.uint16])
def test_integer_scaling_keeps_hounsfield_units_as_int16(tmp_path, stored):
    """CT stored with slope 1 / intercept -1024: HU as int16 in the .mla, the original bytes on export."""
    raw = np.random.default_rng(0).integers(0, 4096, (6, 7, 8)).astype(stored)
    img = nib.Nifti1Image(raw, np.diag([0.8, 0.8, 2.5, 1.0]))
    img.header.set_slope_inter(1.0, -1024.0)
    p = tmp_path / "ct.nii.gz"
    img.to_filename(p)
    out = tmp_path / "ct.mla"
    from mlarray import MLArray
    from mlarray.cli import main as cli_main
    assert cli_main(["convert", str(p), str(out)]) == 0
    hu = MLArray.open(out)
    assert hu.dtype == np.int16  # not float32/float64: half or a quarter of the size
    np.testing.assert_array_equal(hu.to_numpy(), raw.astype(np.int32) - 1024)
    back_path = tmp_path / "back.nii.gz"
    assert cli_main(["convert", str(out), str(back_path)]) == 0
    back = nib.load(back_path)
    assert back.get_data_dtype() == np.dtype(stored)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj.get_unscaled()), raw)
    assert (float(back.dataobj.slope), float(back.dataobj.inter)) == (1.0, -1024.0)


def test_label_intent_marks_segmentation(tmp_path):
    img = nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), np.eye(4))
    img.header.set_intent("label")
    p = tmp_path / "lab.nii.gz"
    img.to_filename(p)
    assert read_nifti(p).is_seg is True


def test_lps_record_is_converted_to_ras(tmp_path):
    rec = read_nifti(_path("example4d.nii.gz"))
    aff = rec.affine()
    flip = np.diag([-1.0, -1.0, 1.0])
    rec.origin = list(flip @ np.asarray(rec.origin))
    rec.direction = (flip @ np.asarray(rec.direction)).tolist()
    rec.coord_system = "LPS"
    out = tmp_path / "lps.nii.gz"
    write_nifti(rec, out)
    np.testing.assert_allclose(nib.load(out).affine, aff, atol=1e-5)


def test_2d_nifti_keeps_3d_geometry(tmp_path):
    aff = np.array([[0, -2.0, 0, 5], [1.5, 0, 0, 6], [0, 0, 3.0, 7], [0, 0, 0, 1]])
    p = tmp_path / "flat.nii"
    nib.Nifti1Image(np.ones((4, 5), np.float32), aff).to_filename(p)
    rec = read_nifti(p)
    assert rec.array.shape == (4, 5, 1)
    np.testing.assert_allclose(rec.affine(), nib.load(p).affine)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ConversionError, match="missing.nii"):
        read_any(tmp_path / "missing.nii")
    bad = tmp_path / "bad.nii"
    bad.write_bytes(b"\x00" * 10 + b"not a nifti header" * 30)
    with pytest.raises(CorruptFileError, match="bad.nii"):
        read_any(bad)


def test_read_any_and_write_any_dispatch(tmp_path):
    rec = read_any(_path("anatomical.nii"))
    write_any(rec, tmp_path / "x.nii.gz")
    assert nib.load(tmp_path / "x.nii.gz").shape == rec.array.shape


@pytest.mark.parametrize("name", list(SOURCES))
def test_dicom_sourced_mla_exports_the_nifti_simpleitk_writes(name, tmp_path):
    """ITK, SimpleITK and dcm2niix store a DICOM as (col, row, slice); a model trained on their NIfTIs must see
    ours the same way (the .mla keeps DICOM's (slice, row, col))."""
    mla = dicom_mla(name, tmp_path)
    assert main(["convert", "-q", str(mla), str(tmp_path / "ours.nii.gz")]) == 0
    sitk_write(SOURCES[name], tmp_path / "itk.nii.gz")
    ours, ref = nib.load(tmp_path / "ours.nii.gz"), nib.load(tmp_path / "itk.nii.gz")
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.asanyarray(ours.dataobj), np.asanyarray(ref.dataobj))
    np.testing.assert_allclose(world_columns(ours.affine, ours.shape), world_columns(ref.affine, ref.shape),
                               atol=1e-4)
    if name != "MR_small":  # one MR slice: ITK's step is 1 mm, ours SliceThickness (0.8 mm); it places nothing
        np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-4)
    assert nib.aff2axcodes(ours.affine) == nib.aff2axcodes(ref.affine)


def test_dicom_sourced_mla_stays_slice_row_col_and_nifti_sourced_keeps_its_order(tmp_path):
    """The rule is the exports': the .mla of a DICOM keeps (slice, row, col); a NIfTI's .mla keeps (i, j, k) and
    comes back as the same NIfTI."""
    mla = MLArray.open(dicom_mla("CT2 series", tmp_path))
    assert mla.shape == (4, 16, 16)
    src = _path("anatomical.nii")
    assert main(["convert", "-q", src, str(tmp_path / "anat.mla")]) == 0
    assert main(["convert", "-q", str(tmp_path / "anat.mla"), str(tmp_path / "back.nii")]) == 0
    a, b = nib.load(src), nib.load(tmp_path / "back.nii")
    assert a.shape == b.shape == MLArray.open(tmp_path / "anat.mla").shape
    np.testing.assert_array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
    np.testing.assert_array_equal(a.affine, b.affine)


def test_reoriented_dicom_keeps_the_axes_it_was_given(tmp_path):
    """``--orient RAS+`` gives the .mla (R, A, S) axes; the NIfTI keeps them rather than reversing them."""
    src = SOURCES["CT2 series"]
    assert main(["convert", "-q", "--orient", "RAS+", str(src), str(tmp_path / "ras.mla")]) == 0
    assert main(["convert", "-q", str(tmp_path / "ras.mla"), str(tmp_path / "ras.nii.gz")]) == 0
    img = nib.load(tmp_path / "ras.nii.gz")
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), MLArray.open(tmp_path / "ras.mla").to_numpy())
