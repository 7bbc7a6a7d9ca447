"""NIfTI-1 / NIfTI-2 <-> :class:`ImageRecord` (via nibabel, imported lazily).

Axis order is nibabel's (i, j, k[, t, u, ...]); geometry is nibabel's ``img.affine``
(sform if sform_code > 0, else qform if qform_code > 0, else the pixdim fallback), in RAS.
Images with fewer than three dimensions get trailing singleton axes so that the full
3-D affine is kept.
"""

from __future__ import annotations

import base64
import os
import warnings

import numpy as np

from .._errors import CorruptFileError
from .._input_guard import check_decoded, check_nifti_header
from ._record import ConversionError, ImageRecord, flip_lps_ras, geometry_from_affine, json_clean

__all__ = ["read_nifti", "write_nifti"]

# NIfTI intent codes whose components are not independent samples along time.
_INTENT_LABEL = 1002
_VECTOR_INTENTS = {1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 2003, 2004, 2005}
# Header fields restored verbatim by write_nifti when the record comes from NIfTI.
_RESTORED_FIELDS = (
    "descrip", "aux_file", "intent_name", "intent_code", "intent_p1", "intent_p2", "intent_p3",
    "xyzt_units", "cal_min", "cal_max", "slice_code", "slice_start", "slice_end",
    "slice_duration", "toffset", "dim_info",
)
_TEXT_FIELDS = {"descrip", "aux_file", "intent_name", "magic", "data_type", "db_name"}


def _nib():
    try:
        import nibabel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading NIfTI needs nibabel: pip install 'mlarray[convert]'") from exc
    return nibabel


def _header_to_source(header) -> dict:
    src: dict = {}
    for key in header.keys():
        src[key] = json_clean(header[key])
    exts = []
    for ext in header.extensions:
        code = int(ext.get_code())
        raw = ext.get_content()
        if not isinstance(raw, (bytes, bytearray)):
            try:
                raw = ext._mangle(raw)  # nibabel keeps non-bytes content for some codes
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


def read_nifti(path, is_seg: bool | None = None) -> ImageRecord:
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
        if is_seg and scaled:
            data = np.asanyarray(img.dataobj.get_unscaled())
        else:
            data = np.asanyarray(img.dataobj)  # one read; scaling applied by nibabel
    except Exception as exc:
        raise CorruptFileError(path, f"image data could not be read ({type(exc).__name__}: {exc})") from exc
    intensity = {
        "scl_slope": json_clean(slope), "scl_inter": json_clean(inter),
        "applied": bool(scaled and not is_seg), "stored_dtype": str(header.get_data_dtype()),
    }

    while data.ndim < 3:
        data = data.reshape(data.shape + (1,))
    spacing, origin, direction = geometry_from_affine(img.affine)

    labels = ["spatial"] * 3
    extra = data.ndim - 3
    if extra >= 1:
        if intent in _VECTOR_INTENTS and extra == 1:
            labels.append("channel")
        else:
            labels.append("temporal")
    for k in range(4, data.ndim):
        labels.append("components" if intent in _VECTOR_INTENTS else "channel")

    space_unit, time_unit = header.get_xyzt_units()
    axis_units = None if space_unit == "unknown" else [space_unit] * 3

    source = _header_to_source(header)
    source["affine"] = json_clean(img.affine)
    source["affine_source"] = ("sform" if int(header["sform_code"]) > 0
                               else "qform" if int(header["qform_code"]) > 0 else "fallback")
    source["time_unit"] = None if time_unit == "unknown" else time_unit

    return ImageRecord(
        array=data, spacing=spacing, origin=origin, direction=direction, coord_system="RAS",
        axis_labels=labels, axis_units=axis_units, source=source, source_format=fmt,
        is_seg=is_seg, intensity=intensity,
    )


def _text(value) -> bytes | str:
    if isinstance(value, dict) and "base64" in value:
        return base64.b64decode(value["base64"])
    return "" if value is None else str(value)


def write_nifti(record: ImageRecord, path) -> None:
    """Write ``record`` as NIfTI (``.nii`` or ``.nii.gz``; NIfTI-2 when it came from NIfTI-2).

    Spatial axes go first (in their record order), then temporal, then the rest. LPS
    geometry is converted to RAS. Header fields (descrip, intent, xyzt_units, cal_*,
    qform/sform codes, ...) are restored from ``record.source`` when it came from NIfTI.
    """
    nib = _nib()
    path = os.fspath(path)
    data = np.asanyarray(record.array)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    if len(labels) != data.ndim:
        raise ConversionError(path, f"record has {data.ndim} axes but {len(labels)} axis labels")
    spatial = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
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
    if data.ndim > 7:
        raise ConversionError(path, f"NIfTI holds at most 7 axes, record has {data.ndim}")

    aff_small = record.affine()
    affine = np.eye(4)
    nw = aff_small.shape[0] - 1
    if nw > 3:
        raise ConversionError(path, f"world space has {nw} dimensions; NIfTI needs at most 3")
    affine[:nw, :nsp] = aff_small[:nw, :nsp]
    affine[:nw, 3] = aff_small[:nw, -1]
    cs = (record.coord_system or "unknown").upper()
    if cs == "LPS":
        affine = flip_lps_ras(affine)
    elif cs not in ("RAS", "UNKNOWN"):
        raise ConversionError(path, f"coord_system {record.coord_system!r} cannot be written to NIfTI",
                              "NIfTI needs RAS or LPS world coordinates")

    src = record.source if record.source_format in ("nifti1", "nifti2") else {}
    img_cls = nib.Nifti2Image if record.source_format == "nifti2" else nib.Nifti1Image
    img = img_cls(data, None)
    hdr = img.header
    hdr.set_data_dtype(data.dtype)

    for key in _RESTORED_FIELDS:
        if key in src and src[key] is not None:
            hdr[key] = _text(src[key]) if key in _TEXT_FIELDS else src[key]
    if src.get("pixdim") and data.ndim > 3:
        pix = list(hdr["pixdim"])
        for k in range(4, min(8, data.ndim + 1)):
            if k < len(src["pixdim"]) and src["pixdim"][k] is not None:
                pix[k] = src["pixdim"][k]
        hdr["pixdim"] = pix
    if not src and record.axis_units:
        unit = record.axis_units[0]
        if unit in ("mm", "meter", "micron"):
            hdr.set_xyzt_units(xyz=unit)
    elif not src and record.axis_units is None and cs != "UNKNOWN":
        hdr.set_xyzt_units(xyz="mm")

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

    intensity = record.intensity or {}
    if not intensity.get("applied") and src and np.issubdtype(data.dtype, np.integer):
        slope, inter = intensity.get("scl_slope"), intensity.get("scl_inter")
        if slope is not None:
            hdr.set_slope_inter(slope, inter if inter is not None else 0.0)
    for ext in src.get("extensions") or []:
        content = ext["text"].encode("utf-8") if "text" in ext else base64.b64decode(ext.get("base64", ""))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdr.extensions.append(nib.nifti1.Nifti1Extension(int(ext["code"]), content))
    try:
        img.to_filename(path)
    except Exception as exc:
        raise ConversionError(path, f"could not write NIfTI ({type(exc).__name__}: {exc})") from exc


def _same_affine(src: dict, affine: np.ndarray) -> bool:
    stored = src.get("affine")
    if stored is None:
        return False
    try:
        return bool(np.allclose(np.asarray(stored, float), affine, atol=1e-5))
    except (TypeError, ValueError):
        return False
