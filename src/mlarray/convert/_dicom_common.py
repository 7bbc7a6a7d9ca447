"""Shared DICOM helpers: value parsing, rescale, header as DICOM JSON, and slice-stack geometry.

Geometry convention of every DICOM reader (ITK's, with the array axes reversed): array axes are
**(slice, row, col)**, world is LPS, and

* ``origin``    = ImagePositionPatient of the first slice after sorting along the slice normal
* ``direction`` = columns ``[normal, col_cosines, row_cosines]`` with ``normal = row x col``
  (ImageOrientationPatient is ``row_cosines + col_cosines``)
* ``spacing``   = ``[slice step, PixelSpacing[0] (between rows), PixelSpacing[1] (between cols)]``

Images that carry no patient geometry (Secondary Capture, ultrasound, photographs) are placed the
way ITK places them: origin 0, ImageOrientationPatient ``1\\0\\0\\0\\1\\0``, frames 1 mm apart
(or SpacingBetweenSlices); ``source["dicom_geometry"]`` says ``"implicit"`` and ``coord_system`` is
``"unknown"``, because that frame is ITK's convention, not the patient's: no viewer may label it
with anatomical directions. Frames of such a multi-frame file that are a cine loop (see
:func:`cine_interval`) are a time axis rather than a stack of slices.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any, Optional, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike

from .._errors import CorruptFileError, LimitExceededError
from .._metadata.channels import TIME_INTERVAL, VALUE_UNIT
from .._untrusted.input_guard import check_decoded, dicom_frame_nbytes
from ..optpkg import have, optional_import
from ._record import ConversionError, ImageRecord, json_clean
from .formats._micro import axis_units as _micro_axis_units
from .formats._micro import time_fields

__all__ = ["floats", "fg_value", "slope_inter", "apply_rescale", "json_dataset", "stack_geometry",
           "implicit_positions", "make_record", "DicomSliceSpacingWarning", "IDENTITY_IOP", "pydicom_module",
           "SEG_SOP_CLASS", "RTDOSE_SOP_CLASS", "is_cine", "cine_interval", "dose_grid_scaling",
           "DicomPixelSpacingWarning", "in_plane_spacing", "ASSUMED_PIXEL_SPACING"]

IDENTITY_IOP = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTDOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"
_FRAME_TIME, _FRAME_TIME_VECTOR = 0x00181063, 0x00181065  # FrameIncrementPointer targets that mean time
# Modalities whose multi-frame images are cine loops (PS3.3 US, XA/RF, endoscopy multi-frame IODs)
_CINE_MODALITIES = frozenset({"US", "XA", "RF", "ES", "IVUS"})


class DicomSliceSpacingWarning(UserWarning):
    """Slices of a DICOM series are not evenly spaced (or are sheared); geometry is approximate."""


class DicomPixelSpacingWarning(UserWarning):
    """A DICOM image has no PixelSpacing: its pixel size is ImagerPixelSpacing (at the detector) or assumed."""


# ITK's pixel size for an image that states none (and ours, so that exports open where ITK opens the original)
ASSUMED_PIXEL_SPACING = [1.0, 1.0]


def pydicom_module() -> ModuleType:
    return optional_import("pydicom", feature="reading DICOM", extra="convert")


def floats(value: Any, n: int | None = None) -> list[float] | None:
    """A list of floats from a DICOM multi-value, or None when absent/malformed/wrong length."""
    if value is None:
        return None
    try:
        out = [float(v) for v in (value if isinstance(value, (list, tuple)) or hasattr(value, "__iter__")
                                   and not isinstance(value, str) else [value])]
    except (TypeError, ValueError):
        return None
    if n is not None and len(out) != n:
        return None
    if not all(np.isfinite(out)):
        return None
    return out


def positive_spacing(values: Optional[Sequence[float]]) -> list[float] | None:
    """PixelSpacing-like values, or None when any is zero/negative (some CR files store 0\\0)."""
    if values is None or any(v <= 0 for v in values):
        return None
    return [float(v) for v in values]


def in_plane_spacing(found: Optional[list[float]], hdr: Any, where: str, source: dict,
                     *, has_geometry: bool) -> list[float] | None:
    """The pixel spacing to use: ``found`` (PixelSpacing, from the functional groups or the header) when it
    is there; else ImagerPixelSpacing; else None (:func:`stack_geometry` then uses
    :data:`ASSUMED_PIXEL_SPACING`). Anything but PixelSpacing is said in a :class:`DicomPixelSpacingWarning`
    and recorded in ``source`` (``pixel_spacing_from`` or ``pixel_spacing_assumed``), which
    ``mlarray validate`` reports.

    ImagerPixelSpacing (projection radiography: CR, DX, mammography, XA) is measured at the detector
    (PS3.3 10.7.1.3); GDCM, so ITK, uses it as the pixel size of those images, and so do we, so an
    export opens where ITK opens the original. Sizes in the patient are smaller by the geometric
    magnification, which the warning names when the header estimates it.
    """
    if found:
        return found
    imager = positive_spacing(floats(hdr.get("ImagerPixelSpacing"), 2))
    missing = _spacing_problem(hdr, "PixelSpacing", "0028,0030")
    if imager:
        source["pixel_spacing_from"] = "ImagerPixelSpacing"
        magnification = floats(hdr.get("EstimatedRadiographicMagnificationFactor"), 1)
        smaller = (f" (EstimatedRadiographicMagnificationFactor {magnification[0]:g})" if magnification
                   else "")
        warnings.warn(f"{where}: {missing}; the pixel size is ImagerPixelSpacing (0018,1164), {imager[0]:g} x "
                      f"{imager[1]:g} mm, measured at the detector: sizes in the patient are smaller by the "
                      f"radiographic magnification{smaller}", DicomPixelSpacingWarning, stacklevel=3)
        return imager
    source["pixel_spacing_assumed"] = list(ASSUMED_PIXEL_SPACING)
    unit = "mm" if has_geometry else "(no unit: the image has no patient geometry either)"
    # an ultrasound states sizes per region of the image (B-mode, Doppler: cm, s, cm/s), not one pixel size;
    # ITK (SimpleITK 2.5) does not use them either
    regions = ("; its SequenceOfUltrasoundRegions (kept in source.dicom) gives physical sizes per region of "
               "the image" if hdr.get("SequenceOfUltrasoundRegions") else "")
    warnings.warn(f"{where}: {missing}; {_spacing_problem(hdr, 'ImagerPixelSpacing', '0018,1164')}; the pixel "
                  f"size is assumed to be {ASSUMED_PIXEL_SPACING[0]:g} x {ASSUMED_PIXEL_SPACING[1]:g} {unit}, so "
                  f"distances and sizes in it are not physical{regions}", DicomPixelSpacingWarning, stacklevel=3)
    return None


def _spacing_problem(hdr: Any, keyword: str, tag: str) -> str:
    """``"no PixelSpacing (0028,0030)"``, or what is wrong with the value the header holds."""
    value = hdr.get(keyword)
    if value is None or value == "":
        return f"no {keyword} ({tag})"
    text = str(value) if isinstance(value, str) or not hasattr(value, "__iter__") else "\\".join(map(str, value))
    return f"{keyword} ({tag}) is {text}, not two positive numbers"


def fg_value(frame_item: Any, shared_item: Any, seq: str, attr: str) -> Any:
    """Value of ``attr`` in functional group ``seq``: per-frame first, then shared."""
    for item in (frame_item, shared_item):
        if item is None:
            continue
        s = item.get(seq)
        if s is not None and len(s) and attr in s[0]:
            return s[0].get(attr)
    return None


def slope_inter(slope: Any, inter: Any) -> tuple[float, float]:
    s = 1.0 if slope in (None, "") else float(slope)
    i = 0.0 if inter in (None, "") else float(inter)
    return s, i


def dose_grid_scaling(hdr: Any) -> float | None:
    """DoseGridScaling (3004,000E) of an RT Dose, or None for other images (and a dose without a usable one).

    An RT Dose stores integers; the dose is the stored value times DoseGridScaling, in DoseUnits
    (PS3.3 C.8.8.3.4). The readers fold it into the rescale slope, so the converted values are the
    dose: pydicom's ``apply_modality_lut`` (3.0) and SimpleITK (2.5) leave the integers unscaled.
    """
    is_dose = (str(hdr.get("SOPClassUID", "") or "") == RTDOSE_SOP_CLASS
               or str(hdr.get("Modality", "") or "").upper() == "RTDOSE")
    value = floats(hdr.get("DoseGridScaling"), 1) if is_dose else None
    return value[0] if value and value[0] > 0 else None


def apply_rescale(raw: np.ndarray, slopes: list[float], inters: list[float]) -> tuple[np.ndarray, bool]:
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
    real = raw.astype(np.float32)
    real *= s.astype(np.float32).reshape(shape)
    real += i.astype(np.float32).reshape(shape)
    return real, True


def json_dataset(ds: Any) -> dict:
    """DICOM JSON model of ``ds`` without PixelData and without any binary values."""
    ds = ds.copy()
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):  # PixelData, Float/DoubleFloat PixelData
        if tag in ds:
            del ds[tag]

    def drop(_elem: object) -> str:
        return ""

    try:
        model = ds.to_json_dict(bulk_data_threshold=-1, bulk_data_element_handler=drop,
                                suppress_invalid_tags=True)
    except Exception as exc:  # keep going: geometry matters more than the header dump
        return {"error": f"header could not be converted to DICOM JSON: {exc}"}

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if not (isinstance(v, dict) and "BulkDataURI" in v)}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return json_clean(strip(model))


def _frame_pointers(hdr: Any) -> list[int]:
    fip = hdr.get("FrameIncrementPointer")
    if fip is None:
        return []
    try:
        return [int(t) for t in (fip if isinstance(fip, (list, tuple)) or hasattr(fip, "__len__")
                                 and not isinstance(fip, int) else [fip])]
    except (TypeError, ValueError):
        return []


def is_cine(hdr: Any) -> bool:
    """Whether the frames of a multi-frame file without patient geometry are successive times.

    FrameIncrementPointer names what changes from frame to frame (PS3.3 C.7.6.6): FrameTime or
    FrameTimeVector mean time; a pointer to anything else (NM energy windows, detectors) does not.
    Without a pointer, a frame time or cine rate, or a cine modality (ultrasound, angiography),
    says the frames are a loop.
    """
    pointers = _frame_pointers(hdr)
    if pointers:
        return any(p in (_FRAME_TIME, _FRAME_TIME_VECTOR) for p in pointers)
    if any(hdr.get(k) not in (None, "") for k in ("FrameTime", "FrameTimeVector", "CineRate")):
        return True
    return str(hdr.get("Modality", "") or "").upper() in _CINE_MODALITIES


def cine_interval(hdr: Any) -> float | None:
    """Seconds between frames of a cine loop: FrameTime (ms), an even FrameTimeVector (ms), or 1/CineRate."""
    frame_time = floats(hdr.get("FrameTime"), 1)
    if frame_time and frame_time[0] > 0:
        return frame_time[0] / 1000.0
    vector = floats(hdr.get("FrameTimeVector"))
    if vector and len(vector) > 1:
        steps = np.asarray(vector[1:], float)  # the first entry is 0: the time of frame 1
        if np.all(steps > 0) and np.ptp(steps) <= 1e-6 * float(np.max(steps)):
            return float(steps[0]) / 1000.0
    rate = floats(hdr.get("CineRate"), 1)
    if rate and rate[0] > 0:
        return 1.0 / rate[0]
    return None


def implicit_positions(n: int, step: float) -> list[list[float]]:
    """Frame positions ITK assumes for images without ImagePositionPatient: 0, step, 2 step along z."""
    return [[0.0, 0.0, float(k) * step] for k in range(n)]


def stack_geometry(iop: Union[np.ndarray, Sequence[float]], positions: Sequence[Sequence[float]],
                   pixel_spacing: Optional[Sequence[float]], thickness: Any,
                   where: str) -> tuple[np.ndarray, list[float], list[float], list[list[float]], dict]:
    """Sort order and (spacing, origin, direction, info) for slices at ``positions``."""
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
    ps = pixel_spacing or ASSUMED_PIXEL_SPACING
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
    spacing = [abs(dz) if dz else 1.0, float(ps[0]), float(ps[1])]
    direction = np.stack([normal, col, row], axis=1)
    return order, spacing, [float(x) for x in pos[order[0]]], direction.tolist(), info


def make_record(data: np.ndarray, stored_dtype: DTypeLike,
                geometry: tuple[Sequence[float], Sequence[float], Any], source: dict, slopes: list, inters: list,
                applied: bool,
                *, in_mm: bool, channel: bool, cine_seconds: Optional[float] = None,
                dose_scaling: Union[float, Sequence[Optional[float]], None] = None) -> ImageRecord:
    """The ImageRecord of a slice stack (rescale recorded per slice only when it varies).

    ``dose_scaling``: the RT Dose's DoseGridScaling (one per slice when they differ), already part of
    ``slopes`` (see :func:`dose_grid_scaling`); recorded as ``intensity["dose_grid_scaling"]`` so that
    no one applies the copy in ``source["dicom"]`` a second time. A stack placed in ITK's implicit
    frame (``source["dicom_geometry"] == "implicit"``) gets no anatomical ``coord_system``.
    ``cine_seconds`` (a cine loop: the frames are times, not slices; 0 when the interval is not known)
    makes the first axis temporal and the image 2-D, its world axes in array order.
    """
    spacing, origin, direction = geometry
    implicit = source.get("dicom_geometry") == "implicit"
    extra: dict = {}
    unit = _value_unit(source.get("dicom"), dose_scaling is not None)
    if unit:
        extra[VALUE_UNIT] = unit
    if cine_seconds is not None:
        labels = ["temporal", "spatial", "spatial"] + (["channel"] if channel else [])
        spacing, origin, direction = list(spacing)[1:], [0.0, 0.0], np.eye(2).tolist()
        extra = {**extra, **time_fields(cine_seconds or None)}
        units = ["s" if TIME_INTERVAL in extra else None] + ["mm" if in_mm else None] * 2 + ([None] if channel else [])
        axis_units = _micro_axis_units(labels, units)
    else:
        labels = ["spatial"] * 3 + (["channel"] if channel else [])
        axis_units = ["mm"] * 3 if in_mm else None
    intensity = {"rescale_slope": slopes if len(set(slopes)) > 1 else slopes[0],
                 "rescale_intercept": inters if len(set(inters)) > 1 else inters[0],
                 "applied": applied, "stored_dtype": str(stored_dtype)}
    if dose_scaling is not None:
        intensity["dose_grid_scaling"] = dose_scaling
    return ImageRecord(
        array=data, spacing=[float(x) for x in spacing], origin=[float(x) for x in origin],
        direction=direction, coord_system="unknown" if implicit else "LPS", axis_labels=labels,
        axis_units=axis_units, extra=extra or None,
        source=source, source_format="dicom", intensity=intensity,
    )


def _value_unit(header: Any, dose: bool) -> str:
    """The unit of the rescaled values, from the header as DICOM JSON (``""`` when it names none)."""
    if not isinstance(header, dict):
        return ""

    def first(tag: str) -> str:
        return str(((header.get(tag) or {}).get("Value") or [""])[0] or "").upper()

    if first("00080060") == "CT":
        return "HU"  # CT values after the rescale are Hounsfield units (PS3.3 C.8.2.1.1.7)
    if dose and first("30040002") == "GY":
        return "Gy"  # DoseUnits; RELATIVE (a fraction of an implicit reference dose) has no unit
    return ""


def frames_array(ds: Any, nframes: int, where: str) -> np.ndarray:
    """Decoded pixel data as (frames, rows, cols[, samples]), in ITK's presentation.

    Like ITK: PALETTE COLOR becomes RGB through its lookup table, MONOCHROME1 is inverted to
    MONOCHROME2 (so brighter means more everywhere; ``source["monochrome1_inverted"]`` records
    it), and files pydicom's plugins refuse (some 12-bit JPEG extended streams) are decoded by
    GDCM directly when python-gdcm is installed. A clear error names missing decoders.
    """

    _check_samples_per_pixel(ds, where)
    check_decoded(where, max(nframes, int(ds.get("NumberOfFrames", 1) or 1)) * dicom_frame_nbytes(ds),
                  "the DICOM file")  # before pydicom allocates what the header declares
    try:
        arr = ds.pixel_array
    except MemoryError:
        raise LimitExceededError(where, f"decoding its {max(nframes, 1)} frame(s) ran out of memory (the decoder "
                                        "holds the encoded and the decoded pixels at once); convert it on a "
                                        "machine with more memory", "max_read_bytes") from None
    except Exception as exc:
        arr = _gdcm_decode(getattr(ds, "filename", None))
        if arr is None:
            ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
            raise CorruptFileError(where, f"pixel data could not be decoded (transfer syntax {ts}: "
                                          f"{type(exc).__name__}: {exc}); the 'convert' extra installs the "
                                          "decoders (pylibjpeg with its plugins, python-gdcm)") from exc
    photometric = str(ds.get("PhotometricInterpretation", "") or "").upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if photometric == "PALETTE COLOR" and samples == 1:
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
        if arr.dtype == np.uint16 and int(ds.get("BitsStored", 8) or 8) <= 8:
            arr = (arr >> 8).astype(np.uint8)  # 16-bit LUT entries for 8-bit data, as ITK presents them
        samples = 3
    elif photometric == "MONOCHROME1":
        if arr.dtype.kind == "u":
            arr = (2 ** int(ds.get("BitsStored", arr.dtype.itemsize * 8)) - 1) - arr
        elif arr.dtype.kind == "i":
            arr = np.invert(arr)
    if arr.ndim == (2 if samples == 1 else 3):
        arr = arr[None]
    if arr.shape[0] != nframes:
        raise CorruptFileError(where, f"decoded {arr.shape[0]} frames, NumberOfFrames says {nframes}")
    return arr


def _check_samples_per_pixel(ds: Any, where: str) -> None:
    """SamplesPerPixel is 1 (grey, palette), 3 (colour) or 4 (retired ARGB/CMYK), PS3.3 C.7.6.3.1.1.
    GDCM aborts the whole process (a C++ exception it cannot throw) on any other value, so a file
    declaring one is refused before a decoder sees it (stress/fuzz_struct.py, seed 7 case 127)."""
    raw = ds.get("SamplesPerPixel", 1)
    try:
        samples = int(1 if raw is None or raw == "" else raw)
    except (TypeError, ValueError):
        samples = -1
    if samples not in (1, 3, 4):
        raise CorruptFileError(where, f"SamplesPerPixel is {raw!r}; DICOM allows 1, 3 or 4 (damaged header)")


_GDCM_TYPES = {"UINT8": np.uint8, "INT8": np.int8, "UINT16": np.uint16, "INT16": np.int16,
               "UINT32": np.uint32, "INT32": np.int32, "FLOAT32": np.float32, "FLOAT64": np.float64}


def _gdcm_decode(path: Optional[str]) -> np.ndarray | None:
    """Grayscale pixel data decoded by GDCM itself (ITK's DICOM library), or None."""
    if not path:
        return None
    if not have("gdcm"):  # an optional decoder, tried after pydicom's own
        return None
    import gdcm
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        return None
    img = reader.GetImage()
    pf = img.GetPixelFormat()
    dtype = _GDCM_TYPES.get(pf.GetScalarTypeAsString())
    if dtype is None or pf.GetSamplesPerPixel() != 1:
        return None
    dims = [img.GetDimension(i) for i in range(img.GetNumberOfDimensions())]
    raw = img.GetBuffer().encode("utf-8", "surrogateescape")
    shape = (dims[2] if len(dims) > 2 else 1, dims[1], dims[0])
    if len(raw) != int(np.prod(shape)) * np.dtype(dtype).itemsize:
        return None
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return arr[0] if shape[0] == 1 else arr.copy()
