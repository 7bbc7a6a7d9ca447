"""DICOM series -> :class:`ImageRecord` (via pydicom, imported lazily). Read only.

Array axis order: **(slice, row, col)** (plus a trailing ``channel`` axis for RGB data).
Slices are sorted by ImagePositionPatient projected on the slice normal
``n = row_cosines x col_cosines`` (ascending, as ITK does). Geometry is ITK's LPS:

* ``origin``    = ImagePositionPatient of the first sorted slice
* ``direction`` = columns ``[n, col_cosines, row_cosines]`` where ImageOrientationPatient
  is ``row_cosines + col_cosines`` (row_cosines = direction of increasing column index)
* ``spacing``   = ``[slice step, PixelSpacing[0] (between rows), PixelSpacing[1] (between cols)]``

so voxel ``(k, r, c)`` lies at ``IPP_k + col_cosines*PixelSpacing[0]*r + row_cosines*PixelSpacing[1]*c``.
This is ITK's (col, row, slice) image with the axes reversed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .._errors import CorruptFileError
from .._input_guard import check_decoded, check_dicom_file, dicom_frame_nbytes
from ._record import ConversionError, ImageRecord, json_clean

__all__ = ["read_dicom_series", "DicomSliceSpacingWarning"]

_DICOMDIR_UID = "1.2.840.10008.1.3.10"


class DicomSliceSpacingWarning(UserWarning):
    """Slices of a DICOM series are not evenly spaced (or are sheared); geometry is approximate."""


def _pydicom():
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover
        raise ImportError("reading DICOM needs pydicom: pip install 'mlarray[convert]'") from exc
    return pydicom


def _collect_files(path_or_files) -> tuple[list[str], str]:
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


def _floats(value, n: int | None = None):
    if value is None:
        return None
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if n is not None and len(out) != n:
        return None
    return out


def _json_dataset(ds) -> dict:
    """DICOM JSON model of ``ds`` without PixelData and without any binary values."""
    ds = ds.copy()
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):  # PixelData, Float/DoubleFloat PixelData
        if tag in ds:
            del ds[tag]

    def drop(_elem):
        return ""

    try:
        model = ds.to_json_dict(bulk_data_threshold=-1, bulk_data_element_handler=drop,
                                suppress_invalid_tags=True)
    except Exception as exc:  # keep going: geometry matters more than the header dump
        return {"error": f"header could not be converted to DICOM JSON: {exc}"}

    def strip(obj):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if isinstance(v, dict) and "BulkDataURI" in v:
                    continue
                out[k] = strip(v)
            return out
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return json_clean(strip(model))


def _fg_value(frame_item, shared_item, seq: str, attr: str):
    """Value of ``attr`` in functional group ``seq``: per-frame first, then shared."""
    for item in (frame_item, shared_item):
        if item is None:
            continue
        s = item.get(seq)
        if s is not None and len(s) and attr in s[0]:
            return s[0].get(attr)
    return None


def _slope_inter(slope, inter) -> tuple[float, float]:
    s = 1.0 if slope in (None, "") else float(slope)
    i = 0.0 if inter in (None, "") else float(inter)
    return s, i


def _apply_rescale(raw: np.ndarray, slopes: list[float], inters: list[float]):
    """Apply per-slice rescale; keep integers when slopes/intercepts are integers."""
    s = np.asarray(slopes, float)
    i = np.asarray(inters, float)
    if np.all(s == 1) and np.all(i == 0):
        return raw, False
    shape = (-1,) + (1,) * (raw.ndim - 1)
    if np.all(s == np.round(s)) and np.all(i == np.round(i)) and raw.dtype.kind in "iu":
        out = raw.astype(np.int64) * s.astype(np.int64).reshape(shape) + i.astype(np.int64).reshape(shape)
        lo, hi = (int(out.min()), int(out.max())) if out.size else (0, 0)
        for dt in (np.int16, np.int32):
            if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
                return out.astype(dt), True
        return out, True
    out = raw.astype(np.float32)
    out *= s.astype(np.float32).reshape(shape)
    out += i.astype(np.float32).reshape(shape)
    return out, True


def _geometry(iop, positions, pixel_spacing, thickness, where):
    """Sort order and (spacing, origin, direction) for slices at ``positions``."""
    row = np.asarray(iop[:3], float)
    col = np.asarray(iop[3:], float)
    normal = np.cross(row, col)
    nn = np.linalg.norm(normal)
    if nn < 1e-6:
        raise CorruptFileError(where, f"ImageOrientationPatient {iop} has parallel row/column vectors")
    normal /= nn
    pos = np.asarray(positions, float)
    proj = pos @ normal
    order = np.argsort(proj, kind="stable")
    proj_s = proj[order]
    info: dict = {}
    if len(pos) > 1:
        steps = np.diff(proj_s)
        if np.any(np.abs(steps) < 1e-4):
            dup = float(proj_s[np.argmin(np.abs(steps))])
            raise ConversionError(
                where, f"several slices share the same position along the slice normal ({dup:.4f} mm)",
                "the series mixes echoes, time points or acquisitions; pass the files of one of them")
        dz = float((proj_s[-1] - proj_s[0]) / (len(pos) - 1))
        info["slice_steps"] = [float(x) for x in steps]
        if np.ptp(steps) > max(1e-3, 1e-2 * abs(dz)):
            info["uneven_slice_spacing"] = True
            warnings.warn(f"{where}: slice spacing is uneven (steps {np.min(steps):.4g}..{np.max(steps):.4g} mm); "
                          f"using the mean step {dz:.4g} mm", DicomSliceSpacingWarning, stacklevel=3)
        ps = pixel_spacing or [1.0, 1.0]
        # in-plane offsets between slices (gantry tilt) are not representable by the 3x3 direction
        expected = pos[order[0]] + np.outer(proj_s - proj_s[0], normal)
        shear = float(np.max(np.linalg.norm(pos[order] - expected, axis=1)))
        if shear > max(1e-3, 1e-2 * min(ps)):
            info["sheared_by_mm"] = shear
            warnings.warn(f"{where}: slice positions are offset in-plane by up to {shear:.4g} mm "
                          "(gantry tilt?); geometry follows the slice normal like ITK", DicomSliceSpacingWarning,
                          stacklevel=3)
    else:
        dz = float(thickness) if thickness else 1.0
    ps = pixel_spacing or [1.0, 1.0]
    spacing = [abs(dz) if dz else 1.0, float(ps[0]), float(ps[1])]
    direction = np.stack([normal, col, row], axis=1)
    origin = pos[order[0]]
    return order, spacing, [float(x) for x in origin], direction.tolist(), info


def read_dicom_series(path_or_files, series_uid: str | None = None) -> ImageRecord:
    """Read one DICOM series (directory, single file or list of files) into an :class:`ImageRecord`.

    If the files hold several series and ``series_uid`` is None, the series with the most
    images is read, a warning names the others and they are listed in
    ``source["other_series"]``.
    """
    pydicom = _pydicom()
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
            others = [s["SeriesInstanceUID"] for s in summary if s["SeriesInstanceUID"] != chosen]
            warnings.warn(f"{where}: {len(series)} series found; reading the largest {chosen} "
                          f"({len(series[chosen])} files); others: {', '.join(others)}. "
                          "Pass series_uid= to choose.", UserWarning, stacklevel=2)
    items = series[chosen]
    other_series = [s for s in summary if s["SeriesInstanceUID"] != chosen]

    multi = [(f, ds) for f, ds in items if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi:
        if len(items) > 1:
            raise ConversionError(where, f"series {chosen} mixes {len(multi)} multi-frame files with "
                                         f"{len(items) - len(multi)} other files",
                                  "pass a single multi-frame file")
        rec = _read_multiframe(pydicom, multi[0][0], multi[0][1])
    else:
        rec = _read_single_frames(pydicom, items, where)
    rec.source["series_uid"] = chosen
    if other_series:
        rec.source["other_series"] = other_series
    if skipped:
        rec.source["skipped_files"] = [{"file": f, "reason": r} for f, r in skipped[:100]]
    return rec


def _photometric_labels(ds, ndim_frame: int) -> list[str]:
    return ["channel"] if ndim_frame == 3 else []


def _read_single_frames(pydicom, items, where) -> ImageRecord:
    geo = []
    for f, ds in items:
        ipp = _floats(ds.get("ImagePositionPatient"), 3)
        iop = _floats(ds.get("ImageOrientationPatient"), 6)
        geo.append((ipp, iop))
    rows_cols = {(int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1)) for _, ds in items}
    if len(rows_cols) > 1:
        raise ConversionError(where, f"slices have different sizes {sorted(rows_cols)}",
                              "pass the files of one series/acquisition")
    first_ds = items[0][1]
    pixel_spacing = _floats(first_ds.get("PixelSpacing"), 2) or _floats(first_ds.get("ImagerPixelSpacing"), 2)
    has_geo = all(ipp is not None and iop is not None for ipp, iop in geo)
    info: dict = {}
    if has_geo:
        iop0 = np.asarray(geo[0][1])
        for (f, _), (_, iop) in zip(items, geo):
            if not np.allclose(iop, iop0, atol=1e-4):
                raise ConversionError(f, f"ImageOrientationPatient {iop} differs from the first slice's {iop0.tolist()}",
                                      "the files are not one volume; pass one stack")
        thickness = first_ds.get("SpacingBetweenSlices") or first_ds.get("SliceThickness")
        order, spacing, origin, direction, info = _geometry(
            iop0, [g[0] for g in geo], pixel_spacing, thickness, where)
        coord_system = "LPS"
        labels = ["spatial", "spatial", "spatial"]
    else:
        order = np.argsort([int(ds.get("InstanceNumber", 0) or 0) for _, ds in items], kind="stable")
        ps = pixel_spacing or [1.0, 1.0]
        spacing = [1.0, float(ps[0]), float(ps[1])]
        origin = [0.0, 0.0, 0.0]
        direction = np.eye(3).tolist()
        coord_system = "unknown"
        labels = ["spatial", "spatial", "spatial"] if len(items) == 1 else ["frame", "spatial", "spatial"]
        if len(items) > 1:
            spacing, origin, direction = spacing[1:], [0.0, 0.0], np.eye(2).tolist()

    check_decoded(where, len(items) * dicom_frame_nbytes(first_ds), f"the series ({len(items)} slices)")
    raw = None
    slopes, inters, positions, instances, sop = [], [], [], [], []
    for out_i, idx in enumerate(order):
        f, hdr = items[int(idx)]
        try:
            ds = pydicom.dcmread(f)
            frame = ds.pixel_array
        except Exception as exc:
            raise CorruptFileError(f, f"pixel data could not be decoded ({type(exc).__name__}: {exc})") from exc
        if raw is None:
            raw = np.empty((len(items),) + frame.shape, dtype=frame.dtype)
        raw[out_i] = frame
        s, i = _slope_inter(hdr.get("RescaleSlope"), hdr.get("RescaleIntercept"))
        slopes.append(s)
        inters.append(i)
        positions.append(geo[int(idx)][0])
        instances.append(json_clean(hdr.get("InstanceNumber")))
        sop.append(str(hdr.get("SOPInstanceUID", "") or ""))
    data, applied = _apply_rescale(raw, slopes, inters)
    labels = labels + _photometric_labels(first_ds, raw.ndim - 1)
    first_hdr = items[int(order[0])][1]
    source = {"dicom": _json_dataset(first_hdr), "slice_positions": json_clean(positions),
              "instance_numbers": instances, "sop_instance_uids": sop,
              "files": [os.path.basename(items[int(i)][0]) for i in order]}
    source.update(json_clean(info))
    return _record(data, raw.dtype, spacing, origin, direction, coord_system, labels,
                   bool(pixel_spacing or has_geo), source, slopes, inters, applied)


def _record(data, stored_dtype, spacing, origin, direction, coord_system, labels, in_mm: bool, source: dict,
            slopes: list, inters: list, applied) -> ImageRecord:
    """The ImageRecord of a slice series or a multi-frame file (rescale recorded per slice if it varies)."""
    return ImageRecord(
        array=data, spacing=[float(x) for x in spacing], origin=[float(x) for x in origin],
        direction=direction, coord_system=coord_system, axis_labels=labels,
        axis_units=["mm"] * len(spacing) if in_mm else None,
        source=source, source_format="dicom",
        intensity={"rescale_slope": slopes if len(set(slopes)) > 1 else slopes[0],
                   "rescale_intercept": inters if len(set(inters)) > 1 else inters[0],
                   "applied": applied, "stored_dtype": str(stored_dtype)},
    )


def _read_multiframe(pydicom, f, hdr) -> ImageRecord:
    nframes = int(hdr.NumberOfFrames)
    per = hdr.get("PerFrameFunctionalGroupsSequence")
    shared_seq = hdr.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq is not None and len(shared_seq) else None
    if per is not None and len(per) != nframes:
        raise CorruptFileError(f, f"PerFrameFunctionalGroupsSequence has {len(per)} items for {nframes} frames")
    frame_items = list(per) if per is not None else [None] * nframes

    positions, iops, slopes, inters = [], [], [], []
    ps = None
    thickness = None
    for item in frame_items:
        positions.append(_floats(_fg_value(item, shared, "PlanePositionSequence", "ImagePositionPatient"), 3))
        iops.append(_floats(_fg_value(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
                    or _floats(hdr.get("ImageOrientationPatient"), 6))
        s, i = _slope_inter(
            _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleSlope") or hdr.get("RescaleSlope"),
            _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleIntercept")
            or hdr.get("RescaleIntercept"))
        slopes.append(s)
        inters.append(i)
        if ps is None:
            ps = _floats(_fg_value(item, shared, "PixelMeasuresSequence", "PixelSpacing"), 2)
        if thickness is None:
            thickness = (_fg_value(item, shared, "PixelMeasuresSequence", "SpacingBetweenSlices")
                         or _fg_value(item, shared, "PixelMeasuresSequence", "SliceThickness"))
    ps = ps or _floats(hdr.get("PixelSpacing"), 2)
    if all(p is None for p in positions) and hdr.get("ImagePositionPatient") is not None and nframes == 1:
        positions = [_floats(hdr.ImagePositionPatient, 3)]
    has_geo = all(p is not None for p in positions) and all(o is not None for o in iops)
    info: dict = {}
    if has_geo:
        iop0 = np.asarray(iops[0])
        if not all(np.allclose(o, iop0, atol=1e-4) for o in iops):
            raise ConversionError(f, "frames have different ImageOrientationPatient",
                                  "this multi-frame file is not a single volume")
        order, spacing, origin, direction, info = _geometry(iop0, positions, ps, thickness, f)
        labels = ["spatial", "spatial", "spatial"]
        coord_system = "LPS"
    else:
        order = np.arange(nframes)
        p2 = ps or [1.0, 1.0]
        spacing, origin, direction = [float(p2[0]), float(p2[1])], [0.0, 0.0], np.eye(2).tolist()
        labels = ["frame", "spatial", "spatial"]
        coord_system = "unknown"
    check_decoded(f, nframes * dicom_frame_nbytes(hdr), f"the file ({nframes} frames)")
    try:
        ds = pydicom.dcmread(f)
        frames = ds.pixel_array
    except Exception as exc:
        raise CorruptFileError(f, f"pixel data could not be decoded ({type(exc).__name__}: {exc})") from exc
    if frames.ndim == (2 if int(hdr.get("SamplesPerPixel", 1) or 1) == 1 else 3):
        frames = frames[None]
    if not np.array_equal(order, np.arange(nframes)):
        frames = frames[order]
    slopes = [slopes[i] for i in order]
    inters = [inters[i] for i in order]
    data, applied = _apply_rescale(frames, slopes, inters)
    labels = labels + _photometric_labels(hdr, frames.ndim - 1)
    source = {"dicom": _json_dataset(hdr), "slice_positions": json_clean([positions[i] for i in order]),
              "frame_order": [int(i) for i in order], "files": [os.path.basename(f)]}
    source.update(json_clean(info))
    return _record(data, frames.dtype, spacing, origin, direction, coord_system, labels,
                   bool(ps or has_geo), source, slopes, inters, applied)
