"""read_any/write_any dispatch, error messages and lazy imports."""

import subprocess
import sys

import numpy as np
import pytest

from mlarray._errors import MLArrayError
from mlarray.convert import ConversionError, ImageRecord, detect_format, read_any, write_any


def test_unsupported_extension_names_file_and_supported(tmp_path):
    p = tmp_path / "image.xyz"
    p.write_bytes(b"1234")
    with pytest.raises(ConversionError) as exc:
        read_any(p)
    msg = str(exc.value)
    assert "image.xyz" in msg and ".nii.gz" in msg and ".nrrd" in msg and ".tif" in msg
    assert isinstance(exc.value, MLArrayError) and isinstance(exc.value, ValueError)


def test_detect_format(tmp_path):
    assert detect_format("a.NII.GZ") == "nifti"
    assert detect_format("a.nhdr") == "nrrd"
    assert detect_format("a.ome.tiff") == "tiff"
    assert detect_format("x.dcm") == "dicom"
    assert detect_format("x.mla") == "mla"
    # A folder is DICOM only when it holds DICOM files, as the CLI's folder scan decides (issue 24 section 3):
    # an empty folder used to be called DICOM here while the scan treated it as a folder of images.
    with pytest.raises(ConversionError, match="no DICOM image files"):
        detect_format(tmp_path)
    (tmp_path / "IM0001.dcm").write_bytes(b"")
    assert detect_format(tmp_path) == "dicom"


def test_write_any_refuses_dicom_and_unknown(tmp_path):
    rec = ImageRecord(array=np.zeros((2, 2, 2)), spacing=[1, 1, 1], origin=[0, 0, 0],
                      direction=np.eye(3).tolist(), axis_labels=["spatial"] * 3)
    with pytest.raises(ConversionError, match="DICOM"):
        write_any(rec, tmp_path / "x.dcm")
    with pytest.raises(ConversionError, match="out.png"):
        write_any(rec, tmp_path / "out.png")


def test_record_affine_convention():
    rec = ImageRecord(array=np.zeros((2, 3, 4)), spacing=[2.0, 3.0, 4.0], origin=[1.0, 2.0, 3.0],
                      direction=[[0, 1, 0], [1, 0, 0], [0, 0, -1]], axis_labels=["spatial"] * 3)
    a = rec.affine()
    np.testing.assert_allclose(a[:3, :3], [[0, 3, 0], [2, 0, 0], [0, 0, -4]])
    np.testing.assert_allclose(rec.world([1, 1, 1]), [4, 4, -1])
    assert rec.spatial_axes == [0, 1, 2]


def test_convert_package_imports_without_format_libraries():
    code = ("import sys, mlarray.convert, mlarray.convert._record; "
            "bad = [m for m in ('nibabel', 'nrrd', 'pydicom', 'tifffile') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": str(__import__('pathlib').Path(__file__).resolve().parents[2] / 'src')})


def test_readme_python_conversion_runs_as_written(tmp_path):
    """The README's Python conversion lines, on nibabel's anatomical.nii: the public names exist and round-trip."""
    import os

    import nibabel

    from mlarray import MLArray
    from mlarray.convert import convert_file, read_any

    src = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")
    out = convert_file(src, tmp_path / "ct.mla")
    record = read_any(src)
    np.testing.assert_array_equal(MLArray.open(out)[...], record.array)
    np.testing.assert_allclose(MLArray.open(out).affine, record.affine(), atol=1e-6)
