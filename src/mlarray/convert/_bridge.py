"""ImageRecord <-> MLArray, and whole-file conversion with atomic outputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from .._array import MLArray
from .._file.atomic import atomic_output
from .._remote import is_url, named_path
from ..meta import Meta
from . import dicom_write, read_any
from ._deidentify import deidentified
from ._orient import reorient
from ._record import ConversionError, ImageRecord
from .formats import registry
from .formats.registry import companion_name, strip_extension

if TYPE_CHECKING:
    from .._data.levels import LevelArray

__all__ = ["record_to_mlarray", "mlarray_to_record", "convert_file", "check_local_output", "output_name", "read_mla",
           "write_mla", "write_dicom", "companion_outputs"]


def record_to_mlarray(record: ImageRecord, *, patch_size: Any = "default", is_seg: Optional[bool] = None) -> MLArray:
    """Wrap a record as an (unsaved) MLArray with its geometry, header and class table."""
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


def _smallest_int(arr: np.ndarray) -> type[np.integer]:
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for dt in (np.uint8, np.uint16, np.int16, np.int32, np.int64):
        if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
            return dt
    return np.int64


def mlarray_to_record(img: MLArray, *, lazy: bool = False) -> ImageRecord:
    """An ImageRecord (geometry in the file's coord_system) for writing another format.

    With ``lazy``, ``array`` and ``levels`` are the file's lazy level arrays (read by region, or
    whole through ``np.asarray``), so a writer that streams (OME-Zarr) never holds the image.
    """
    meta = img.meta
    n = img.spatial_ndim
    sp = meta.spatial
    array: np.ndarray | LevelArray
    if lazy:
        levels = img.levels
        array, smaller = levels[0], levels[1:] or None
    else:
        array, smaller = img.to_numpy(), None
    labels = sp.axis_labels or ["spatial"] * array.ndim
    return ImageRecord(
        array=array,
        levels=smaller,
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


def _intensity(meta: Meta) -> Optional[dict]:
    """The source's intensity record (scaling, stored dtype) kept in ``extra`` at conversion."""
    extra = meta.extra.to_mapping() if hasattr(meta.extra, "to_mapping") else dict(meta.extra or {})
    value = extra.get("intensity")
    return dict(value) if isinstance(value, dict) else None


def output_name(src: str | os.PathLike, suffix: str = ".mla") -> str:
    """``ct.nii.gz`` -> ``ct.mla``; a DICOM directory ``series/`` -> ``series.mla``; a URL by its file name."""
    path = named_path(src).rstrip("/" + os.sep)
    return strip_extension(Path(path).name, folder=os.path.isdir(path)) + suffix


def read_mla(path: str | os.PathLike, *, lazy: bool = False) -> ImageRecord:
    """The record of an ``.mla`` file, every chunk checksum verified before any pixel is used.

    ``lazy``: the record holds the file's level arrays instead of a copy (:func:`mlarray_to_record`).
    """
    img = MLArray.open(path, verify=True)
    if not img.meta.has_array:
        raise ConversionError(os.fspath(path), "holds metadata only; there is no image to write",
                              "convert an image file")
    return mlarray_to_record(img, lazy=lazy)


def write_mla(record: ImageRecord, path: str | os.PathLike, *, patch_size: Any = "default",
              is_seg: Optional[bool] = None, progress: Optional[Callable[[int, int], None]] = None) -> None:
    """Save ``record`` as ``.mla`` (atomically); label images that came with it go beside it."""
    img = record_to_mlarray(record, patch_size=patch_size, is_seg=is_seg)
    img.save(path, progress=progress, levels=record.levels or None)  # a pyramidal TIFF keeps its levels
    for name, extra in (record.companions or {}).items():
        record_to_mlarray(extra, patch_size=patch_size).save(companion_name(os.fspath(path), name),
                                                             levels=extra.levels or None)


def write_dicom(record: ImageRecord, path: str | os.PathLike, *, mla_path: Optional[str] = None,
                reference: Optional[str | os.PathLike] = None) -> str:
    """A DICOM series into a folder; a segmentation also as one DICOM SEG file (``.dcm``)."""
    p = os.fspath(path)
    if p.lower().endswith((".dcm", ".dicom")) and not record.is_seg:
        raise ConversionError(p, "a DICOM series is a folder of slice files, and only a segmentation "
                                 "becomes one .dcm file (a DICOM SEG)", "name a folder: end the path with '/'")
    return dicom_write.write_dicom(record, p, mla_path=mla_path, reference=reference)


def convert_file(src: str | os.PathLike, dst: str | os.PathLike, *, patch_size: Any = "default",
                 seg: Optional[bool] = None, progress: Optional[Callable[[int, int], None]] = None,
                 orient: Optional[str] = None, reference: Optional[str] = None,
                 labels: Optional[Sequence[str | os.PathLike]] = None, series_uid: Optional[str] = None,
                 deidentify: bool = False, **write_kw: Any) -> str:
    """Convert one file (or DICOM directory) to ``dst``; the output appears atomically or not at all.

    By default the source's voxel order is kept, so converting back restores the original exactly.
    Label images that come with the source (OME-Zarr ``labels/``) are written beside ``dst`` as
    ``<stem>_label-<name>.mla``. The folder ``dst`` goes into is created when missing.

    Parameters
    ----------
    src : str or os.PathLike
        The source file, DICOM series folder or OME-Zarr store. One of ``src`` and ``dst`` is an
        ``.mla`` file.
    dst : str or os.PathLike
        The output; its extension chooses the format (a folder receives a DICOM series).
    patch_size : int, sequence of int, None or "default"
        ``.mla`` output: the patch size its chunk layout is tuned for.
    seg : bool, optional
        The image is a segmentation (NIfTI input; ``.mla`` output stores ``is_seg``).
    progress : callable, optional
        ``progress(done, total)``, called as an ``.mla`` output is written.
    orient : str, optional
        Reorient the voxel axes on the way (``"RAS+"``, ``"LPS"``, ...; see :mod:`._orient`).
    reference : str, optional
        The DICOM series a segmentation belongs to (reading a DICOM SEG, or writing one).
    labels : sequence of str or os.PathLike, optional
        ``.mla`` segmentations to store in an OME-Zarr output's ``labels/``.
    series_uid : str, optional
        The series to read from a DICOM folder that holds several.
    deidentify : bool
        Drop patient identifiers from the ``source`` header the output keeps (the DICOM PS3.15 Basic
        Profile's attributes, private attributes, UIDs and file names; see :mod:`._deidentify`).
        By default ``source`` keeps the whole header. Needs ``pip install 'mlarray[deidentify]'``.
    **write_kw
        Further options of the writer (e.g. ``ngff_version`` for OME-Zarr).

    Returns
    -------
    str
        The path written (a DICOM SEG written into a folder: the ``.dcm`` file made inside it).

    Raises
    ------
    ConversionError
        Neither side is ``.mla``, the source cannot be read, or an option does not apply.
    CorruptFileError
        A damaged ``.mla`` source (a chunk whose checksum does not match), before anything is written.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    check_local_output(dst)
    src_fmt, dst_fmt = registry.detect(src), registry.detect_output(dst)
    if registry.MLA not in (src_fmt, dst_fmt):
        raise ConversionError(src, "one side of a conversion must be an .mla file",
                              "convert to .mla first, then to the other format")
    if is_url(src) and src_fmt is not registry.MLA:
        # other formats are read by their own libraries from local files: fetch it whole, then convert
        from .._remote.download import download  # the remote extra's transport, needed only here

        with tempfile.TemporaryDirectory(prefix=".mlarray-download-", dir=_output_folder(dst)) as folder:
            local = download(src, folder)
            return convert_file(local, dst, patch_size=patch_size, seg=seg, progress=progress, orient=orient,
                                reference=reference, labels=labels, series_uid=series_uid, deidentify=deidentify,
                                **write_kw)
    if src_fmt is registry.MLA:  # lazy: a writer that streams (OME-Zarr) never holds the image
        record = read_mla(src, lazy=True)
    else:
        read_kw = {"is_seg": True if seg else None, "series_uid": series_uid, "reference": reference}
        record = read_any(src, **{k: v for k, v in read_kw.items() if v is not None and k in src_fmt.read_options})
    if orient:
        record = reorient(record, orient)
    if labels:
        record.companions = {output_name(p, ""): read_mla(p, lazy=True) for p in labels}
    if deidentify:
        record = deidentified(record)
    given = {"patch_size": patch_size, "is_seg": seg, "progress": progress, "mla_path": src, "reference": reference}
    kw = {k: v for k, v in given.items() if k in dst_fmt.write_options}
    kw.update(write_kw)
    _output_folder(dst)
    if dst_fmt.atomic_writer:  # .mla, MetaImage, Zarr stores, DICOM folders: each appears whole its own way
        written = dst_fmt.write(record, dst, **kw)
        return written if isinstance(written, str) else dst
    with atomic_output(dst) as tmp:
        dst_fmt.write(record, tmp, **kw)
    return dst


def check_local_output(dst: str | os.PathLike) -> None:
    """Refuse an output that is a URL: conversions write local files only (sources may be URLs).

    Raises
    ------
    ConversionError
        ``dst`` is a URL (the message says to write locally, then upload).
    """
    if is_url(os.fspath(dst)):
        raise ConversionError(os.fspath(dst), "converting writes local files only (URLs are read)",
                              "write to a local path, then upload the file")


def _output_folder(dst: str) -> str:
    """The folder ``dst`` goes into, created when missing (a user naming an output in a new folder means that
    folder); a source fetched from a URL is downloaded there too, since that disk has room for the result and
    the system's temporary folder may be small."""
    parent = os.path.dirname(os.path.abspath(dst.rstrip("/" + os.sep)))
    os.makedirs(parent, exist_ok=True)
    return parent


def companion_outputs(src: str | os.PathLike, dst: str | os.PathLike) -> list[str]:
    """The ``<stem>_label-<name>.mla`` files :func:`convert_file` wrote beside ``dst`` for ``src``'s labels."""
    from .formats.omezarr import is_zarr_store, label_names

    if not os.fspath(dst).endswith(".mla") or not is_zarr_store(src):
        return []
    try:
        names = label_names(src)
    except Exception:  # the conversion itself reports an unreadable store
        return []
    return [p for p in (companion_name(os.fspath(dst), n) for n in names) if os.path.exists(p)]
