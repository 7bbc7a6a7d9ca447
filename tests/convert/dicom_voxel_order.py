"""pydicom's DICOM files (one CT slice, one MR slice, the 4-slice CT2 series) converted to ``.mla`` with the
CLI, and SimpleITK's reading of each original: the oracle for the voxel order of every export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from mlarray.cli import main

_DATA = Path(pydicom.__file__).parent / "data" / "test_files"
SOURCES = {"CT_small": _DATA / "CT_small.dcm", "MR_small": _DATA / "MR_small.dcm",
           "CT2 series": _DATA / "dicomdirtests" / "77654033" / "CT2"}


_SITK_WRITE = """
import sys, SimpleITK as sitk
src, out = sys.argv[1], sys.argv[2]
if src.endswith("/"):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(src))
    img = reader.Execute()
else:
    img = sitk.ReadImage(src)
sitk.WriteImage(img, out)
"""


def sitk_write(src: Path, out: Path) -> Path:
    """SimpleITK's conversion of a DICOM file or series folder (ImageSeriesReader, as its docs show) to ``out``.

    In a child process: once GDCM has read a DICOM, SimpleITK's DICOM writer in the same process writes a
    SpacingBetweenSlices of 1 into every slice (measured with SimpleITK 2.5), which breaks the series that
    later tests write (test_dicom_seg_export)."""
    pytest.importorskip("SimpleITK", reason="SimpleITK is the oracle; it is in the 'test' extra")
    arg = os.fspath(src) + ("/" if src.is_dir() else "")
    subprocess.run([sys.executable, "-c", _SITK_WRITE, arg, os.fspath(out)], check=True, capture_output=True)
    return out


def dicom_mla(name: str, folder: Path) -> Path:
    """The ``.mla`` that ``mlarray convert`` makes of ``SOURCES[name]``."""
    src = SOURCES[name]
    assert src.exists(), f"{src} is not in pydicom's test data; pin a pydicom that ships it"
    out = folder / "dicom.mla"
    assert main(["convert", "-q", os.fspath(src), os.fspath(out)]) == 0
    return out


def world_columns(affine, shape):
    """The affine's columns that place voxels: those of axes longer than one voxel, and the origin (a
    single slice's step is never applied; ITK and our DICOM reader may disagree on it for one slice)."""
    keep = [k for k, n in enumerate(shape[:3]) if n > 1] + [3]
    return affine[:3, keep]
