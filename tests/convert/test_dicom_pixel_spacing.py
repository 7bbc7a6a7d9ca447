"""A DICOM image that states no PixelSpacing, through ``mlarray convert``/``validate`` and ``read_any``.

A new user's file without PixelSpacing converted with a pixel size of 1 mm and only "ok" on the
terminal. It still converts (the user's data is never refused), but the command warns, naming the
file, the attributes that were missing and the value assumed; the file records the assumption and
``mlarray validate`` reports it. A projection radiograph whose only pixel size is ImagerPixelSpacing
(measured at the detector) is read with it, as ITK (GDCM) reads it, and that is said too.
Files: pydicom's CT_small with PixelSpacing removed (a CT with patient geometry), pydicom-data's
RG3_UNCR (a CR with no pixel size at all) and pydicom's dicomdirtests CR ``6154`` (ImagerPixelSpacing
only, and no file extension, as a PACS export names files).
"""

from __future__ import annotations

import glob
import os
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from mlarray import MLArray
from mlarray.cli import main
from mlarray.convert import read_any
from mlarray.convert.dicom import DicomPixelSpacingWarning

_CR_IMAGER_ONLY = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "dicomdirtests",
                               "77654033", "CR1", "6154")


def _file(name: str) -> str:
    path = get_testdata_file(name, download=False)
    assert path, f"{name} is missing; install pydicom-data (the 'test' extra)"
    return str(path)


def _ct_without_pixel_spacing(tmp_path) -> str:
    ds = pydicom.dcmread(_file("CT_small.dcm"))
    del ds.PixelSpacing
    out = tmp_path / "ct_no_spacing.dcm"
    ds.save_as(out)
    return str(out)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mlarray: warning:")]


def test_ct_without_pixel_spacing_warns_records_and_validate_reports(tmp_path, capsys):
    src = _ct_without_pixel_spacing(tmp_path)
    out = tmp_path / "ct.mla"
    capsys.readouterr()
    assert main(["convert", src, str(out)]) == 0  # converted, not refused
    err = capsys.readouterr().err
    [warning] = _warnings(err)
    assert src in warning and "no PixelSpacing (0028,0030)" in warning
    assert "no ImagerPixelSpacing (0018,1164)" in warning and "assumed to be 1 x 1 mm" in warning
    img = MLArray.open(out)
    assert img.meta.spatial.spacing[1:] == [1.0, 1.0]
    assert img.meta.source["pixel_spacing_assumed"] == [1.0, 1.0]
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0  # a warning, not an error: the file is sound
    report = capsys.readouterr().out
    assert "[warning] source.pixel_spacing_assumed" in report and "assumed 1 x 1" in report
    with pytest.warns(DicomPixelSpacingWarning, match="no PixelSpacing"):  # the Python API says it too
        record = read_any(src)
    assert record.source["pixel_spacing_assumed"] == [1.0, 1.0]


def test_a_zero_pixel_spacing_is_named_with_its_value(tmp_path):
    ds = pydicom.dcmread(_file("CT_small.dcm"))
    ds.PixelSpacing = [0, 0]
    src = tmp_path / "ct_zero_spacing.dcm"
    ds.save_as(src)
    named = r"PixelSpacing \(0028,0030\) is 0(\.0)?\\0(\.0)?, not two positive"
    with pytest.warns(DicomPixelSpacingWarning, match=named):
        read_any(src)


def test_radiograph_without_any_pixel_size_warns_in_a_parallel_batch(tmp_path, capfd):
    # pydicom-data's RG3_UNCR: a real CR with neither PixelSpacing nor ImagerPixelSpacing (nor patient geometry)
    srcs = [shutil.copy(_file("RG3_UNCR.dcm"), tmp_path / f"cr{k}.dcm") for k in range(2)]
    capfd.readouterr()
    assert main(["convert", *map(str, srcs), str(tmp_path / "out") + os.sep, "--jobs", "2"]) == 0
    warnings = _warnings(capfd.readouterr().err)  # printed by the worker processes
    assert len(warnings) == 2 and all(any(str(s) in w for w in warnings) for s in srcs)
    assert all("assumed to be 1 x 1 (no unit" in w for w in warnings)
    img = MLArray.open(tmp_path / "out" / "cr0.mla")
    assert img.meta.source["pixel_spacing_assumed"] == [1.0, 1.0] and img.meta.spatial.axis_units is None


def test_imager_pixel_spacing_is_the_pixel_size_itk_uses_and_is_said(tmp_path, capsys):
    assert os.path.exists(_CR_IMAGER_ONLY), "pin a pydicom that ships dicomdirtests"
    hdr = pydicom.dcmread(_CR_IMAGER_ONLY, stop_before_pixels=True)
    assert "PixelSpacing" not in hdr and [float(v) for v in hdr.ImagerPixelSpacing] == [0.1, 0.1]
    out = tmp_path / "cr.mla"
    capsys.readouterr()
    assert main(["convert", _CR_IMAGER_ONLY, str(out)]) == 0
    [warning] = _warnings(capsys.readouterr().err)
    assert _CR_IMAGER_ONLY in warning and "no PixelSpacing (0028,0030)" in warning
    assert "ImagerPixelSpacing (0018,1164), 0.1 x 0.1 mm" in warning and "detector" in warning
    img = MLArray.open(out)
    itk = sitk.ReadImage(_CR_IMAGER_ONLY)  # GDCM reads a CR's pixel size from ImagerPixelSpacing
    np.testing.assert_allclose(img.meta.spatial.spacing[1:], list(itk.GetSpacing())[1::-1])
    np.testing.assert_allclose(img.to_numpy()[0], sitk.GetArrayFromImage(itk)[0], rtol=1e-6)  # float32 vs 64
    assert img.meta.source["pixel_spacing_from"] == "ImagerPixelSpacing"
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    assert "[warning] source.pixel_spacing_from" in capsys.readouterr().out


def test_a_file_with_pixel_spacing_is_not_warned_about(tmp_path, capsys):
    out = tmp_path / "ct.mla"
    capsys.readouterr()
    assert main(["convert", _file("CT_small.dcm"), str(out)]) == 0
    assert _warnings(capsys.readouterr().err) == []
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(": OK")


def test_every_dicom_test_file_without_a_pixel_size_is_said(tmp_path):
    """Ultrasound, Secondary Capture and CR files of pydicom and pydicom-data that state no pixel size: each
    conversion warns and records it (none silently gets 1)."""
    folders = [os.path.dirname(_file("CT_small.dcm")), os.path.dirname(_file("RG3_UNCR.dcm"))]
    checked = 0
    for path in sorted(p for folder in folders for p in glob.glob(os.path.join(folder, "*.dcm"))):
        try:
            hdr = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        if ("Rows" not in hdr or "PixelSpacing" in hdr or "ImagerPixelSpacing" in hdr
                or "SharedFunctionalGroupsSequence" in hdr or "PerFrameFunctionalGroupsSequence" in hdr):
            continue
        try:
            with pytest.warns(DicomPixelSpacingWarning, match="no PixelSpacing") as caught:
                record = read_any(path)
        except Exception as exc:  # noqa: BLE001 - files pydicom cannot decode here are another matter
            if isinstance(exc, pytest.fail.Exception):
                raise
            continue
        assert any(os.path.basename(path) in str(w.message) for w in caught)
        assert record.source["pixel_spacing_assumed"] == [1.0, 1.0], path
        checked += 1
    assert checked >= 10  # measured: the pydicom and pydicom-data files that state no pixel size


def test_an_ultrasound_warning_points_to_its_regions(tmp_path, capsys):
    src = _file("OBXXXX1A.dcm")  # two regions: B-mode in cm and a Doppler strip in seconds
    assert len(pydicom.dcmread(src, stop_before_pixels=True).SequenceOfUltrasoundRegions) == 2
    capsys.readouterr()
    assert main(["convert", "-q", src, str(tmp_path / "us.mla")]) == 0
    [warning] = _warnings(capsys.readouterr().err)
    assert "assumed to be 1 x 1" in warning and "SequenceOfUltrasoundRegions" in warning
