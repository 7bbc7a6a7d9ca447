"""Siemens MOSAIC images (fMRI, diffusion): each file holds one volume, its slices tiled in one image.

ImageType names ``MOSAIC``; the Siemens CSA header says how many slices the tiles hold and which way
the slices run. nibabel's ``nicom`` reads both and unpacks the tiles (``MosaicWrapper``): its data are
``(row, col, slice)`` and its affine maps them to LPS. Here they become this package's DICOM layout,
``(slice, row, col)`` with direction ``[slice normal, column cosines, row cosines]`` (see
:mod:`._dicom_common`), and the files of a series (time points, diffusion directions) a leading
``temporal`` axis in InstanceNumber order. A file whose tiles cannot be unpacked is refused: read as
a plain image, a mosaic is a grid of tiles, not a slice.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Any, Optional

import numpy as np

from .._errors import CorruptFileError
from .._untrusted.input_guard import check_decoded, dicom_frame_nbytes
from ..optpkg import optional_import
from ._dicom_common import apply_rescale, json_dataset, slope_inter
from ._record import ConversionError, ImageRecord, json_clean

__all__ = ["is_mosaic", "read_mosaic"]


def is_mosaic(ds: Any) -> bool:
    """ImageType names MOSAIC (Siemens' tiled multi-slice image)."""
    image_type = ds.get("ImageType") or []
    values = [image_type] if isinstance(image_type, str) else list(image_type)
    return any(str(v).strip().upper() == "MOSAIC" for v in values)


def _wrapper(pydicom: ModuleType, f: str) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel's "highly experimental" notice, given on import
        dicomwrappers = optional_import("nibabel.nicom.dicomwrappers", feature="unpacking Siemens MOSAIC DICOM",
                                        extra="convert")
    try:
        ds = pydicom.dcmread(f)
    except Exception as exc:
        raise CorruptFileError(f, f"not readable ({type(exc).__name__}: {exc})") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            w = dicomwrappers.wrapper_from_data(ds)
        except Exception as exc:
            raise CorruptFileError(f, f"ImageType says MOSAIC but its Siemens CSA header could not be read "
                                      f"({type(exc).__name__}: {exc})") from exc
    if not getattr(w, "is_mosaic", False):
        raise ConversionError(f, "ImageType says MOSAIC but the Siemens CSA header that gives the number of tiles "
                                 "(NumberOfImagesInMosaic) is missing, so the tiles cannot be unpacked into slices",
                              "convert the series from the scanner's export with its CSA header kept (an "
                              "anonymiser may have removed it), or to NIfTI with dcm2niix")
    return ds, w


def _volume(ds: Any, w: Any, f: str) -> tuple[np.ndarray, np.ndarray]:
    """(unscaled (row, col, slice) array, LPS affine) of one mosaic file, with the tile layout checked."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    tiles = int(w.mosaic_size)
    tile_rows, tile_cols, nslices = (int(v) for v in w.image_shape)
    if tiles * tile_rows != rows or tiles * tile_cols != cols or nslices > tiles * tiles or nslices < 1:
        raise CorruptFileError(f, f"Siemens MOSAIC: its {rows}x{cols} image does not divide into the {tiles}x{tiles} "
                                  f"tiles of {tile_rows}x{tile_cols} that its CSA header declares for {nslices} "
                                  "slices (cut, resized or damaged pixel data), so it cannot be unpacked into slices")
    check_decoded(f, dicom_frame_nbytes(ds), "the MOSAIC image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = np.asarray(w.get_unscaled_data())
            affine = np.asarray(w.affine, float)
        except Exception as exc:
            raise CorruptFileError(f, f"Siemens MOSAIC could not be unpacked ({type(exc).__name__}: {exc})") from exc
    if data.shape != (tile_rows, tile_cols, nslices) or affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise CorruptFileError(f, f"Siemens MOSAIC unpacked to {data.shape} with affine {affine.tolist()}; "
                                  f"expected {(tile_rows, tile_cols, nslices)} with a finite geometry")
    return data, affine


def read_mosaic(pydicom: ModuleType, items: list[tuple[str, Any]], where: str) -> ImageRecord:
    """The MOSAIC files ``items`` ((path, header) of one series) as one volume, or volumes over time."""
    items = sorted(items, key=lambda it: (int(it[1].get("InstanceNumber", 0) or 0), it[0]))
    check_decoded(where, len(items) * dicom_frame_nbytes(items[0][1]), f"the MOSAIC series ({len(items)} files)")
    volumes: list[np.ndarray] = []
    slopes: list[float] = []
    inters: list[float] = []
    affine: Optional[np.ndarray] = None
    first_ds: Any = None
    for f, _hdr in items:
        ds, w = _wrapper(pydicom, f)
        data, aff = _volume(ds, w, f)
        data = np.transpose(data, (2, 0, 1))  # (row, col, slice) -> (slice, row, col)
        if affine is None:
            affine, first_ds = aff, ds
        elif data.shape != volumes[0].shape or not np.allclose(aff, affine, atol=1e-3):
            raise ConversionError(f, "this MOSAIC volume lies on another grid than the series' first one "
                                     f"({os.path.basename(items[0][0])})", "pass the files of one acquisition")
        volumes.append(data)
        s, i = slope_inter(ds.get("RescaleSlope"), ds.get("RescaleIntercept"))
        slopes.append(s)
        inters.append(i)
    if affine is None:  # items is never empty (the caller found MOSAIC files); said plainly if it ever is
        raise ConversionError(where, "the series holds no MOSAIC files", "pass the files of one series")
    raw = np.stack(volumes) if len(volumes) > 1 else volumes[0]
    flat = raw.reshape((len(volumes), -1)) if len(volumes) > 1 else raw.reshape((1, -1))
    data, applied = apply_rescale(flat, slopes, inters)
    data = data.reshape(raw.shape)
    cols_world = affine[:3, [2, 0, 1]]  # slice, row, col steps in LPS
    spacing = np.linalg.norm(cols_world, axis=0)
    direction = cols_world / spacing[None, :]
    source = {"dicom": json_dataset(first_ds), "files": [os.path.basename(f) for f, _ in items],
              "instance_numbers": [json_clean(h.get("InstanceNumber")) for _, h in items],
              "sop_instance_uids": [str(h.get("SOPInstanceUID", "") or "") for _, h in items],
              "mosaic": {"tiles_per_side": int(first_ds.Rows) // int(volumes[0].shape[1]),
                         "slices": int(volumes[0].shape[0]), "unpacked_by": "nibabel.nicom"}}
    labels = (["temporal"] if len(volumes) > 1 else []) + ["spatial"] * 3
    return ImageRecord(
        array=data, spacing=[float(v) for v in spacing], origin=[float(v) for v in affine[:3, 3]],
        direction=direction.tolist(), coord_system="LPS", axis_labels=labels,
        axis_units=["mm"] * 3, source=source, source_format="dicom",
        intensity={"rescale_slope": slopes[0] if len(set(slopes)) == 1 else slopes,
                   "rescale_intercept": inters[0] if len(set(inters)) == 1 else inters,
                   "applied": applied, "stored_dtype": str(raw.dtype)},
    )
