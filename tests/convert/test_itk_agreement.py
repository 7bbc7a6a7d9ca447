"""Every converter, both directions, held to SimpleITK on real and synthetic files (itk_corpus).

Each case converts to .mla and compares with ITK's reading of the original voxel by voxel (world
position of every voxel centre, value), then converts the .mla back to NIfTI, NRRD and DICOM and
compares ITK's reading of each export with ITK's reading of the original. Where ITK reads a file
differently from its meaning, the expected difference is asserted exactly (docs/conversion.md).
"""

import warnings

import pytest

pytest.importorskip("SimpleITK", reason="SimpleITK is the oracle; it is in the 'test' extra")

from itk_corpus import CASES  # noqa: E402
from itk_table import measure  # noqa: E402

TOL_MM = 1e-4
# (case, column) -> what ITK does differently, asserted as measured
KNOWN = {
    # two conforming lossy-JPEG decoders (libjpeg via pylibjpeg; ITK's GDCM) round 1.4 % of voxels apart
    ("NM, 12-bit JPEG extended (JPGExtended)", "*"): ("values", 1.0),
    # ITK places a 2-D NIfTI at z = 0, dropping qoffset_z (7 mm here); we keep nibabel's full affine
    # (the 2-D NRRD has a 2-D space, which ITK agrees with exactly)
    ("NIfTI 2D", "mla"): ("mm", 7.0), ("NIfTI 2D", "dicom/"): ("mm", 7.0),
    # ITK uses the qform when sform_code != 1; we follow nibabel's sform (module docstring of nifti.py)
    ("NIfTI sform != qform", "mla"): ("mm", 64.27), ("NIfTI sform != qform", ".nrrd"): ("mm", 64.27),
    ("NIfTI sform != qform", "dicom/"): ("mm", 64.27),
    # float voxels become 16-bit integers with a fitted rescale in DICOM (a warning gives the error)
    ("NIfTI-1 reoriented, moved (nibabel)", "dicom/"): ("values", None),
    ("NIfTI-1 resampled, moved (nibabel)", "dicom/"): ("values", None),
}
NOT_DICOM = {"NIfTI-1 4D fMRI (nibabel example4d)", "NIfTI-1 functional (nibabel)", "NIfTI 4D with TR",
             "NIfTI-2 (nibabel)"}
# a cine loop without patient geometry: ITK stacks its frames as 1 mm slices, we read them as a time axis
# (2-D + time + RGB), which has no 3-D counterpart in ITK's reading, in ITK's NRRD reader (one
# non-spatial axis at most) or in a DICOM slice series; the frames themselves are compared with ITK in
# test_dicom_sources.py::test_ultrasound_cine_frames_are_a_time_axis
CINE = {"Ultrasound, 2 frames (OBXXXX1A_2frame)": {
    "mla": "non-spatial shape (3,) vs (6,)", ".nii.gz": "non-spatial shape (3,) vs (6,)",
    ".nrrd": "ImageFileReader_Execute", "dicom/": "3 spatial axes"}}
NO_SOURCE_SERIES = {"DICOM SEG, 1 frame (liver_1frame)", "DICOM SEG, 3 frames (liver)"}


@pytest.mark.parametrize("name", list(CASES))
def test_agrees_with_itk(tmp_path, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = measure(name, tmp_path)
    if name == "NIfTI-2 (nibabel)":  # SimpleITK 2.5 cannot open this file; nibabel tests cover it
        assert "ITK cannot read" in row["mla"]["problem"]
        return
    for col in ("mla", ".nii.gz", ".nrrd", "dicom/"):
        r = row.get(col)
        if name in CINE:
            assert CINE[name][col] in r["problem"], (col, r)
            continue
        if col == "dicom/" and (name in NOT_DICOM):
            assert "3 spatial axes" in r["problem"], r
            continue
        if col == "dicom/" and name in NO_SOURCE_SERIES:
            assert "no DICOM series with this segmentation's grid" in r["problem"], r
            continue
        assert not r.get("problem"), (col, r)
        known = KNOWN.get((name, col)) or KNOWN.get((name, "*"))
        if known and known[0] == "mm":
            assert r["max_mm"] == pytest.approx(known[1], abs=0.1), (col, r)
            continue
        assert r["max_mm"] < TOL_MM, (col, r)
        if known and known[0] == "values":
            if known[1] is not None:
                assert r["max_value_diff"] <= known[1], (col, r)
            continue
        assert r["value_mismatch"] == 0, (col, r)
