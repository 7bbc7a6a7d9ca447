"""SimpleITK as the geometry and value oracle for the converters.

A *view* is an image brought into one comparable form: ``array`` with axes
``[spatial (ITK/our order)..., extra (time/frames)..., components]`` and ``affine``, a 4x4
index -> LPS world matrix over the spatial axes (2-D images are embedded in 3-D with a unit
third axis, which is how ITK and nibabel place a 2-D slice too).

:func:`compare` maps every voxel of the reference (or a seeded sample of a large one) through
the reference affine to the world, then through the inverse test affine to a test voxel, and
reports the largest distance between the two voxel centres (mm) plus how many voxels hold
different values. The comparison does not assume an axis order: a transposed, flipped or
shifted grid shows up as distance, out-of-bounds or value mismatches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["View", "itk_read", "itk_view", "mla_view", "compare"]

_MAX_FULL = 3_000_000  # voxels compared one by one; larger images use a seeded sample


@dataclass
class View:
    array: np.ndarray      # [spatial..., extra..., comps]
    affine: np.ndarray     # 4x4, spatial index -> LPS world
    nspatial: int
    nextra: int


def itk_read(path):
    """ITK's reading of ``path``: a file, or a DICOM folder read as ITK's series reader does."""
    import SimpleITK as sitk

    p = os.fspath(path)
    if os.path.isdir(p):
        reader = sitk.ImageSeriesReader()
        ids = reader.GetGDCMSeriesIDs(p)
        if not ids:
            raise RuntimeError(f"ITK finds no DICOM series in {p}")
        best = max(ids, key=lambda s: len(reader.GetGDCMSeriesFileNames(p, s)))
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(p, best))
        return reader.Execute()
    return sitk.ReadImage(p)


def _embed(affine: np.ndarray, nspatial: int) -> np.ndarray:
    """(n+1)x(n+1) or (w+1)x(n+1) affine -> 4x4 (extra world/index dims get identity)."""
    a = np.asarray(affine, float)
    nw = a.shape[0] - 1
    out = np.eye(4)
    k = min(nw, 3)
    out[:k, :nspatial] = a[:k, :nspatial]
    out[:k, 3] = a[:k, -1]
    return out


def itk_view(img) -> View:
    import SimpleITK as sitk

    dim = img.GetDimension()
    arr = sitk.GetArrayFromImage(img)  # (z, y, x[, comps]) for scalar (..., comps) for vector
    ncomp = img.GetNumberOfComponentsPerPixel()
    nd = dim
    order = list(range(nd))[::-1]
    if ncomp > 1:
        arr = np.transpose(arr, order + [nd])
    else:
        arr = np.transpose(arr, order)[..., None]
    ns = min(dim, 3)
    d = np.asarray(img.GetDirection(), float).reshape(dim, dim)
    a = np.eye(dim + 1)
    a[:dim, :dim] = d * np.asarray(img.GetSpacing(), float)[None, :]
    a[:dim, dim] = img.GetOrigin()
    sub = np.eye(ns + 1)
    sub[:ns, :ns] = a[:ns, :ns]
    sub[:ns, ns] = a[:ns, dim]
    return View(arr, _embed(sub, ns), ns, dim - ns)


def _lps(affine: np.ndarray, coord_system: str | None) -> np.ndarray:
    cs = (coord_system or "unknown").upper().rstrip("+")
    a = np.asarray(affine, float).copy()
    if cs == "RAS":
        a[:2, :] *= -1
    elif cs not in ("LPS", "UNKNOWN", "OTHER"):
        from mlarray.affines import convert_coord_system

        a = convert_coord_system(a, cs, "LPS")
    return a


def mla_view(img) -> View:
    """View of an :class:`mlarray.MLArray` or an ``ImageRecord``."""
    if hasattr(img, "meta"):
        sp = img.meta.spatial
        labels = list(sp.axis_labels or ["spatial"] * img.ndim)
        arr = np.asarray(img.to_numpy())
        nsp = len([lab for lab in labels if str(lab).startswith("spatial")])
        spacing = sp.spacing or [1.0] * nsp
        origin = sp.origin or [0.0] * nsp
        direction = sp.direction or np.eye(nsp).tolist()
        cs = sp.coord_system
    else:
        labels = list(img.axis_labels or ["spatial"] * np.ndim(img.array))
        arr = np.asarray(img.array)
        spacing, origin, direction, cs = img.spacing, img.origin, img.direction, img.coord_system
    spatial = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    comps = [i for i, lab in enumerate(labels) if lab in ("channel", "components") and i not in spatial]
    extra = [i for i in range(arr.ndim) if i not in spatial and i not in comps]
    arr = np.transpose(arr, spatial + extra + comps)
    if len(comps) == 0:
        arr = arr[..., None]
    elif len(comps) > 1:
        arr = arr.reshape(arr.shape[: len(spatial) + len(extra)] + (-1,))
    d = np.asarray(direction, float)
    s = np.asarray(spacing, float)
    a = np.eye(d.shape[0] + 1)[:, :]
    lin = np.zeros((d.shape[0] + 1, len(spatial) + 1))
    lin[:-1, :-1] = d * s[None, :]
    lin[:-1, -1] = origin
    lin[-1, -1] = 1
    del a
    return View(arr, _embed(_lps(lin, cs), len(spatial)), len(spatial), len(extra))


def _pad_spatial(view: View) -> np.ndarray:
    """Array with exactly 3 spatial axes (trailing singleton spatial axes added)."""
    arr = view.array
    for _ in range(3 - view.nspatial):
        arr = np.expand_dims(arr, view.nspatial)
    return arr


def compare(ref: View, test: View, *, seed: int = 0) -> dict:
    """Largest world distance (mm) between matching voxels and value disagreement, ref -> test."""
    ra, ta = _pad_spatial(ref), _pad_spatial(test)
    # non-spatial values per voxel in order: ITK reads a NRRD list axis as components, a NIfTI time axis
    # as a fourth dimension; both hold the same values per voxel
    ra, ta = ra.reshape(ra.shape[:3] + (-1,)), ta.reshape(ta.shape[:3] + (-1,))
    out = {"voxels": 0, "max_mm": float("inf"), "value_mismatch": None, "max_value_diff": float("inf"),
           "problem": ""}
    if ra.shape[3:] != ta.shape[3:]:
        # 4th ITK dimension vs our non-spatial axes, components vs channel axis
        out["problem"] = f"non-spatial shape {ra.shape[3:]} vs {ta.shape[3:]}"
        return out
    rshape = np.array(ra.shape[:3])
    tshape = np.array(ta.shape[:3])
    n = int(np.prod(rshape))
    if n <= _MAX_FULL:
        idx = np.stack(np.unravel_index(np.arange(n), rshape), axis=1).astype(float)
    else:
        rng = np.random.default_rng(seed)
        corners = np.array([[i, j, k] for i in (0, rshape[0] - 1) for j in (0, rshape[1] - 1)
                            for k in (0, rshape[2] - 1)], float)
        idx = np.concatenate([corners, np.floor(rng.random((200_000, 3)) * rshape)])
    world = idx @ ref.affine[:3, :3].T + ref.affine[:3, 3]
    inv = np.linalg.inv(test.affine)
    q = world @ inv[:3, :3].T + inv[:3, 3]
    qi = np.clip(np.rint(q), 0, tshape - 1).astype(np.int64)
    back = qi @ test.affine[:3, :3].T + test.affine[:3, 3]
    dist = np.linalg.norm(back - world, axis=1)
    ri = idx.astype(np.int64)
    rv = ra[ri[:, 0], ri[:, 1], ri[:, 2]].astype(np.float64)
    tv = ta[qi[:, 0], qi[:, 1], qi[:, 2]].astype(np.float64)
    diff = np.abs(rv - tv)
    scale = np.maximum(np.abs(rv), 1.0)
    bad = np.any((diff > 1e-6 * scale).reshape(len(idx), -1), axis=1)
    out.update(voxels=int(len(idx)), max_mm=float(dist.max()), value_mismatch=int(bad.sum()),
               max_value_diff=float(diff.max()) if diff.size else 0.0,
               shape_ref=list(map(int, ra.shape)), shape_test=list(map(int, ta.shape)))
    return out
