"""DICOM series -> ImageRecord on pydicom's shipped test files, assembled into series."""

import copy
import json
import random

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from mlarray._errors import CorruptFileError  # noqa: E402
from mlarray.convert import ConversionError, read_any  # noqa: E402
from mlarray.convert.dicom import DicomSliceSpacingWarning, read_dicom_series  # noqa: E402

OBLIQUE_IOP = [0.0, 1.0, 0.0, 0.6, 0.0, -0.8]  # row cosines, column cosines


def _testfile(name):
    p = get_testdata_file(name, download=False)
    if p is None:
        pytest.fail(f"{name} is not in pydicom's bundled test data; pin a pydicom that ships it")
    return p


def make_series(folder, name="CT_small.dcm", steps=(0, 2.5, 5.0, 7.5), iop=None, series_uid=None, seed=0):
    """Copy one slice to len(steps) files with shifted IPP, written in shuffled order.

    Slice k has pixel values raw + 7*k so the sorted order can be checked.
    Returns (list of (ipp, raw pixel array) in spatial order, iop, pixel spacing).
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(_testfile(name))
    if iop is not None:
        base.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
    iop = np.array([float(v) for v in base.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    ipp0 = np.array([float(v) for v in base.ImagePositionPatient])
    raw0 = base.pixel_array.copy()
    series_uid = series_uid or generate_uid()
    order = list(range(len(steps)))
    random.Random(seed).shuffle(order)
    truth = {}
    for n, k in enumerate(order):
        ds = copy.deepcopy(base)
        ipp = ipp0 + normal * steps[k]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
        ds.InstanceNumber = n + 1  # deliberately not the spatial order
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        arr = (raw0 + 7 * k).astype(raw0.dtype)
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"img_{n:03d}.dcm")
        truth[k] = (np.array([float(f"{v:.6f}") for v in ipp]), arr)
    ps = [float(v) for v in base.PixelSpacing]
    return [truth[k] for k in range(len(steps))], iop, ps, base


@pytest.mark.parametrize("iop", [None, OBLIQUE_IOP])
def test_series_order_geometry_and_rescale(tmp_path, iop):
    truth, iop, ps, base = make_series(tmp_path / "s", iop=iop)
    rec = read_dicom_series(tmp_path / "s")
    assert rec.coord_system == "LPS" and rec.source_format == "dicom"
    assert rec.axis_labels == ["spatial", "spatial", "spatial"]
    assert rec.array.shape == (4,) + base.pixel_array.shape
    slope, inter = float(base.RescaleSlope), float(base.RescaleIntercept)
    assert rec.array.dtype.kind == "i"  # integer slope/intercept keeps integers
    for k, (ipp, raw) in enumerate(truth):
        np.testing.assert_array_equal(rec.array[k], raw.astype(np.int32) * slope + inter)
        np.testing.assert_allclose(rec.world([k, 0, 0]), ipp, atol=1e-4)
        # voxel (k, r, c) = IPP_k + col_cos * PixelSpacing[0] * r + row_cos * PixelSpacing[1] * c
        for r, c in [(0, 5), (7, 0), (30, 100), (127, 127)]:
            expect = ipp + iop[3:] * ps[0] * r + iop[:3] * ps[1] * c
            np.testing.assert_allclose(rec.world([k, r, c]), expect, atol=1e-4)
    np.testing.assert_allclose(rec.spacing, [2.5, ps[0], ps[1]], atol=1e-5)
    assert rec.intensity == {"rescale_slope": slope, "rescale_intercept": inter, "applied": True,
                             "stored_dtype": "int16"}
    text = json.dumps(rec.source, allow_nan=False)
    assert "7FE00010" not in text  # no PixelData
    assert rec.source["dicom"]["00200037"]["vr"] == "DS"
    np.testing.assert_allclose(rec.source["slice_positions"], [t[0] for t in truth], atol=1e-5)


def test_single_file_and_read_any(tmp_path):
    p = _testfile("MR_small.dcm")
    rec = read_any(p)
    ds = pydicom.dcmread(p)
    assert rec.array.shape == (1, ds.Rows, ds.Columns)
    np.testing.assert_array_equal(rec.array[0], ds.pixel_array)  # no rescale in MR_small
    assert rec.intensity["applied"] is False
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(rec.world([0, 3, 4]),
                               ipp + 3 * float(ds.PixelSpacing[0]) * np.array([0, 1, 0])
                               + 4 * float(ds.PixelSpacing[1]) * np.array([1, 0, 0]), atol=1e-5)


def test_fractional_rescale_gives_float32(tmp_path):
    truth, *_ = make_series(tmp_path / "s", name="MR_small.dcm", steps=(0, 1, 2))
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-3.25"
        ds.save_as(f)
    rec = read_dicom_series(sorted((tmp_path / "s").iterdir()))  # list of files
    assert rec.array.dtype == np.float32
    np.testing.assert_allclose(rec.array[2], truth[2][1] * 0.5 - 3.25)


def test_several_series(tmp_path):
    make_series(tmp_path / "d" / "a", steps=(0, 1, 2), series_uid="1.2.3.4")
    make_series(tmp_path / "d" / "b", name="MR_small.dcm", steps=(0, 1), series_uid="1.2.3.5")
    with pytest.warns(UserWarning, match="1.2.3.5"):
        rec = read_dicom_series(tmp_path / "d")
    assert rec.array.shape[0] == 3 and rec.source["series_uid"] == "1.2.3.4"
    assert rec.source["other_series"][0]["SeriesInstanceUID"] == "1.2.3.5"
    rec = read_dicom_series(tmp_path / "d", series_uid="1.2.3.5")
    assert rec.array.shape[0] == 2
    with pytest.raises(ConversionError, match=r"1\.2\.3\.9.*1\.2\.3\.4"):
        read_dicom_series(tmp_path / "d", series_uid="1.2.3.9")


def test_uneven_spacing_warns_and_records(tmp_path):
    make_series(tmp_path / "s", steps=(0, 2, 4, 9))
    with pytest.warns(DicomSliceSpacingWarning, match="uneven"):
        rec = read_dicom_series(tmp_path / "s")
    assert rec.source["uneven_slice_spacing"] is True
    assert rec.source["slice_steps"] == pytest.approx([2, 2, 5], abs=1e-4)


def test_duplicate_positions_rejected(tmp_path):
    make_series(tmp_path / "s", steps=(0, 0, 1))
    with pytest.raises(ConversionError, match="share the same position"):
        read_dicom_series(tmp_path / "s")


def _multiframe(path, positions_order):
    """An Enhanced-MR-like multi-frame file built from MR_small with per-frame positions."""
    base = pydicom.dcmread(_testfile("MR_small.dcm"))
    n = len(positions_order)
    raw0 = base.pixel_array.copy()
    ds = copy.deepcopy(base)
    frames = np.stack([(raw0 + 11 * k).astype(raw0.dtype) for k in positions_order])
    ds.NumberOfFrames = n
    ds.PixelData = frames.tobytes()
    iop = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]  # sagittal
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = iop
    pm = Dataset()
    pm.PixelSpacing = [0.5, 0.75]
    pm.SliceThickness = 3
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept = 2, 1
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PixelValueTransformationSequence = Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    normal = np.cross(iop[:3], iop[3:])
    for k in positions_order:
        item = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = list(np.array([10.0, 20.0, 30.0]) + normal * 3.0 * k)
        item.PlanePositionSequence = Sequence([pp])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "RescaleSlope",
               "RescaleIntercept"):
        if kw in ds:
            delattr(ds, kw)
    ds.save_as(path)
    return raw0, normal


def test_multiframe_enhanced(tmp_path):
    order = [2, 0, 3, 1]
    raw, normal = _multiframe(tmp_path / "mf.dcm", order)
    rec = read_any(tmp_path / "mf.dcm")
    assert rec.array.shape == (4,) + raw.shape
    for k in range(4):
        np.testing.assert_array_equal(rec.array[k], (raw.astype(np.int32) + 11 * k) * 2 + 1)
        np.testing.assert_allclose(rec.world([k, 2, 3]),
                                   np.array([10.0, 20, 30]) + normal * 3.0 * k
                                   + np.array([0, 0, -1.0]) * 0.5 * 2 + np.array([0, 1.0, 0]) * 0.75 * 3,
                                   atol=1e-6)
    assert rec.spacing == pytest.approx([3.0, 0.5, 0.75])
    assert rec.source["frame_order"] == [1, 3, 0, 2]
    json.dumps(rec.source, allow_nan=False)


def test_dicom_to_nifti_keeps_world(tmp_path):
    import nibabel as nib

    from mlarray.convert import write_any

    truth, iop, ps, _ = make_series(tmp_path / "s", iop=OBLIQUE_IOP, steps=(0, 3, 6))
    rec = read_dicom_series(tmp_path / "s")
    write_any(rec, tmp_path / "o.nii.gz")
    img = nib.load(tmp_path / "o.nii.gz")
    # the NIfTI holds ITK's index order (col, row, slice): the record's (slice, row, col) reversed
    for kij in [(0, 0, 0), (2, 10, 20), (1, 127, 3)]:
        lps = rec.world(kij)
        ras = nib.affines.apply_affine(img.affine, kij[::-1])
        np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-4)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), rec.array.transpose(2, 1, 0))


def test_bad_inputs(tmp_path):
    with pytest.raises(ConversionError, match="nothere"):
        read_dicom_series(tmp_path / "nothere")
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(CorruptFileError, match="bad.dcm"):
        read_any(bad)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    with pytest.raises(ConversionError, match="no DICOM image files"):
        read_any(tmp_path / "empty")
