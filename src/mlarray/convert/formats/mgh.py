"""FreeSurfer MGH / MGZ <-> :class:`ImageRecord` (via nibabel, imported lazily).

SimpleITK ships no MGH ImageIO (ITK's MGHIO is a remote module left out of its wheels), so this
format goes through nibabel, which FreeSurfer's own Python tools use. Axis order is nibabel's
``(i, j, k[, frame])``; geometry is the vox2ras affine nibabel derives from ``Mdc``, ``delta`` and
``Pxyz_c``, in RAS. MGH stores that geometry as float32, so it is exact to float32 precision only
(about 1e-5 mm at 100 mm from the centre). The frame axis is labelled ``temporal`` (FreeSurfer's
4-D volumes are time series); ``tr``/``te``/``ti``/``flip_angle`` are kept in ``source`` and
written back.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np

from ..._errors import CorruptFileError
from ..._types import PathLike
from ...affines import AffineError, convert_coord_system
from ...optpkg import optional_import
from .._record import ConversionError, ImageRecord, geometry_from_affine, json_clean

__all__ = ["read_mgh", "write_mgh"]

_SCAN_PARAMETERS = ("tr", "flip_angle", "te", "ti", "fov")
# MGH stores uint8, int16, int32 and float32 only; other dtypes go to the first that holds them.
_MGH_DTYPES = (np.uint8, np.int16, np.int32, np.float32)


def _nib() -> ModuleType:
    return optional_import("nibabel", feature="reading and writing MGH/MGZ", extra="convert")


def read_mgh(path: PathLike) -> ImageRecord:
    """Read a ``.mgh`` or ``.mgz`` volume."""
    nib = _nib()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConversionError(path, "file does not exist", "check the path")
    try:
        img = nib.freesurfer.MGHImage.from_filename(path)
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for damaged headers and data
        raise CorruptFileError(path, f"not a readable MGH file ({type(exc).__name__}: {exc})") from None
    header = img.header
    source = {key: json_clean(header[key]) for key in header.keys()}
    source["affine"] = json_clean(img.affine)
    spacing, origin, direction = geometry_from_affine(img.affine)
    labels = ["spatial"] * 3 + ["temporal"] * (data.ndim - 3)
    return ImageRecord(array=data, spacing=spacing, origin=origin, direction=direction, coord_system="RAS",
                       axis_labels=labels, axis_units=["mm"] * 3, source=source, source_format="mgh")


def _mgh_dtype(data: np.ndarray, path: str) -> np.ndarray:
    if data.dtype in [np.dtype(t) for t in _MGH_DTYPES]:
        return data
    if data.dtype == np.bool_:
        return data.astype(np.uint8)
    lo, hi = (data.min(), data.max()) if data.size else (0, 0)
    for t in _MGH_DTYPES:
        dt: np.dtype = np.dtype(t)
        info = np.iinfo(dt) if dt.kind in "iu" else None
        if info is not None and np.issubdtype(data.dtype, np.integer) and info.min <= lo and hi <= info.max:
            return data.astype(dt)
    out = data.astype(np.float32)
    if not np.array_equal(out.astype(data.dtype), data, equal_nan=data.dtype.kind == "f"):
        warnings.warn(f"{path}: MGH cannot store {data.dtype}; values were rounded to float32",
                      UserWarning, stacklevel=3)
    return out


def write_mgh(record: ImageRecord, path: PathLike) -> None:
    """Write ``record`` as MGH (``.mgz``: gzip-compressed).

    Spatial axes go first (in ITK's index order, see :mod:`mlarray._voxel_order`), then the frame axis (MGH
    holds at most one). LPS geometry is
    converted to RAS; scan parameters from an MGH ``source`` are restored.
    """

    nib = _nib()
    path = os.fspath(path)
    data = np.asanyarray(record.array)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    if len(labels) != data.ndim:
        raise ConversionError(path, f"record has {data.ndim} axes but {len(labels)} axis labels")
    # ITK's index order (a DICOM's (slice, row, col) reversed), the index order MGH shares with NIfTI
    spatial = record.index_order([i for i, lab in enumerate(labels) if str(lab).startswith("spatial")])
    rest = [i for i in range(data.ndim) if i not in spatial]
    if len(spatial) > 3 or len(rest) > 1:
        raise ConversionError(path, f"MGH holds 3 spatial axes and one frame axis; the record has "
                                    f"{len(spatial)} spatial and {len(rest)} other axes")
    if spatial + rest != list(range(data.ndim)):
        data = np.transpose(data, spatial + rest)
    nsp = len(spatial)
    if nsp < 3:
        data = data.reshape(data.shape[:nsp] + (1,) * (3 - nsp) + data.shape[nsp:])
    small = record.index_affine()
    if small.shape[0] - 1 > 3:
        raise ConversionError(path, f"world space has {small.shape[0] - 1} dimensions; MGH needs 3")
    affine = np.eye(4)
    nw = small.shape[0] - 1
    affine[:nw, :nsp] = small[:nw, :nsp]
    affine[:nw, 3] = small[:nw, -1]
    cs = record.written_frame().upper().rstrip("+")
    if cs not in ("RAS", "UNKNOWN", "OTHER", ""):
        try:
            affine = convert_coord_system(affine, cs, "RAS")
        except AffineError as exc:
            raise ConversionError(path, f"coord_system {record.coord_system!r} cannot be written to MGH",
                                  "MGH needs RAS or LPS world coordinates") from exc
    img = nib.freesurfer.MGHImage(_mgh_dtype(data, path), affine)
    if record.source_format == "mgh":
        for key in _SCAN_PARAMETERS:
            value = record.source.get(key)
            if isinstance(value, (int, float)):
                img.header[key] = value
    try:
        img.to_filename(path)
    except Exception as exc:
        raise ConversionError(path, f"could not write MGH ({type(exc).__name__}: {exc})") from None
