"""RT Dose through ``mlarray convert`` and ``mlarray.convert.read_any``: the stored values are the dose.

A radiation-oncology user found ``mlarray convert dose.dcm dose.mla`` kept the stored integers
(1,254,000 where the dose is 1.254). The dose is the stored value times DoseGridScaling (3004,000E),
in DoseUnits (3004,0002). pydicom's ``apply_modality_lut`` and SimpleITK do not apply it, so the
expected values here are pydicom's ``pixel_array`` times the file's own DoseGridScaling.
The files are pydicom's RT Dose test files (DoseUnits RELATIVE); the Gy case is the same file with
DoseUnits set to GY.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from mlarray import MLArray
from mlarray.cli import main
from mlarray.convert import read_any


def _dose_file(name: str) -> str:
    path = get_testdata_file(name, download=False)
    assert path, f"{name} is missing; pin a pydicom that ships it"
    return str(path)


def _edited(tmp_path, name: str, **attrs) -> str:
    ds = pydicom.dcmread(_dose_file(name))
    for key, value in attrs.items():
        setattr(ds, key, value)
    out = tmp_path / f"edited_{name}"
    ds.save_as(out)
    return str(out)


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_rle.dcm", "rtdose_1frame.dcm"])
def test_rt_dose_values_are_the_dose(tmp_path, capsys, name):
    src = _dose_file(name)
    ds = pydicom.dcmread(src)
    scaling = float(ds.DoseGridScaling)
    assert scaling != 1.0 and ds.DoseUnits == "RELATIVE"
    out = tmp_path / "dose.mla"
    assert main(["convert", "-q", src, str(out)]) == 0
    img = MLArray.open(out)
    dose = img.to_numpy()
    expected = ds.pixel_array.astype(np.float64) * scaling  # frames already in ascending GridFrameOffsetVector
    assert dose.dtype == np.float32
    np.testing.assert_allclose(dose.reshape(expected.shape), expected, rtol=1e-6, atol=0)
    assert float(dose.max()) == pytest.approx(1.254, rel=1e-6)  # was 1254000
    intensity = img.meta.extra["intensity"]
    assert intensity["dose_grid_scaling"] == scaling and intensity["applied"] is True
    # the header keeps DoseGridScaling, and says beside it that the values have it applied
    assert img.meta.source["dicom"]["3004000E"]["Value"] == [scaling]
    assert "value_unit" not in img.meta.extra  # RELATIVE: a fraction of an implicit reference dose, no unit


def test_rt_dose_in_gray_is_stored_in_gy(tmp_path):
    src = _edited(tmp_path, "rtdose.dcm", DoseUnits="GY")
    ds = pydicom.dcmread(src)
    out = tmp_path / "dose.mla"
    assert main(["convert", "-q", src, str(out)]) == 0
    img = MLArray.open(out)
    assert img.meta.extra["value_unit"] == "Gy"
    np.testing.assert_allclose(img.to_numpy(), ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
    record = read_any(src)  # the documented Python API reads the same dose
    assert record.extra["value_unit"] == "Gy"
    np.testing.assert_array_equal(np.asarray(record.array), img.to_numpy())


def test_rt_dose_with_scaling_one_keeps_exact_integers(tmp_path):
    src = _edited(tmp_path, "rtdose.dcm", DoseGridScaling=1)
    out = tmp_path / "dose.mla"
    assert main(["convert", "-q", src, str(out)]) == 0
    data = MLArray.open(out).to_numpy()
    assert data.dtype == np.uint32
    np.testing.assert_array_equal(data, pydicom.dcmread(src).pixel_array)


def test_simpleitk_presents_unscaled_integers():
    """Why the ITK agreement table multiplies ITK's reading of an RT Dose (itk_corpus._dose_scaled)."""
    src = _dose_file("rtdose.dcm")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(src)), pydicom.dcmread(src).pixel_array)


def test_rt_dose_exported_to_dicom_reads_back_as_the_dose(tmp_path):
    """mlarray writes single-frame series, not RT Dose objects: the dose goes out as a Secondary Capture
    whose RescaleSlope is the DoseGridScaling, holding the original integers, so a reader that applies the
    rescale (ITK, pydicom's apply_modality_lut) gets the dose back, once."""
    src = _dose_file("rtdose.dcm")
    ds = pydicom.dcmread(src)
    mla, back = tmp_path / "dose.mla", tmp_path / "back"
    assert main(["convert", "-q", src, str(mla)]) == 0
    assert main(["convert", "-q", str(mla), str(back) + "/"]) == 0
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(back)))
    np.testing.assert_allclose(sitk.GetArrayFromImage(reader.Execute()),
                               ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-12)
    slices = sorted(back.iterdir())
    first = pydicom.dcmread(slices[0])
    assert float(first.RescaleSlope) == float(ds.DoseGridScaling)
    # the integers themselves went out unchanged (no 16-bit requantisation of the float dose)
    np.testing.assert_array_equal(np.stack([pydicom.dcmread(f).pixel_array for f in slices]), ds.pixel_array)


def test_an_rt_dose_file_without_extension_is_read_as_dicom(tmp_path):
    # DICOM files often have no extension; such a file went to ITK's reader, which leaves the dose unscaled
    src = tmp_path / "RD0001"
    src.write_bytes(open(_dose_file("rtdose.dcm"), "rb").read())
    ds = pydicom.dcmread(src)
    out = tmp_path / "dose.mla"
    assert main(["convert", "-q", str(src), str(out)]) == 0
    img = MLArray.open(out)
    assert img.meta.source_format == "dicom"
    np.testing.assert_allclose(img.to_numpy(), ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
