"""NRRD <-> ImageRecord on pynrrd-written files."""

import json

import nrrd
import numpy as np
import pytest
from dicom_voxel_order import SOURCES, dicom_mla, sitk_write  # noqa: E402

from mlarray._errors import CorruptFileError  # noqa: E402
from mlarray.cli import main  # noqa: E402
from mlarray.convert import ConversionError, read_any, write_any  # noqa: E402
from mlarray.convert.nrrd import read_nrrd  # noqa: E402

DIRS = np.array([[0.0, 1.2, 0.0], [-0.9, 0.0, 0.3], [0.0, 0.0, 2.5]])
ORIGIN = np.array([-10.5, 20.0, 3.25])


def _header(space="left-posterior-superior", vector=False):
    sd = DIRS if not vector else np.vstack([[np.nan] * 3, DIRS])
    return {"space": space, "space directions": sd, "space origin": ORIGIN,
            "kinds": (["vector"] if vector else []) + ["domain"] * 3,
            "space units": ["mm", "mm", "mm"], "my custom key": "some value 42",
            "another": "x y z"}


@pytest.fixture(params=["attached", "detached", "vector"])
def nrrd_file(request, tmp_path):
    vector = request.param == "vector"
    shape = (3, 5, 6, 7) if vector else (5, 6, 7)
    data = np.random.default_rng(0).integers(-100, 100, shape).astype(np.int16)
    path = tmp_path / ("img.nhdr" if request.param == "detached" else "img.nrrd")
    nrrd.write(str(path), data, _header(vector=vector), detached_header=request.param == "detached")
    return path, data, vector


def test_geometry_labels_and_source(nrrd_file):
    path, data, vector = nrrd_file
    rec = read_any(path)
    assert rec.source_format == "nrrd" and rec.coord_system == "LPS"
    np.testing.assert_array_equal(rec.array, data)
    assert rec.axis_labels == (["channel"] if vector else []) + ["spatial"] * 3
    assert rec.axis_units == ["mm"] * 3
    assert rec.source["my custom key"] == "some value 42"
    json.dumps(rec.source, allow_nan=False)
    for idx in [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (4, 5, 6), (2, 3, 1)]:
        expect = ORIGIN + np.asarray(idx, float) @ DIRS  # NRRD: origin + sum_i idx_i * dir_i
        np.testing.assert_allclose(rec.world(idx), expect, atol=1e-9)


def test_round_trip_keeps_custom_keys_and_space(nrrd_file, tmp_path):
    path, data, vector = nrrd_file
    rec = read_nrrd(path)
    for out in (tmp_path / "o.nrrd", tmp_path / "o.nhdr"):
        write_any(rec, out)
        back, hdr = nrrd.read(str(out))
        np.testing.assert_array_equal(back, data)
        assert hdr["space"] == "left-posterior-superior"
        sd = hdr["space directions"]
        np.testing.assert_allclose(sd[1:] if vector else sd, DIRS, atol=1e-12)
        if vector:
            assert np.all(np.isnan(sd[0]))
        np.testing.assert_allclose(hdr["space origin"], ORIGIN)
        assert hdr["my custom key"] == "some value 42" and hdr["another"] == "x y z"
        assert hdr["kinds"] == _header(vector=vector)["kinds"]


def test_ras_space_and_no_space(tmp_path):
    p = tmp_path / "ras.nrrd"
    nrrd.write(str(p), np.zeros((2, 3, 4), np.uint8), _header(space="right-anterior-superior"))
    assert read_nrrd(p).coord_system == "RAS"
    p2 = tmp_path / "plain.nrrd"
    nrrd.write(str(p2), np.zeros((2, 3), np.float32), {"spacings": [0.5, 2.0]})
    rec = read_nrrd(p2)
    assert rec.coord_system == "unknown" and rec.spacing == [0.5, 2.0]
    assert rec.direction == [[1.0, 0.0], [0.0, 1.0]]


def test_nrrd_to_nifti_world(tmp_path):
    import nibabel as nib
    p = tmp_path / "a.nrrd"
    nrrd.write(str(p), np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7), _header())
    rec = read_nrrd(p)
    write_any(rec, tmp_path / "a.nii.gz")
    img = nib.load(tmp_path / "a.nii.gz")
    for idx in [(0, 0, 0), (4, 5, 6), (1, 2, 3)]:
        lps = rec.world(idx)
        np.testing.assert_allclose(nib.affines.apply_affine(img.affine, idx), lps * [-1, -1, 1], atol=1e-5)


def test_bad_nrrd(tmp_path):
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(b"NRRD0005\ntype: nonsense\ndimension: two\n\n\x00\x01")
    with pytest.raises(CorruptFileError, match="bad.nrrd"):
        read_any(bad)
    with pytest.raises(ConversionError, match="gone.nrrd"):
        read_any(tmp_path / "gone.nrrd")
    hdr = tmp_path / "lost.nhdr"
    nrrd.write(str(hdr), np.zeros((2, 2), np.uint8), {}, detached_header=True)
    for f in tmp_path.glob("lost.raw*"):
        f.unlink()
    with pytest.raises((ConversionError, CorruptFileError), match="lost.nhdr"):
        read_any(hdr)


@pytest.mark.parametrize("name", list(SOURCES))
def test_dicom_sourced_mla_exports_the_nrrd_simpleitk_writes(name, tmp_path):
    """NRRD, like NIfTI, stores its fastest axis first: a DICOM goes out as (col, row, slice), as ITK writes it."""
    mla = dicom_mla(name, tmp_path)
    assert main(["convert", "-q", str(mla), str(tmp_path / "ours.nrrd")]) == 0
    sitk_write(SOURCES[name], tmp_path / "itk.nrrd")
    ours, ours_h = nrrd.read(str(tmp_path / "ours.nrrd"))
    ref, ref_h = nrrd.read(str(tmp_path / "itk.nrrd"))
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)
    assert ours_h["space"] == ref_h["space"] == "left-posterior-superior"
    np.testing.assert_allclose(ours_h["space origin"], ref_h["space origin"], atol=1e-4)
    moving = [k for k, n in enumerate(ours.shape) if n > 1]  # one slice's step places nothing (test_convert_nifti)
    np.testing.assert_allclose(ours_h["space directions"][moving], ref_h["space directions"][moving], atol=1e-4)
