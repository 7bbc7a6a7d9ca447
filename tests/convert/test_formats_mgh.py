"""FreeSurfer MGH/MGZ through nibabel: nibabel's own reading is the oracle."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mlarray import MLArray
from mlarray.convert import detect_format, read_any, write_any


def _cli(*args):
    """``mlarray convert -q ARGS`` in this process (the CLI path users take, without a start-up per call)."""
    from mlarray.cli import main

    assert main(["convert", "-q", *map(str, args)]) == 0


def _mgz(tmp_path, data, name="brain.mgz"):
    aff = np.array([[-0.9, 0.1, 0.0, 10.0], [0.1, 0.9, 0.0, -5.0], [0.0, 0.0, 1.5, 3.0], [0, 0, 0, 1]])
    img = nib.MGHImage(data, aff)
    img.header["tr"], img.header["te"], img.header["flip_angle"] = 2300.0, 2.98, 0.157
    nib.save(img, tmp_path / name)
    return nib.load(tmp_path / name)


@pytest.mark.parametrize("name", ["brain.mgz", "brain.mgh"])
def test_mgh_reads_like_nibabel(tmp_path, name):
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    ref = _mgz(tmp_path, data, name)
    assert detect_format(tmp_path / name) == "mgh"
    rec = read_any(tmp_path / name)
    np.testing.assert_array_equal(rec.array, np.asanyarray(ref.dataobj))
    assert rec.coord_system == "RAS" and rec.source_format == "mgh"
    for idx in [(0, 0, 0), (3, 4, 5), (1, 2, 3)]:
        np.testing.assert_allclose(rec.world(idx), (ref.affine @ np.r_[idx, 1])[:3], atol=1e-6)
    assert rec.source["tr"] == pytest.approx(2300.0) and rec.source["te"] == pytest.approx(2.98)
    assert len(rec.source["Mdc"]) == 3


def test_mgz_round_trip_through_mla_keeps_values_geometry_and_scan_parameters(tmp_path):
    data = np.random.default_rng(1).integers(0, 255, (6, 7, 8, 3)).astype(np.uint8)  # 3 frames
    ref = _mgz(tmp_path, data)
    _cli(str(tmp_path / "brain.mgz"),
                    str(tmp_path / "brain.mla"))
    ml = MLArray.open(tmp_path / "brain.mla")
    assert ml.meta.spatial.axis_labels == ["spatial", "spatial", "spatial", "temporal"]
    _cli(str(tmp_path / "brain.mla"),
                    str(tmp_path / "back.mgz"))
    back = nib.load(tmp_path / "back.mgz")
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), data)
    assert back.get_data_dtype().newbyteorder("=") == np.uint8
    np.testing.assert_allclose(back.affine, ref.affine, atol=1e-5)  # MGH stores float32 geometry
    assert float(back.header["tr"]) == pytest.approx(2300.0)
    assert float(back.header["flip_angle"]) == pytest.approx(0.157)


def test_lps_record_to_mgz_is_converted_to_ras(tmp_path):
    from mlarray.convert import ImageRecord

    rec = ImageRecord(array=np.arange(24, dtype=np.int16).reshape(2, 3, 4), spacing=[1.0, 2.0, 3.0],
                      origin=[10.0, 20.0, 30.0], direction=np.eye(3).tolist(), coord_system="LPS",
                      axis_labels=["spatial"] * 3)
    write_any(rec, tmp_path / "x.mgz")
    back = nib.load(tmp_path / "x.mgz")
    for idx in [(0, 0, 0), (1, 2, 3)]:
        lps = rec.world(idx)
        np.testing.assert_allclose((back.affine @ np.r_[idx, 1])[:3], [-lps[0], -lps[1], lps[2]], atol=1e-5)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), rec.array)


def test_mgh_dtypes_it_cannot_store_are_widened_exactly_or_warned(tmp_path):
    from mlarray.convert import ImageRecord

    def rec(a):
        return ImageRecord(array=a, spacing=[1, 1, 1], origin=[0, 0, 0], direction=np.eye(3).tolist(),
                           coord_system="RAS", axis_labels=["spatial"] * 3)

    u16 = np.array([0, 1000, 65535], np.uint16).reshape(1, 1, 3)
    write_any(rec(u16), tmp_path / "u16.mgz")
    back = nib.load(tmp_path / "u16.mgz")
    assert back.get_data_dtype().newbyteorder("=") == np.int32
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), u16)
    f64 = np.array([0.1, 1 / 3, 2.0], np.float64).reshape(1, 1, 3)
    with pytest.warns(UserWarning, match="float32"):
        write_any(rec(f64), tmp_path / "f64.mgz")


def test_dicom_sourced_mla_goes_to_mgz_in_the_nifti_index_order(tmp_path):
    """MGH is indexed like NIfTI: a DICOM's .mla goes out as (col, row, slice), the NIfTI SimpleITK writes of the
    same series holding the same voxels at the same affine."""
    from dicom_voxel_order import SOURCES, dicom_mla, sitk_write

    mla = dicom_mla("CT2 series", tmp_path)
    _cli(mla, tmp_path / "ours.mgz")
    sitk_write(SOURCES["CT2 series"], tmp_path / "itk.nii.gz")
    ours, ref = nib.load(tmp_path / "ours.mgz"), nib.load(tmp_path / "itk.nii.gz")
    assert ours.shape == ref.shape == (16, 16, 4)
    np.testing.assert_array_equal(np.asanyarray(ours.dataobj), np.asanyarray(ref.dataobj))
    np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-4)  # MGH stores float32
