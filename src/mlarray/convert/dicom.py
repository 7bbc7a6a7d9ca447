"""DICOM series, multi-frame files and DICOM SEG -> :class:`ImageRecord` (pydicom, lazily).

Array axis order: **(slice, row, col)** plus a trailing ``channel`` axis for colour data.
Slices are sorted by ImagePositionPatient projected on the slice normal
``n = row_cosines x col_cosines`` (ascending, as ITK does). Geometry is ITK's LPS:

* ``origin``    = ImagePositionPatient of the first sorted slice
* ``direction`` = columns ``[n, col_cosines, row_cosines]`` where ImageOrientationPatient
  is ``row_cosines + col_cosines`` (row_cosines = direction of increasing column index)
* ``spacing``   = ``[slice step, PixelSpacing[0] (between rows), PixelSpacing[1] (between cols)]``

so voxel ``(k, r, c)`` lies at ``IPP_k + col_cosines*PixelSpacing[0]*r + row_cosines*PixelSpacing[1]*c``.
This is ITK's (col, row, slice) image with the axes reversed. Multi-frame files are read by
:mod:`._dicom_multiframe`, segmentations by :mod:`.dicom_seg`; images without patient geometry
are placed as ITK places them (see :mod:`._dicom_common`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Optional, Union

import numpy as np

from .._errors import CorruptFileError
from .._types import PathLike
from .._untrusted.input_guard import check_decoded, check_dicom_file, dicom_frame_nbytes
from ._dicom_common import (
    IDENTITY_IOP,
    SEG_SOP_CLASS,
    DicomPixelSpacingWarning,
    DicomSliceSpacingWarning,
    apply_rescale,
    dose_grid_scaling,
    floats,
    frames_array,
    implicit_positions,
    in_plane_spacing,
    json_dataset,
    make_record,
    positive_spacing,
    pydicom_module,
    slope_inter,
    stack_geometry,
)
from ._dicom_mosaic import is_mosaic, read_mosaic
from ._dicom_multiframe import read_multiframe
from ._record import ConversionError, ImageRecord, json_clean
from .dicom_seg import read_seg

__all__ = ["read_dicom_series", "DicomSliceSpacingWarning", "DicomPixelSpacingWarning"]

_DICOMDIR_UID = "1.2.840.10008.1.3.10"


def _collect_files(path_or_files: Union[PathLike, Iterable[PathLike]]) -> tuple[list[str], str]:
    if isinstance(path_or_files, (str, os.PathLike)):
        p = os.fspath(path_or_files)
        if os.path.isdir(p):
            files = sorted(str(f) for f in Path(p).rglob("*") if f.is_file())
            return files, p
        if not os.path.exists(p):
            raise ConversionError(p, "file or directory does not exist", "check the path")
        return [p], p
    files = [os.fspath(f) for f in path_or_files]
    if not files:
        raise ConversionError("<empty file list>", "no DICOM files given")
    for f in files:
        if not os.path.exists(f):
            raise ConversionError(f, "file does not exist", "check the file list")
    return files, files[0] if len(files) == 1 else os.path.dirname(files[0]) or "."


def read_dicom_series(path_or_files: Union[PathLike, Iterable[PathLike]], series_uid: str | None = None,
                      reference: Optional[PathLike] = None) -> ImageRecord:
    """Read one DICOM series (directory, single file or list of files) into an :class:`ImageRecord`.

    If the files hold several series and ``series_uid`` is None, the series with the most
    images is read, a warning names the others and they are listed in
    ``source["other_series"]``. A DICOM SEG becomes a label map on its source image's grid;
    ``reference`` (a folder or files of that series) tells where the source images are when they
    are not beside the SEG (see :func:`.dicom_seg.read_seg`).
    """
    pydicom = pydicom_module()
    from pydicom.errors import InvalidDicomError

    files, where = _collect_files(path_or_files)
    headers = []
    skipped = []
    for f in files:
        check_dicom_file(f)  # size and deflate bombs, before pydicom reads anything
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, AttributeError) as exc:
            skipped.append((f, f"{type(exc).__name__}: {exc}"))
            continue
        msop = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "") or "")
        if msop == _DICOMDIR_UID or "Rows" not in ds:
            skipped.append((f, "not an image"))
            continue
        headers.append((f, ds))
    if not headers:
        if len(files) == 1 and not os.path.isdir(where):
            raise CorruptFileError(files[0], f"not a readable DICOM image ({skipped[0][1] if skipped else 'no data'})")
        raise ConversionError(where, f"no DICOM image files found among {len(files)} file(s)",
                              "point to a directory of .dcm slices of one series")

    series: dict[str, list] = {}
    for f, ds in headers:
        series.setdefault(str(ds.get("SeriesInstanceUID", "") or "<none>"), []).append((f, ds))
    summary = [{"SeriesInstanceUID": uid, "files": len(items),
                "SeriesDescription": str(items[0][1].get("SeriesDescription", "") or ""),
                "Modality": str(items[0][1].get("Modality", "") or "")} for uid, items in series.items()]
    if series_uid is not None:
        if series_uid not in series:
            raise ConversionError(where, f"series {series_uid!r} not found",
                                  "available series: " + "; ".join(f"{s['SeriesInstanceUID']} ({s['files']} files, "
                                                                   f"{s['Modality']} {s['SeriesDescription']!r})"
                                                                   for s in summary))
        chosen = series_uid
    else:
        chosen = max(series, key=lambda u: len(series[u]))
        if len(series) > 1:
            others = [str(s["SeriesInstanceUID"]) for s in summary if s["SeriesInstanceUID"] != chosen]
            warnings.warn(f"{where}: {len(series)} series found; reading the largest {chosen} "
                          f"({len(series[chosen])} files); others: {', '.join(others)}. "
                          "Choose with --series-uid UID (mlarray convert) or series_uid= (Python).", UserWarning,
                          stacklevel=2)
    items = series[chosen]
    other_series = [s for s in summary if s["SeriesInstanceUID"] != chosen]

    multi = [(f, ds) for f, ds in items if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi:
        if len(items) > 1:
            raise ConversionError(where, f"series {chosen} mixes {len(multi)} multi-frame files with "
                                         f"{len(items) - len(multi)} other files",
                                  "pass a single multi-frame file")
        f0, hdr0 = multi[0]
        rec = _read_one_file(pydicom, f0, hdr0, reference)
    elif len(items) == 1 and str(items[0][1].get("SOPClassUID", "")) == SEG_SOP_CLASS:
        rec = _read_one_file(pydicom, items[0][0], items[0][1], reference)
    elif any(is_mosaic(ds) for _, ds in items):
        rec = read_mosaic(pydicom, items, where)
    else:
        rec = _read_single_frames(pydicom, items, where)
    rec.source["series_uid"] = chosen
    if other_series:
        rec.source["other_series"] = other_series
    if skipped:
        rec.source["skipped_files"] = [{"file": f, "reason": r} for f, r in skipped[:100]]
    return rec




def _read_one_file(pydicom: ModuleType, f: str, hdr: Any, reference: Optional[PathLike]) -> ImageRecord:
    if str(hdr.get("SOPClassUID", "")) == SEG_SOP_CLASS:
        return read_seg(f, reference=reference)

    return read_multiframe(pydicom, f, hdr)


def _read_single_frames(pydicom: ModuleType, items: list[tuple[str, Any]], where: str) -> ImageRecord:
    rows_cols = {(int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1)) for _, ds in items}
    if len(rows_cols) > 1:
        raise ConversionError(where, f"slices have different sizes {sorted(rows_cols)}",
                              "pass the files of one series/acquisition")
    geo = [(floats(ds.get("ImagePositionPatient"), 3), floats(ds.get("ImageOrientationPatient"), 6))
           for _, ds in items]
    first_ds = items[0][1]
    ipps = [ipp for ipp, _ in geo if ipp is not None]
    iops = [iop for _, iop in geo if iop is not None]
    has_geo = len(ipps) == len(iops) == len(geo)
    source: dict = {}
    pixel_spacing = in_plane_spacing(positive_spacing(floats(first_ds.get("PixelSpacing"), 2)), first_ds,
                                     items[0][0] if len(items) == 1 else where, source, has_geometry=has_geo)
    thickness = first_ds.get("SpacingBetweenSlices") or first_ds.get("SliceThickness")
    if has_geo:
        iop0 = np.asarray(iops[0])
        for (f, _), iop in zip(items, iops):
            if not np.allclose(iop, iop0, atol=1e-4):
                raise ConversionError(f, f"ImageOrientationPatient {iop} differs from the first slice's "
                                         f"{iop0.tolist()}", "the files are not one volume; pass one stack")
        positions = ipps
    else:  # no patient geometry: ITK's implicit frame, files in InstanceNumber order
        numbers = [int(ds.get("InstanceNumber", 0) or 0) for _, ds in items]
        rank = np.argsort(np.argsort(numbers, kind="stable"), kind="stable")
        iop0 = np.asarray(IDENTITY_IOP)
        step = float(first_ds.get("SpacingBetweenSlices") or 1.0)
        positions = [implicit_positions(len(items), step)[int(r)] for r in rank]
        source["dicom_geometry"] = "implicit"
        thickness = None
    order, spacing, origin, direction, info = stack_geometry(iop0, positions, pixel_spacing, thickness, where)

    check_decoded(where, len(items) * dicom_frame_nbytes(first_ds), f"the series ({len(items)} slices)")
    raw: Optional[np.ndarray] = None
    slopes: list[float] = []
    inters: list[float] = []
    instances: list[Any] = []
    sop: list[str] = []
    doses: list[Optional[float]] = []
    for out_i, idx in enumerate(order):
        f, hdr = items[int(idx)]
        try:
            ds = pydicom.dcmread(f)
        except Exception as exc:
            raise CorruptFileError(f, f"not readable ({type(exc).__name__}: {exc})") from exc
        frame = frames_array(ds, 1, f)[0]
        if raw is None:
            raw = np.empty((len(items),) + frame.shape, dtype=frame.dtype)
        raw[out_i] = frame
        s, i = slope_inter(hdr.get("RescaleSlope"), hdr.get("RescaleIntercept"))
        dose = dose_grid_scaling(hdr)  # an RT Dose: the stored integers times DoseGridScaling are the dose
        doses.append(dose)
        slopes.append(s * (dose or 1.0))
        inters.append(i * (dose or 1.0))
        instances.append(json_clean(hdr.get("InstanceNumber")))
        sop.append(str(hdr.get("SOPInstanceUID", "") or ""))
    if raw is None:  # items is never empty (the caller found image files); said plainly if it ever is
        raise ConversionError(where, "the series holds no slices", "pass the files of one series")
    data, applied = apply_rescale(raw, slopes, inters)
    first_hdr = items[int(order[0])][1]
    if str(first_ds.get("PhotometricInterpretation", "") or "").upper() == "MONOCHROME1":
        source["monochrome1_inverted"] = True  # stored as MONOCHROME2, as ITK presents it
    source.update({"dicom": json_dataset(first_hdr), "slice_positions": json_clean([positions[int(i)] for i in order]),
                   "instance_numbers": instances, "sop_instance_uids": sop,
                   "files": [os.path.basename(items[int(i)][0]) for i in order]})
    source.update(json_clean(info))
    return make_record(data, raw.dtype, (spacing, origin, direction), source, slopes, inters, applied,
                       in_mm=bool(pixel_spacing or has_geo), channel=raw.ndim == 4,
                       dose_scaling=doses[0] if len(set(doses)) == 1 else doses)
