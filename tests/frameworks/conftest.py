"""Shared data for the framework tests: one small oblique CT volume and its segmentation, stored as

- NIfTI (nibabel), the frameworks' own reference path;
- ``.mla`` converted from that NIfTI with ``mlarray convert`` (RAS, nibabel's axis order);
- ``.mla`` in LPS with ITK's reversed axis order, built two ways: exactly from the NIfTI affine
  (``*_lps``), and from SimpleITK's reading of the NIfTI (``*_itk``), so that a second, independent
  library supplies the geometry our RAS conversion must reproduce (to SimpleITK's float32 precision).
"""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest

from mlarray import Meta, MLArray

SHAPE = (22, 26, 14)  # nibabel order (i, j, k)
SPACING = (0.9, 1.2, 2.5)


def oblique_affine() -> np.ndarray:
    """RAS affine with a rotated, left-handed direction (one flipped axis), anisotropic voxels."""
    a, b = np.deg2rad(20), np.deg2rad(-15)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    direction = rz @ rx @ np.diag([-1.0, 1.0, 1.0])
    aff = np.eye(4)
    aff[:3, :3] = direction * np.array(SPACING)
    aff[:3, 3] = [31.5, -12.25, 40.0]
    return aff


def phantom() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    r = np.sqrt(((i - 9) * SPACING[0]) ** 2 + ((j - 14) * SPACING[1]) ** 2 + ((k - 6) * SPACING[2]) ** 2)
    seg = np.zeros(SHAPE, np.uint8)
    seg[r < 10] = 1
    seg[(r < 4.5) & (i > 8)] = 2
    ct = rng.normal(40, 15, SHAPE) + 60 * (seg == 1) + 120 * (seg == 2) - 1000 * (j < 3)
    return ct.astype(np.int16), seg


def only_at_boundaries(ours: np.ndarray, ref: np.ndarray) -> bool:
    """Every voxel where the label maps differ has a 6-neighbour in ``ref`` carrying our label there."""
    padded = np.pad(ref, 1, mode="edge")
    for p in np.argwhere(ours != ref):
        c = p + 1
        neighbours = [padded[tuple(c + d)] for d in np.vstack([np.eye(3, dtype=int), -np.eye(3, dtype=int)])]
        if ours[tuple(p)] not in neighbours:
            return False
    return True


def lps_ordered_mla(array_ijk: np.ndarray, ras_affine: np.ndarray, out: str, **meta) -> str:
    """The same grid as ``(array_ijk, ras_affine)`` stored as ITK does: axes (k, j, i), world in LPS."""
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras_affine
    lin = lps[:3, :3][:, ::-1]
    spacing = np.linalg.norm(lin, axis=0)
    MLArray(np.ascontiguousarray(array_ijk.transpose(2, 1, 0)), spacing=spacing, origin=lps[:3, 3],
            direction=lin / spacing, meta=Meta(spatial={"coord_system": "LPS"}, **meta)).save(out)
    return out


def itk_ordered_mla(nifti_path: str, out: str, coord_system: str = "LPS", **meta) -> str:
    """An .mla from SimpleITK's reading of ``nifti_path``: array (k, j, i), geometry in LPS as ITK gives it."""
    import SimpleITK as sitk

    img = sitk.ReadImage(nifti_path)
    direction = np.reshape(img.GetDirection(), (3, 3))[:, ::-1]  # numpy axis j is ITK axis 2 - j
    MLArray(sitk.GetArrayFromImage(img), spacing=img.GetSpacing()[::-1], origin=img.GetOrigin(),
            direction=direction, meta=Meta(spatial={"coord_system": coord_system}, **meta)).save(out)
    return out


@pytest.fixture(scope="session")
def volume(tmp_path_factory):
    """Paths: ``ct_nii``, ``seg_nii``, ``ct_mla``, ``seg_mla`` (converted), ``ct_lps``, ``seg_lps`` (exact LPS,
    ITK order), ``ct_itk``, ``seg_itk`` (from SimpleITK)."""
    import nibabel as nib

    from mlarray.cli import main as cli

    d = tmp_path_factory.mktemp("frameworks")
    ct, seg = phantom()
    aff = oblique_affine()
    paths = {k: str(d / v) for k, v in (("ct_nii", "ct.nii.gz"), ("seg_nii", "seg.nii.gz"), ("ct_mla", "ct.mla"),
                                        ("seg_mla", "seg.mla"), ("ct_lps", "ct_lps.mla"), ("seg_lps", "seg_lps.mla"),
                                        ("ct_itk", "ct_itk.mla"), ("seg_itk", "seg_itk.mla"))}
    nib.save(nib.Nifti1Image(ct, aff), paths["ct_nii"])
    seg_img = nib.Nifti1Image(seg, aff)
    seg_img.header.set_intent("label")
    nib.save(seg_img, paths["seg_nii"])
    assert cli(["convert", "-q", paths["ct_nii"], paths["ct_mla"]]) == 0
    assert cli(["convert", "-q", "--seg", paths["seg_nii"], paths["seg_mla"]]) == 0
    # the affine as the NIfTI stores it (float32 rows): MONAI's Spacing chooses between corner- and
    # centre-aligned output grids with a 1e-8 tolerance, so float64 vs float32 geometry moves its output
    stored = nib.load(paths["ct_nii"]).affine
    lps_ordered_mla(ct, stored, paths["ct_lps"])
    lps_ordered_mla(seg, stored, paths["seg_lps"], is_seg=True)
    itk_ordered_mla(paths["ct_nii"], paths["ct_itk"])
    itk_ordered_mla(paths["seg_nii"], paths["seg_itk"], is_seg=True)
    assert all(os.path.exists(p) for p in paths.values())
    return paths


_PYDICOM_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
DICOM_SOURCES = {"CT_small": os.path.join(_PYDICOM_FILES, "CT_small.dcm"),
                 "MR_small": os.path.join(_PYDICOM_FILES, "MR_small.dcm"),
                 "CT2 series": os.path.join(_PYDICOM_FILES, "dicomdirtests", "77654033", "CT2")}


@pytest.fixture(scope="session")
def dicom_mla(tmp_path_factory):
    """``{name: (original DICOM file or folder, its .mla made by mlarray convert)}`` for pydicom's CT_small.dcm,
    MR_small.dcm and the 4-slice CT2 series; the .mla keeps DICOM's (slice, row, col)."""
    from mlarray.cli import main

    folder = tmp_path_factory.mktemp("dicom_mla")
    out = {}
    for name, src in DICOM_SOURCES.items():
        assert os.path.exists(src), f"{src} is not in pydicom's test data; pin a pydicom that ships it"
        mla = str(folder / (name.replace(" ", "_") + ".mla"))
        assert main(["convert", "-q", src, mla]) == 0
        out[name] = (src, mla)
    return out
