"""ImageRecord <-> MLArray, and whole-file conversion with atomic outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ._record import ConversionError, ImageRecord

__all__ = ["record_to_mlarray", "mlarray_to_record", "convert_file", "output_name", "companion_outputs"]


def record_to_mlarray(record: ImageRecord, *, patch_size: Any = "default", is_seg: Optional[bool] = None):
    """Wrap a record as an (unsaved) MLArray with its geometry, header and class table."""
    from .. import MLArray
    from ..meta import Meta

    seg = record.is_seg if is_seg is None else is_seg
    spatial = {"spacing": record.spacing, "origin": record.origin, "direction": record.direction,
               "coord_system": record.coord_system}
    if record.axis_labels:
        spatial["axis_labels"] = list(record.axis_labels)
    if record.axis_units:
        spatial["axis_units"] = list(record.axis_units)
    extra = dict(record.extra or {})
    if record.intensity:
        extra["intensity"] = record.intensity
    meta = Meta(spatial=spatial, source=record.source, source_format=record.source_format,
                is_seg=seg, classes=record.classes, extra=extra)
    array = record.array
    if seg and np.issubdtype(np.dtype(array.dtype), np.floating):
        arr = np.asarray(array)
        if not np.all(np.mod(arr, 1) == 0):
            raise ConversionError(record.source.get("path", "input"), "is marked as a segmentation but holds "
                                  "non-integer values", "drop --seg, or round the labels first")
        array = arr.astype(_smallest_int(arr))
    return MLArray(array, meta=meta, patch_size=patch_size, compressed=False)  # saved next: compress once


def _smallest_int(arr: np.ndarray):
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for dt in (np.uint8, np.uint16, np.int16, np.int32, np.int64):
        if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
            return dt
    return np.int64


def mlarray_to_record(img, *, lazy: bool = False) -> ImageRecord:
    """An ImageRecord (geometry in the file's coord_system) for writing another format.

    With ``lazy``, ``array`` and ``levels`` are the file's lazy level arrays (read by region, or
    whole through ``np.asarray``), so a writer that streams (OME-Zarr) never holds the image.
    """
    meta = img.meta
    n = img.spatial_ndim
    sp = meta.spatial
    labels = sp.axis_labels or ["spatial"] * img.ndim
    levels = img.levels if lazy else None
    return ImageRecord(
        array=levels[0] if lazy else img.to_numpy(),
        levels=(levels[1:] or None) if lazy else None,
        spacing=list(sp.spacing or [1.0] * n),
        origin=list(sp.origin or [0.0] * n),
        direction=[list(r) for r in (sp.direction or np.eye(n).tolist())],
        coord_system=sp.coord_system or "unknown",
        axis_labels=list(labels),
        axis_units=list(sp.axis_units) if sp.axis_units else None,
        source=dict(meta.source),
        source_format=meta.source_format or "mlarray",
        is_seg=meta.is_seg,
        classes=meta.classes,
        extra=dict(meta.extra) if meta.extra else None,
        intensity=_intensity(meta),
    )


def _intensity(meta) -> Optional[dict]:
    """The source's intensity record (scaling, stored dtype) kept in ``extra`` at conversion."""
    extra = meta.extra.to_mapping() if hasattr(meta.extra, "to_mapping") else dict(meta.extra or {})
    value = extra.get("intensity")
    return dict(value) if isinstance(value, dict) else None


def output_name(src: str | os.PathLike, suffix: str = ".mla") -> str:
    """``ct.nii.gz`` -> ``ct.mla``; a DICOM directory ``series/`` -> ``series.mla``."""
    name = Path(os.fspath(src).rstrip("/")).name
    for ext in (".nii.gz", ".ome.tiff", ".ome.tif", ".nii", ".nrrd", ".nhdr", ".tiff", ".tif", ".dcm", ".mla"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    else:
        from .formats.registry import strip_extension

        name = strip_extension(name)
    return name + suffix


def convert_file(src: str, dst: str, *, patch_size: Any = "default", seg: Optional[bool] = None,
                 progress: Optional[Callable[[int, int], None]] = None, orient: Optional[str] = None,
                 reference: Optional[str] = None, labels=None, **write_kw) -> str:
    """Convert one file (or DICOM directory) to ``dst``; the output appears atomically or not at all.

    ``orient`` ("RAS+", "LPS", ...) reorients the voxel axes on the way (see :mod:`._orient`); by
    default the source's voxel order is kept so converting back restores the original exactly.
    ``reference`` is the DICOM series a segmentation belongs to (reading a DICOM SEG, or writing one).
    Label images that come with the source (OME-Zarr ``labels/``) are written beside ``dst`` as
    ``<stem>_label-<name>.mla``; ``labels`` (``.mla`` segmentations) go into an OME-Zarr output's
    ``labels/``. ``write_kw`` reaches the writer (e.g. ``ngff_version`` for OME-Zarr).
    """
    from .. import MLArray
    from .._file.atomic import atomic_output
    from . import read_any, write_any
    from .formats.registry import companion_name, writes_own_output

    src, dst = os.fspath(src), os.fspath(dst)
    if dst.endswith(".mla"):
        kw = {"is_seg": True} if seg and src.lower().endswith((".nii", ".nii.gz")) else {}
        if reference is not None and os.path.isdir(src) or src.lower().endswith((".dcm", ".dicom")):
            kw["reference"] = reference
        record = mlarray_to_record(MLArray.open(src)) if src.endswith(".mla") else read_any(src, **kw)
        if orient:
            from ._orient import reorient

            record = reorient(record, orient)
        img = record_to_mlarray(record, patch_size=patch_size, is_seg=seg)
        img.save(dst, progress=progress, levels=record.levels or None)  # a pyramidal TIFF keeps its levels
        for name, extra in (record.companions or {}).items():
            record_to_mlarray(extra, patch_size=patch_size).save(companion_name(dst, name),
                                                                 levels=extra.levels or None)
        return dst
    if not src.endswith(".mla"):
        raise ConversionError(src, "one side of a conversion must be an .mla file",
                              "convert to .mla first, then to the other format")
    img = MLArray.open(src)
    if not img.meta.has_array:
        raise ConversionError(src, "holds metadata only; there is no image to write", "convert an image file")
    record = mlarray_to_record(img, lazy=True)  # the writers read it whole or (OME-Zarr) by region
    if orient:
        from ._orient import reorient

        record = reorient(record, orient)
    if labels:
        record.companions = {output_name(p, ""): mlarray_to_record(MLArray.open(p), lazy=True) for p in labels}
    if writes_own_output(dst):  # MetaImage header + data, Zarr directories (before the folder test:
        write_any(record, dst, **write_kw)  # an existing store is a folder too): atomic in their own way
        return dst
    if _is_dicom_target(dst):
        from .dicom_write import write_dicom

        return write_dicom(record, dst, mla_path=src, reference=reference)
    with atomic_output(dst) as tmp:
        write_any(record, tmp, **write_kw)
    return dst


def companion_outputs(src: str, dst: str) -> list[str]:
    """The ``<stem>_label-<name>.mla`` files :func:`convert_file` wrote beside ``dst`` for ``src``'s labels."""
    from .formats.omezarr import is_zarr_store, label_names
    from .formats.registry import companion_name

    if not os.fspath(dst).endswith(".mla") or not is_zarr_store(src):
        return []
    try:
        names = label_names(src)
    except Exception:  # the conversion itself reports an unreadable store
        return []
    return [p for p in (companion_name(os.fspath(dst), n) for n in names) if os.path.exists(p)]


def _is_dicom_target(dst: str) -> bool:
    """A folder (existing, or a path ending in a separator) or a ``.dcm`` path receives DICOM."""
    return os.path.isdir(dst) or dst.endswith(("/", os.sep)) or dst.lower().endswith((".dcm", ".dicom"))
