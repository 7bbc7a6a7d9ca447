"""DICOM series that are not a plain stack of evenly spaced slices, through ``mlarray convert``/``validate``:
Siemens MOSAIC (nibabel's test files, unpacked against nibabel's own ``nicom``) and uneven slice gaps
(pydicom's CT2 folder, steps measured with pydicom)."""

from __future__ import annotations

import gzip
import os
import shutil
import warnings

import nibabel
import numpy as np
import pydicom
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # nibabel's "highly experimental" notice
    from nibabel.nicom import dicomwrappers

from mlarray import MLArray, validate
from mlarray.cli import main

NIB = os.path.dirname(nibabel.__file__)
PYDICOM_DATA = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "dicomdirtests")


def _exists(p):
    assert os.path.exists(p), f"{p} is missing; pin a nibabel/pydicom that ships it"
    return p


def _nibabel_volume(path):
    """nibabel's unpacking of one MOSAIC file: (row, col, slice) data with rescale applied, LPS affine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = dicomwrappers.wrapper_from_file(path)
        assert w.is_mosaic
        return np.asarray(w.get_data()), np.asarray(w.affine)


def test_mosaic_series_is_unpacked_as_nibabel_does(tmp_path):
    folder = tmp_path / "dwi"
    folder.mkdir()
    for name in ("siemens_dwi_0", "siemens_dwi_1000"):  # one series: b=0 and b=1000, 48 slices tiled 7 x 7
        with gzip.open(_exists(os.path.join(NIB, "nicom", "tests", "data", name + ".dcm.gz"))) as src:
            (folder / (name + ".dcm")).write_bytes(src.read())
    assert main(["convert", "-q", str(folder), str(tmp_path / "dwi.mla")]) == 0
    img = MLArray.open(tmp_path / "dwi.mla")
    assert img.meta.spatial.axis_labels == ["temporal", "spatial", "spatial", "spatial"]
    assert img.meta.spatial.coord_system == "LPS"
    ours = img.to_numpy()
    aff = np.asarray(img.affine)  # (slice, row, col) -> LPS
    for t, name in enumerate(("siemens_dwi_0", "siemens_dwi_1000")):
        data, nib_aff = _nibabel_volume(str(folder / (name + ".dcm")))
        assert ours.shape[1:] == (data.shape[2], data.shape[0], data.shape[1]) == (48, 128, 128)
        np.testing.assert_array_equal(np.transpose(ours[t], (1, 2, 0)), data)
        rng = np.random.default_rng(t)
        idx = np.column_stack([rng.integers(0, n, 50) for n in data.shape])  # nibabel's (row, col, slice)
        ours_idx = idx[:, [2, 0, 1]]
        np.testing.assert_allclose(ours_idx @ aff[:3, :3].T + aff[:3, 3], idx @ nib_aff[:3, :3].T + nib_aff[:3, 3],
                                   atol=1e-4)


def test_cut_mosaic_is_refused_clearly(tmp_path, capsys):
    """nibabel's tests/data 0.dcm/1.dcm: MOSAIC headers on 256 x 256 pixels, which 7 x 7 tiles of 36 x 36 do
    not fill (nibabel cannot unpack them either); before, they became a 2 x 256 x 256 'volume' silently."""
    folder = tmp_path / "mosaic"
    folder.mkdir()
    for name in ("0.dcm", "1.dcm"):
        shutil.copy(_exists(os.path.join(NIB, "tests", "data", name)), folder / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            dicomwrappers.wrapper_from_file(str(folder / "0.dcm")).get_data()
    assert main(["convert", str(folder), str(tmp_path / "m.mla")]) == 1
    err = capsys.readouterr()
    text = err.out + err.err
    assert "MOSAIC" in text and "7x7" in text and "cannot be unpacked" in text
    assert not (tmp_path / "m.mla").exists()


def _positions_along_normal(folder):
    along = []
    for f in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(os.path.join(folder, f), stop_before_pixels=True)
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        normal = np.cross(iop[:3], iop[3:])
        along.append(float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)))
    return np.sort(along)


def test_uneven_slice_gaps_are_reported_by_validate(tmp_path, capsys):
    ct2 = _exists(os.path.join(PYDICOM_DATA, "77654033", "CT2"))
    steps = np.diff(_positions_along_normal(ct2))
    assert steps.min() < 0.1 * steps.max()  # the folder really is uneven (1.25 to 202.5 mm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["convert", "-q", ct2, str(tmp_path / "ct2.mla")]) == 0
    problems = [p for p in validate(tmp_path / "ct2.mla") if p.field == "source.uneven_slice_spacing"]
    assert len(problems) == 1 and problems[0].severity == "warning"
    assert f"{steps.min():.4g} to {steps.max():.4g} mm" in problems[0].message
    assert f"{steps.mean():.4g} mm" in problems[0].message
    capsys.readouterr()
    main(["validate", str(tmp_path / "ct2.mla")])
    out = capsys.readouterr().out
    assert "OK" not in out and "unevenly spaced" in out


def test_even_series_has_no_spacing_report(tmp_path):
    ct5 = _exists(os.path.join(PYDICOM_DATA, "98892001", "CT5N"))
    steps = np.diff(_positions_along_normal(ct5))
    assert np.ptp(steps) < 1e-3
    assert main(["convert", "-q", ct5, str(tmp_path / "ct5.mla")]) == 0
    assert [p for p in validate(tmp_path / "ct5.mla") if p.field.startswith("source.")] == []


def _pydicom_test_file(name):
    return _exists(os.path.join(os.path.dirname(PYDICOM_DATA), name))


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "examples_palette.dcm", "JPEG2000.dcm"])
def test_dicom_without_patient_geometry_claims_no_anatomical_frame(tmp_path, name):
    from mlarray.affines import anatomical_letters

    src = _pydicom_test_file(name)
    hdr = pydicom.dcmread(src, stop_before_pixels=True)
    assert "ImagePositionPatient" not in hdr and "ImageOrientationPatient" not in hdr
    assert main(["convert", "-q", src, str(tmp_path / "x.mla")]) == 0
    img = MLArray.open(tmp_path / "x.mla")
    assert img.meta.source["dicom_geometry"] == "implicit"
    assert img.meta.spatial.coord_system == "unknown"
    assert anatomical_letters(img.meta.spatial.coord_system) is None  # what viewers label the axes with
    # nothing else to report, but the pixel size where the file states none (test_dicom_pixel_spacing.py)
    no_size = "PixelSpacing" not in hdr and "ImagerPixelSpacing" not in hdr
    assert [p.field for p in validate(tmp_path / "x.mla")] == (["source.pixel_spacing_assumed"] if no_size else [])


def test_ultrasound_cine_frames_are_a_time_axis(tmp_path):
    import SimpleITK as sitk

    src = _pydicom_test_file("examples_ybr_color.dcm")
    hdr = pydicom.dcmread(src, stop_before_pixels=True)
    assert int(hdr.NumberOfFrames) == 30 and hdr.FrameIncrementPointer == 0x00181063  # frames step FrameTime
    assert main(["convert", "-q", src, str(tmp_path / "cine.mla")]) == 0
    img = MLArray.open(tmp_path / "cine.mla")
    sp = img.meta.spatial
    assert sp.axis_labels == ["temporal", "spatial", "spatial", "channel"]
    assert img.meta.extra["time_interval"] == pytest.approx(float(hdr.FrameTime) / 1000.0)
    assert sp.axis_units[0] == "s"
    itk = sitk.ReadImage(src)  # ITK stacks the frames as slices; the values per frame are the same
    np.testing.assert_array_equal(img.to_numpy(), sitk.GetArrayFromImage(itk))
    assert list(sp.spacing) == list(itk.GetSpacing()[1::-1])  # in-plane (row, col) spacing
    # the file states no pixel size (an ultrasound's sizes are per region of the image): 1 is assumed, and said
    assert "PixelSpacing" not in hdr and "ImagerPixelSpacing" not in hdr
    assert [p.field for p in validate(tmp_path / "cine.mla")] == ["source.pixel_spacing_assumed"]
