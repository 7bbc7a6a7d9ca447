"""NIfTI through ``mlarray convert``: every header field comes back (nibabel reads both files), a 4-D
image keeps its time step and units, and a 2-D image stays 2-D in NRRD (SimpleITK reads both)."""

from __future__ import annotations

import os
import warnings

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from mlarray import MLArray, validate
from mlarray.cli import main

sitk = pytest.importorskip("SimpleITK")


def _nib_file(name):
    p = os.path.join(data_path, name)
    assert os.path.exists(p), f"{name} is not in nibabel's test data; pin a nibabel that ships it"
    return p


def _convert(src, dst):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sform/qform disagreement warnings of the synthetic files
        assert main(["convert", "-q", str(src), str(dst)]) == 0
    return dst


def _round_trip(src, folder):
    name = os.path.basename(str(src))
    _convert(src, folder / "x.mla")
    return _convert(folder / "x.mla", folder / ("back_" + name))


def _fields_differing(a, b) -> dict:
    out = {}
    for key in a.keys():
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            out[key] = (a[key], b[key])
    return out


def _synthetic_3d(folder):
    """Every NIfTI-1 field away from nibabel's defaults, including Analyze's legacy ones."""
    aff = np.array([[0.0, -1.1, 0.2, 30.0], [0.9, 0.0, 0.0, -12.0], [0.0, 0.1, 2.4, 7.5], [0, 0, 0, 1]])
    img = nib.Nifti1Image(np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7), aff)
    h = img.header
    img.set_qform(np.diag([1.5, 1.5, 2.0, 1.0]), 1)
    img.set_sform(aff, 4)
    h["regular"] = b"r"
    h["data_type"] = b"dsr"
    h["db_name"] = b"legacy db"
    h["extents"] = 16384
    h["session_error"] = 3
    h["glmax"], h["glmin"] = 255, -7
    h["dim_info"] = 57
    h["pixdim"] = [h["pixdim"][0], *h["pixdim"][1:4], 0.0, 0.5, 0.0, 3.0]
    h["intent_code"], h["intent_p1"], h["intent_p2"], h["intent_p3"] = 3, 12.0, 0.25, -1.0  # t test, ttest
    h["intent_name"] = b"stat map"
    h["slice_code"], h["slice_start"], h["slice_end"], h["slice_duration"] = 2, 1, 5, 0.07
    h["toffset"] = 4.5
    h["cal_min"], h["cal_max"] = -3.0, 250.0
    h["descrip"] = b"every field set"
    h["aux_file"] = b"aux.lut"
    h.set_xyzt_units("micron", "msec")
    out = folder / "synthetic3d.nii"
    nib.save(img, out)
    return out


def _synthetic_4d_scaled(folder):
    """Scaled int16 in 4-D, time in milliseconds, a time offset and an extension."""
    data = (np.arange(4 * 3 * 2 * 5) - 30).astype(np.int16).reshape(4, 3, 2, 5)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    h = img.header
    h.set_slope_inter(0.5, -100.0)
    h.set_xyzt_units("mm", "msec")
    h["pixdim"] = [1.0, 2.0, 2.0, 3.0, 750.0, 0.0, 0.0, 0.0]
    h["toffset"] = 3.0
    h.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment"))
    out = folder / "synthetic4d.nii.gz"
    nib.save(img, out)
    return out


def _synthetic_nifti2(folder):
    img = nib.Nifti2Image(np.ones((3, 4, 5), np.uint8), np.diag([0.7, 0.8, 0.9, 1.0]))
    h = img.header
    h["pixdim"] = [1.0, 0.7, 0.8, 0.9, 0.0, 0.0, 2.5, 0.0]
    h["descrip"] = b"nifti-2"
    h["slice_duration"] = 0.125
    h["intent_code"] = 1002
    out = folder / "synthetic2.nii"
    nib.save(img, out)
    return out


def _two_d(folder):
    aff = np.diag([0.5, 0.7, 3.0, 1.0])
    aff[:3, 3] = [5.0, 6.0, 7.0]
    img = nib.Nifti1Image(np.arange(21 * 17, dtype=np.int16).reshape(21, 17), aff)
    img.header.set_xyzt_units("mm")
    out = folder / "slice2d.nii"
    nib.save(img, out)
    assert int(nib.load(out).header["dim"][0]) == 2
    return out


CASES = {"anatomical": lambda f: _nib_file("anatomical.nii"), "example4d": lambda f: _nib_file("example4d.nii.gz"),
         "synthetic 3-D, every field": _synthetic_3d, "synthetic 4-D scaled": _synthetic_4d_scaled,
         "synthetic NIfTI-2": _synthetic_nifti2, "2-D": _two_d}


@pytest.mark.parametrize("case", list(CASES))
def test_every_header_field_comes_back(tmp_path, case):
    src = CASES[case](tmp_path)
    back = _round_trip(src, tmp_path)
    a, b = nib.load(src), nib.load(back)
    assert type(a) is type(b)
    assert _fields_differing(a.header, b.header) == {}
    np.testing.assert_array_equal(np.asanyarray(b.dataobj), np.asanyarray(a.dataobj))
    assert [(e.get_code(), e.get_content()) for e in b.header.extensions] == \
        [(e.get_code(), e.get_content()) for e in a.header.extensions]


@pytest.mark.parametrize("case", ["example4d", "synthetic 4-D scaled"])
def test_4d_time_step_and_units(tmp_path, case):
    src = CASES[case](tmp_path)
    hdr = nib.load(src).header
    _convert(src, tmp_path / "t.mla")
    img = MLArray.open(tmp_path / "t.mla")
    sp = img.meta.spatial
    assert sp.axis_labels[3] == "temporal"
    space, time = hdr.get_xyzt_units()
    assert space == "mm"
    assert sp.axis_units == ["mm", "mm", "mm", {"sec": "s", "msec": "ms"}[time]]
    seconds = {"sec": 1.0, "msec": 1e-3}[time]  # extra["time_interval"] is in seconds
    assert img.meta.extra["time_interval"] == pytest.approx(float(hdr.get_zooms()[3]) * seconds)
    assert [p.message for p in validate(tmp_path / "t.mla") if p.field.startswith("spatial")] == []


def test_4d_time_step_reaches_nifti_from_elsewhere(tmp_path):
    """A 4-D image made in Python with a time step and units becomes a NIfTI with them (nibabel reads)."""
    from mlarray.meta import Meta

    meta = Meta(spatial={"spacing": [1.0, 1.0, 2.0], "coord_system": "RAS",
                         "axis_labels": ["spatial", "spatial", "spatial", "temporal"],
                         "axis_units": ["mm", "mm", "mm", "ms"]}, extra={"time_interval": 0.08})  # s
    MLArray(np.zeros((4, 4, 3, 6), np.int16), meta=meta).save(tmp_path / "t.mla")
    _convert(tmp_path / "t.mla", tmp_path / "t.nii.gz")
    hdr = nib.load(tmp_path / "t.nii.gz").header
    assert hdr.get_zooms() == pytest.approx((1.0, 1.0, 2.0, 80.0))
    assert hdr.get_xyzt_units() == ("mm", "msec")


def test_2d_nifti_stays_2d_in_nrrd(tmp_path):
    src = _two_d(tmp_path)
    _convert(src, tmp_path / "s.mla")
    _convert(tmp_path / "s.mla", tmp_path / "s.nrrd")
    ref, got = sitk.ReadImage(str(src)), sitk.ReadImage(str(tmp_path / "s.nrrd"))
    assert ref.GetDimension() == 2 and got.GetDimension() == 2
    assert got.GetSize() == ref.GetSize()
    np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(ref))


def test_4d_time_step_survives_a_trip_through_nrrd(tmp_path):
    """NIfTI -> .mla -> NRRD (time as 3D Slicer's sequence axis) -> .mla -> NIfTI: nibabel reads the same zooms."""
    src = _nib_file("example4d.nii.gz")
    _convert(src, tmp_path / "a.mla")
    _convert(tmp_path / "a.mla", tmp_path / "a.nrrd")
    _convert(tmp_path / "a.nrrd", tmp_path / "b.mla")
    assert MLArray.open(tmp_path / "b.mla").meta.extra["time_interval"] == pytest.approx(2000.0)
    _convert(tmp_path / "b.mla", tmp_path / "b.nii.gz")
    np.testing.assert_allclose(nib.load(tmp_path / "b.nii.gz").header.get_zooms(), nib.load(src).header.get_zooms(),
                               rtol=1e-6)
