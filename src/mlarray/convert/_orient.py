"""Reorient a record's voxel axes to a named orientation (``mlarray convert --orient RAS+``).

The default conversion keeps the source's voxel order, so converting back gives the original
file bit for bit. The published ``mlarray`` package instead reorients NIfTI to RAS+ (array axes
running toward Right, Anterior, Superior, world in RAS), as nibabel's ``as_closest_canonical``
does; ``--orient RAS+`` (or any three letters, e.g. ``LPS``) gives that. Only axes are permuted
and flipped (no resampling): every voxel keeps its value and its world position, an oblique image
gets the closest orientation and stays oblique.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..affines import convert_coord_system
from ..optpkg import optional_import
from ._record import ConversionError, ImageRecord

__all__ = ["reorient", "parse_orientation"]

_AXIS = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}


def parse_orientation(code: str) -> str:
    """``"RAS+"``/``"ras"``/``"LPS"`` -> ``"RAS"``; a clear error for anything else."""
    letters = str(code).strip().upper().rstrip("+")
    if len(letters) != 3 or any(c not in _AXIS for c in letters) or len({_AXIS[c] for c in letters}) != 3:
        raise ConversionError(str(code), "is not an orientation code",
                              "give three letters, one each of R/L, A/P, S/I, e.g. RAS+ or LPS")
    return letters


def reorient(record: ImageRecord, code: str) -> ImageRecord:
    """A copy of ``record`` whose spatial axes run along ``code`` (world expressed in ``code``'s system)."""
    ornt = optional_import("nibabel.orientations", feature="reorienting (--orient)", extra="convert")
    axcodes2ornt, inv_ornt_aff = ornt.axcodes2ornt, ornt.inv_ornt_aff
    io_orientation, ornt_transform = ornt.io_orientation, ornt.ornt_transform
    target = parse_orientation(code)
    cs = str(record.coord_system or "unknown").upper().rstrip("+")
    spatial = record.spatial_axes
    if len(spatial) != 3 or len(cs) != 3 or any(c not in _AXIS for c in cs):
        raise ConversionError(record.source.get("path", "input"),
                              f"cannot reorient: {len(spatial)} spatial axes in coordinate system "
                              f"{record.coord_system!r}",
                              "--orient needs a 3-D image in an anatomical system (RAS, LPS, ...)")
    data = np.asanyarray(record.array)
    rest = [k for k in range(data.ndim) if k not in spatial]
    moved = np.transpose(data, spatial + rest)
    aff_ras = convert_coord_system(record.affine(), cs, "RAS")
    transform = ornt_transform(io_orientation(aff_ras), axcodes2ornt(tuple(target)))
    # apply the permutation/flips to the first three (spatial) axes only
    out = moved
    for axis, flip in enumerate(transform[:, 1]):
        if flip == -1:
            out = np.flip(out, axis=axis)
    perm = [int(p) for p in np.argsort(transform[:, 0])]
    out = np.transpose(out, perm + list(range(3, out.ndim)))
    new_aff = aff_ras @ inv_ornt_aff(transform, moved.shape[:3])
    new_aff = convert_coord_system(new_aff, "RAS", target)
    spacing = np.linalg.norm(new_aff[:3, :3], axis=0)
    labels = ["spatial"] * 3 + [record.axis_labels[k] for k in rest]
    source = dict(record.source)
    source["reoriented"] = {"to": str(code), "array_axes_from": [spatial[p] for p in perm]}
    return dataclasses.replace(
        record, array=np.ascontiguousarray(out), spacing=[float(s) for s in spacing],
        origin=[float(v) for v in new_aff[:3, 3]], direction=(new_aff[:3, :3] / spacing[None, :]).tolist(),
        coord_system=str(code).strip().upper() if str(code).strip().endswith("+") else target,
        axis_labels=labels, source=source, levels=None,
    )
