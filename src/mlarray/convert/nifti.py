"""NIfTI-1 / NIfTI-2 <-> :class:`ImageRecord` (via nibabel, imported lazily).

Axis order is nibabel's (i, j, k[, t]); geometry is nibabel's ``img.affine`` in RAS.

**sform / qform policy.** We follow nibabel (and FSL, SPM, FreeSurfer): the sform when
sform_code > 0, else the qform when qform_code > 0, else the pixdim fallback. ITK 5.4 uses the
sform only when sform_code is 1 (scanner) and otherwise prefers the qform, so the two disagree on
images registered to another space (sform_code 2 "aligned", 3 Talairach, 4 MNI): those are exactly
the files whose sform carries the registration, which ITK silently drops. Both transforms are kept
in ``source`` and written back unchanged, and a :class:`NiftiTransformWarning` names the distance
when they disagree.

Images with fewer than three dimensions get trailing singleton axes so that the full 3-D affine
(a 2-D slice still lies somewhere in the scanner) is kept; the original ``dim`` is restored on
export, so a 2-D NIfTI comes back 2-D. A vector image (vector intent, components in dim[5] with
dim[4] = 1) becomes ``(i, j, k, components)``. Scaled integers (scl_slope/scl_inter) are
stored as physical values: integers when slope and intercept are integers (CT in Hounsfield units
as int16), else float32 when the stored integers can be recovered exactly from them (float64
otherwise); export writes the original integers with the original scaling back.
"""

from __future__ import annotations

import base64
import os
import warnings
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._errors import CorruptFileError
from .._types import PathLike
from .._untrusted.input_guard import check_decoded, check_nifti_header
from ..optpkg import optional_import
from ._record import ConversionError, ImageRecord, flip_lps_ras, geometry_from_affine, json_clean

__all__ = ["read_nifti", "write_nifti", "NiftiTransformWarning", "seconds_per_time_unit"]


class NiftiTransformWarning(UserWarning):
    """A NIfTI file's sform and qform place the image differently (see the module docstring)."""

# NIfTI intent codes whose components are not independent samples along time.
_INTENT_LABEL = 1002
_VECTOR_INTENTS = {1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 2003, 2004, 2005}
# Header fields write_nifti derives from the data, the file layout or the geometry; every other field
# of a NIfTI source (Analyze's legacy ones too: regular, glmax, db_name, ...) is written back verbatim.
_DERIVED_FIELDS = {"sizeof_hdr", "dim", "datatype", "bitpix", "vox_offset", "scl_slope", "scl_inter", "magic",
                   "qform_code", "sform_code", "quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y",
                   "qoffset_z", "srow_x", "srow_y", "srow_z", "pixdim"}
# nibabel's names of the NIfTI time units (xyzt_units) -> MLArray axis units (pint/napari spellings), and the
# seconds in one unit of those that are times (extra["time_interval"] is in seconds)
_TIME_UNITS = {"sec": "s", "msec": "ms", "usec": "us", "hz": "Hz", "ppm": "ppm", "rads": "rad/s"}
_SECONDS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
_TEXT_FIELDS = {"descrip", "aux_file", "intent_name", "magic", "data_type", "db_name", "regular"}


def _nib() -> ModuleType:
    return optional_import("nibabel", feature="reading and writing NIfTI", extra="convert")


def _header_to_source(header: Any) -> dict:
    src: dict = {}
    for key in header.keys():
        src[key] = json_clean(header[key])
    exts: list[dict] = []
    for ext in header.extensions:
        code = int(ext.get_code())
        raw = ext.get_content()
        if not isinstance(raw, (bytes, bytearray)):
            try:
                # nibabel keeps non-bytes content for some codes and encodes it only in this private method
                raw = ext._mangle(raw)
            except Exception:
                raw = str(raw).encode("utf-8")
        entry: dict = {"code": code}
        try:
            entry["text"] = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            entry["base64"] = base64.b64encode(bytes(raw)).decode("ascii")
        exts.append(entry)
    if exts:
        src["extensions"] = exts
    return src


def read_nifti(path: PathLike, is_seg: bool | None = None) -> ImageRecord:
    """Read a ``.nii``/``.nii.gz`` (NIfTI-1 or -2) file into an :class:`ImageRecord`.

    ``is_seg=True`` keeps the raw stored integers (no scl_slope/inter); ``None`` guesses
    True only when the header intent is NIFTI_INTENT_LABEL.
    """
    nib = _nib()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConversionError(path, "file does not exist", "check the path")
    check_nifti_header(path)  # extension and voxel sizes, before nibabel reads them
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises many types for damaged headers
        raise CorruptFileError(path, f"not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ConversionError(path, f"nibabel read it as {type(img).__name__}, not NIfTI",
                              "convert it to .nii/.nii.gz first")
    header = img.header
    fmt = "nifti2" if isinstance(img, nib.Nifti2Image) else "nifti1"
    intent = int(header["intent_code"])
    if is_seg is None and intent == _INTENT_LABEL:
        is_seg = True

    # nibabel moves scl_slope/inter from the loaded header into the array proxy
    slope = getattr(img.dataobj, "slope", None)
    inter = getattr(img.dataobj, "inter", None)
    if slope is None:
        slope, inter = header.get_slope_inter()
    slope = None if slope is None else float(slope)
    inter = None if inter is None else float(inter)
    scaled = slope is not None and not (slope == 1 and (inter is None or inter == 0))
    itemsize = 8 if scaled and not is_seg else header.get_data_dtype().itemsize  # scaling makes float64
    check_decoded(path, int(np.prod(header.get_data_shape(), dtype=np.float64)) * itemsize, "the NIfTI header")
    try:
        if scaled and slope is not None:
            raw = np.asanyarray(img.dataobj.get_unscaled())
            data = raw if is_seg else _physical(raw, slope, inter)
        else:
            data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise CorruptFileError(path, f"image data could not be read ({type(exc).__name__}: {exc})") from exc
    intensity = {
        "scl_slope": json_clean(slope), "scl_inter": json_clean(inter),
        "applied": bool(scaled and not is_seg), "stored_dtype": str(header.get_data_dtype()),
    }

    while data.ndim < 3:
        data = data.reshape(data.shape + (1,))
    if data.ndim == 5 and data.shape[3] == 1:  # NIfTI's vector layout: components in dim[5], dim[4] = 1
        data = data.reshape(data.shape[:3] + data.shape[4:])
        labels = ["spatial"] * 3 + ["components" if intent in _VECTOR_INTENTS else "channel"]
    else:
        labels = ["spatial"] * 3 + (["temporal"] if data.ndim > 3 else [])
        labels += ["components" if intent in _VECTOR_INTENTS else "channel"] * max(0, data.ndim - 4)
    spacing, origin, direction = geometry_from_affine(img.affine)
    _warn_if_transforms_disagree(path, img, header)

    space_unit, time_unit = header.get_xyzt_units()
    axis_units, extra = _units_and_interval(header, labels, space_unit, time_unit)

    source = _header_to_source(header)
    source["affine"] = json_clean(img.affine)
    source["affine_source"] = ("sform" if int(header["sform_code"]) > 0
                               else "qform" if int(header["qform_code"]) > 0 else "fallback")
    source["time_unit"] = None if time_unit == "unknown" else time_unit

    return ImageRecord(
        array=data, spacing=spacing, origin=origin, direction=direction, coord_system="RAS",
        axis_labels=labels, axis_units=axis_units, source=source, source_format=fmt,
        is_seg=is_seg, intensity=intensity, extra=extra,
    )


def seconds_per_time_unit(time_unit: object) -> float | None:
    """Seconds in one NIfTI time unit (nibabel's name: ``"sec"``, ``"msec"``, ``"usec"``); None for the
    others (``"unknown"``, and Hz/ppm/rad/s, which make the fourth axis a spectrum, not a time)."""
    return _SECONDS.get(str(time_unit))


def _units_and_interval(header: Any, labels: list[str], space_unit: str,
                        time_unit: str) -> tuple[list[str] | None, dict | None]:
    """(axis units, extra) of the image: one unit per spatial axis, or one per axis when it has a
    time axis (the time unit from xyzt_units), and the time step pixdim[4] in seconds as
    ``extra["time_interval"]`` (MLArray's spacing covers the spatial axes only, as its affine does)."""
    space = None if space_unit == "unknown" else space_unit
    if "temporal" not in labels:
        return (None if space is None else [space] * 3), None
    tunit = _TIME_UNITS.get(time_unit)
    extra = None
    step = float(header["pixdim"][4])
    per_unit = seconds_per_time_unit(time_unit)
    if per_unit is not None and np.isfinite(step) and step > 0:
        extra = {"time_interval": step * per_unit}
    if space is None and tunit is None:
        return None, extra
    units = [space or ""] * 3 + [tunit or ""] + [""] * (len(labels) - 4)
    return units, extra


def _physical(raw: np.ndarray, slope: float, inter: float | None) -> np.ndarray:
    """Scaled values in the most compact exact type.

    Integer scaling of integers (CT's slope 1, intercept -1024) stays integer: Hounsfield units
    as int16, as DICOM converters and nnU-Net keep them, half the size of float32. Otherwise
    float32 when the stored integers can be recovered from it exactly, else float64.
    """
    inter = inter or 0.0
    if raw.dtype.kind in "iu" and float(slope).is_integer() and float(inter).is_integer():
        exact = _integer_physical(raw, int(slope), int(inter))
        if exact is not None:
            return exact
    f32 = raw.astype(np.float32) * np.float32(slope) + np.float32(inter)
    if raw.dtype.kind in "iu":
        back = _unscale(f32, slope, inter, raw.dtype)
        if back is not None and np.array_equal(back, raw):
            return f32
    return raw.astype(np.float64) * slope + inter


def _integer_physical(raw: np.ndarray, slope: int, inter: int) -> np.ndarray | None:
    """``raw * slope + inter`` in the smallest integer type holding its range (None beyond int64)."""
    if raw.size == 0:
        return raw.copy()
    ends = np.array([int(raw.min()), int(raw.max())], dtype=object) * slope + inter
    lo, hi = int(min(ends)), int(max(ends))
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            out = raw.astype(np.int64) * slope + inter
            return out.astype(dtype)
    return None


def _unscale(values: np.ndarray, slope: float, inter: float, dtype: DTypeLike) -> np.ndarray | None:
    """The stored integers behind scaled ``values``, or None when they do not fit ``dtype``."""
    raw = np.rint((values.astype(np.float64) - inter) / slope)
    info = np.iinfo(dtype)
    if raw.size and (raw.min() < info.min or raw.max() > info.max):
        return None
    return raw.astype(dtype)


def _warn_if_transforms_disagree(path: str, img: Any, header: Any) -> None:
    scode, qcode = int(header["sform_code"]), int(header["qform_code"])
    if scode <= 0 or qcode <= 0:
        return
    shape = np.asarray(header.get_data_shape()[:3] + (1,) * max(0, 3 - len(header.get_data_shape())))
    corners = np.array([[i, j, k, 1] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                        for k in (0, shape[2] - 1)], float)
    dist = np.linalg.norm((corners @ (header.get_sform() - header.get_qform()).T)[:, :3], axis=1).max()
    if dist > 0.05:  # beyond what float32 quaternions round to over a large field of view
        itk = "the sform too" if scode == 1 else "the qform"
        warnings.warn(f"{path}: sform (code {scode}) and qform (code {qcode}) differ by up to {dist:.3g} mm; "
                      f"using the sform as nibabel does (ITK uses {itk}); both are kept and written back",
                      NiftiTransformWarning, stacklevel=3)


def _text(value: object) -> bytes | str:
    if isinstance(value, dict) and "base64" in value:
        return base64.b64decode(value["base64"])
    return "" if value is None else str(value)


def write_nifti(record: ImageRecord, path: PathLike) -> None:
    """Write ``record`` as NIfTI (``.nii`` or ``.nii.gz``; NIfTI-2 when it came from NIfTI-2).

    Spatial axes go first (in ITK's index order: the record's order, reversed for a record from DICOM or
    SimpleITK, see :mod:`mlarray._voxel_order`), then temporal, then the rest. LPS
    geometry is converted to RAS. Header fields (descrip, intent, xyzt_units, cal_*,
    qform/sform codes, ...) are restored from ``record.source`` when it came from NIfTI.
    """
    nib = _nib()
    path = os.fspath(path)
    data = np.asanyarray(record.array)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    if len(labels) != data.ndim:
        raise ConversionError(path, f"record has {data.ndim} axes but {len(labels)} axis labels")
    # ITK's index order (a DICOM's (slice, row, col) reversed), as SimpleITK and dcm2niix write it
    spatial = record.index_order([i for i, lab in enumerate(labels) if str(lab).startswith("spatial")])
    if len(spatial) > 3:
        raise ConversionError(path, f"NIfTI holds at most 3 spatial axes, record has {len(spatial)}")
    temporal = [i for i, lab in enumerate(labels) if lab == "temporal" and i not in spatial]
    rest = [i for i in range(data.ndim) if i not in spatial and i not in temporal]
    order = spatial + temporal + rest
    if order != list(range(data.ndim)):
        data = np.transpose(data, order)
    nsp = len(spatial)
    if nsp < 3:  # insert singleton spatial axes after the existing spatial ones
        data = data.reshape(data.shape[:nsp] + (1,) * (3 - nsp) + data.shape[nsp:])
    vector = not temporal and len(rest) == 1
    if vector:  # components go to dim[5] (dim[4] = 1), where ITK and nibabel look for vectors
        data = data.reshape(data.shape[:3] + (1,) + data.shape[3:])
    if data.ndim > 7:
        raise ConversionError(path, f"NIfTI holds at most 7 axes, record has {data.ndim}")
    src = record.source if record.source_format in ("nifti1", "nifti2") else {}
    data = _original_dims(data, src)
    data, scaling = _stored_values(data, record.intensity or {}, src)

    aff_small = record.index_affine()
    affine = np.eye(4)
    nw = aff_small.shape[0] - 1
    if nw > 3:
        raise ConversionError(path, f"world space has {nw} dimensions; NIfTI needs at most 3")
    affine[:nw, :nsp] = aff_small[:nw, :nsp]
    affine[:nw, 3] = aff_small[:nw, -1]
    cs = record.written_frame().upper().rstrip("+")  # "RAS+" is the published package's "RAS"
    if cs == "LPS":
        affine = flip_lps_ras(affine)
    elif cs not in ("RAS", "UNKNOWN"):
        raise ConversionError(path, f"coord_system {record.coord_system!r} cannot be written to NIfTI",
                              "NIfTI needs RAS or LPS world coordinates")

    img_cls = nib.Nifti2Image if record.source_format == "nifti2" else nib.Nifti1Image
    img = img_cls(data, None)
    hdr = img.header
    hdr.set_data_dtype(data.dtype)
    if vector and "intent_code" not in src:
        hdr.set_intent("vector")

    _restore_fields(hdr, src, path)
    if not src and record.axis_units:
        space_units = record.spatial_units or [""]
        per_axis = len(record.axis_units) == len(labels)
        time_unit = {v: k for k, v in _TIME_UNITS.items()}.get(
            str(record.axis_units[temporal[0]]) if temporal and per_axis else "", "unknown")
        hdr.set_xyzt_units(xyz=space_units[0] if space_units[0] in ("mm", "meter", "micron") else "unknown",
                           t=time_unit)
    elif not src and record.axis_units is None and cs != "UNKNOWN":
        hdr.set_xyzt_units(xyz="mm")
    _set_time_step(hdr, record, temporal, src)

    scode = int(src.get("sform_code") or 0)
    qcode = int(src.get("qform_code") or 0)
    if not src or (scode == 0 and qcode == 0 and not _same_affine(src, affine)):
        # 1 = scanner-based world (RAS/LPS known); 2 = aligned to some other space
        scode = qcode = 1 if cs != "UNKNOWN" else 2
    img.set_sform(affine, scode)
    img.set_qform(affine, qcode)
    if src and _same_affine(src, affine):
        # geometry unchanged: restore both stored transforms verbatim (sform and qform may differ)
        for key in ("srow_x", "srow_y", "srow_z", "quatern_b", "quatern_c", "quatern_d",
                    "qoffset_x", "qoffset_y", "qoffset_z"):
            if src.get(key) is not None:
                hdr[key] = src[key]
        if src.get("pixdim"):
            pix = list(hdr["pixdim"])
            pix[0] = src["pixdim"][0]
            for k in range(1, 4):
                if src["pixdim"][k] is not None:
                    pix[k] = src["pixdim"][k]
            hdr["pixdim"] = pix

    if scaling is not None:
        hdr.set_slope_inter(*scaling)
    for ext in src.get("extensions") or []:
        content = ext["text"].encode("utf-8") if "text" in ext else base64.b64decode(ext.get("base64", ""))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdr.extensions.append(nib.nifti1.Nifti1Extension(int(ext["code"]), content))
    try:
        img.to_filename(path)
    except Exception as exc:
        raise ConversionError(path, f"could not write NIfTI ({type(exc).__name__}: {exc})") from exc


def _restore_fields(hdr: Any, src: dict, path: str) -> None:
    """Every header field of a NIfTI source that the data and geometry do not determine, verbatim,
    and pixdim[4:8] (time step and the other non-spatial steps, which nibabel would reset to 1)."""
    for key, value in src.items():
        if key in _DERIVED_FIELDS or key not in hdr or value is None:
            continue
        try:
            hdr[key] = _text(value) if key in _TEXT_FIELDS else value
        except (TypeError, ValueError, OverflowError) as exc:  # an edited or damaged source entry
            warnings.warn(f"{path}: header field {key} = {value!r} from the source could not be written back "
                          f"({exc}); nibabel's default is kept", UserWarning, stacklevel=3)
    pixdim = src.get("pixdim")
    if isinstance(pixdim, list) and len(pixdim) == 8:
        pix = list(hdr["pixdim"])
        for k in range(4, 8):
            if isinstance(pixdim[k], (int, float)):
                pix[k] = pixdim[k]
        hdr["pixdim"] = pix


def _set_time_step(hdr: Any, record: ImageRecord, temporal: list[int], src: dict) -> None:
    """pixdim[4] = the time axis' step (``extra["time_interval"]``, seconds) in the header's time unit
    (seconds when it names none); the source's own value stays when it says the same."""
    seconds = (record.extra or {}).get("time_interval")
    if not temporal or isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not np.isfinite(seconds) or seconds <= 0:
        return
    space_unit, time_unit = hdr.get_xyzt_units()
    if time_unit == "unknown" and not src:
        hdr.set_xyzt_units(xyz=space_unit, t="sec")
        time_unit = "sec"
    per_unit = seconds_per_time_unit(time_unit)
    if per_unit is None:  # the source's fourth axis is no time (Hz, ppm, unknown): its pixdim[4] stays
        return
    step = float(seconds) / per_unit
    pix = list(hdr["pixdim"])
    old = (src.get("pixdim") or [None] * 5)[4] if isinstance(src.get("pixdim"), list) else None
    pix[4] = old if isinstance(old, (int, float)) and np.isclose(old, step, rtol=1e-6, atol=0) else step
    hdr["pixdim"] = pix


def _original_dims(data: np.ndarray, src: dict) -> np.ndarray:
    """Reshape to the source file's ``dim`` when only singleton axes differ (2-D stays 2-D)."""
    dim = src.get("dim")
    if not isinstance(dim, list) or not dim or not isinstance(dim[0], int) or not 1 <= dim[0] <= 7:
        return data
    target = tuple(int(d) for d in dim[1: dim[0] + 1])
    if target != data.shape and [d for d in target if d != 1] == [d for d in data.shape if d != 1]:
        return data.reshape(target)
    return data


def _stored_values(data: np.ndarray, intensity: dict, src: dict) -> tuple[np.ndarray, tuple[Any, Any] | None]:
    """``(array to store, (slope, inter) or None)``: the original integers and scaling when exact."""
    slope, inter = intensity.get("scl_slope"), intensity.get("scl_inter") or 0.0
    stored = intensity.get("stored_dtype")
    if not src or slope is None or not stored:
        return data, None
    if not intensity.get("applied"):  # a segmentation kept its raw integers: keep the header's scaling
        return data, ((slope, inter) if np.issubdtype(data.dtype, np.integer) else None)
    try:
        dtype = np.dtype(stored)
    except TypeError:
        return data, None
    if dtype.kind not in "iu" or data.dtype.kind not in "iuf":
        return data, None
    raw = _unscale(data, slope, inter, dtype)
    if raw is None:
        return data, None
    if data.dtype.kind in "iu":  # integer physical values (integer scaling): exact in int64
        back = raw.astype(np.int64) * int(slope) + int(inter) if float(slope).is_integer() \
            and float(inter).is_integer() else None
    elif data.dtype == np.float32:
        back = raw.astype(np.float32) * np.float32(slope) + np.float32(inter)
    else:
        back = raw.astype(np.float64) * slope + inter
    if back is None or not np.array_equal(back, data):  # edited values left the stored grid: keep them
        return data, None
    return raw, (slope, inter)


def _same_affine(src: dict, affine: np.ndarray) -> bool:
    stored = src.get("affine")
    if stored is None:
        return False
    try:
        return bool(np.allclose(np.asarray(stored, float), affine, atol=1e-5))
    except (TypeError, ValueError):
        return False
