"""MLArray record -> DICOM: a single-frame series for images, a DICOM SEG for segmentations.

Series: one file per slice with ImagePositionPatient/ImageOrientationPatient/PixelSpacing from
the record's geometry (so ITK reads back the same world grid). A record converted from DICOM keeps
its original header (patient, study, series description, equipment, acquisition, rescale ...) with
a fresh SeriesInstanceUID and fresh SOP Instance UIDs: it is a new series of the same study, in the
same frame of reference. Other records get a header of the modality's SOP class (Secondary Capture,
Modality OT, when the modality is not known) holding every Type 1 and Type 2 attribute of that IOD's
mandatory modules: generated UIDs, numbers, and empty Type 2 values where nothing is known (no
patient, no date), so that DICOM readers and toolkits that read those attributes (highdicom, PACS)
accept the series. Stored values: the original integers and rescale when they
can be recovered exactly, integers as they are, and floats quantised to 16 bits with a fitted
rescale (a warning gives the largest rounding error).

Axis order: records read from DICOM are (slice, row, col) already; others (NIfTI, NRRD: ITK's
index order) are written as ITK writes them, slices along the last spatial axis.

Segmentations become a DICOM SEG (:func:`.dicom_seg.write_seg`) referencing the series they were
drawn on: ``reference=`` (a DICOM folder), or a DICOM series beside the ``.mla`` whose grid matches.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .._file.atomic import atomic_output
from .._types import PathLike
from ..affines import convert_coord_system
from ._record import ConversionError, ImageRecord
from .dicom_seg import series_grids, write_seg

__all__ = ["write_dicom", "write_series"]

_SOP_BY_MODALITY = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
                    "PT": "1.2.840.10008.5.1.4.1.1.128", "NM": "1.2.840.10008.5.1.4.1.1.20"}
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_SINGLE_FRAME_SOPS = set(_SOP_BY_MODALITY.values()) | {_SECONDARY_CAPTURE, "1.2.840.10008.5.1.4.1.1.1",
                                                       "1.2.840.10008.5.1.4.1.1.6.1"}
# per-instance, pixel-description and geometry attributes the writer sets itself
_DROP = {"SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "ImageOrientationPatient", "SliceLocation",
         "PixelSpacing", "SpacingBetweenSlices", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
         "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration",
         "RescaleSlope", "RescaleIntercept", "NumberOfFrames", "SmallestImagePixelValue",
         "LargestImagePixelValue", "WindowCenter", "WindowWidth", "SeriesInstanceUID", "PixelPaddingValue",
         "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod"}


def write_dicom(record: ImageRecord, dst: str, *, mla_path: str | None = None,
                reference: Optional[PathLike] = None) -> str:
    """Write ``record`` to ``dst`` (a folder for a series, a folder or ``.dcm`` for a SEG)."""
    if record.is_seg:
        return _write_seg(record, dst, mla_path, reference)
    return write_series(record, dst)


def _lps_grid(record: ImageRecord, where: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(data in (slice, row, col[, ch]) order, 4x4 LPS affine of that order, has_channel)."""
    spatial = record.spatial_axes
    data = np.asanyarray(record.array)
    rest = [k for k in range(data.ndim) if k not in spatial]
    if len(spatial) != 3 or len(rest) > 1 or (rest and data.shape[rest[0]] not in (1, 3)):
        raise ConversionError(where, f"a DICOM series needs 3 spatial axes (plus an RGB channel), got axes "
                                     f"{record.axis_labels} with shape {data.shape}", "write NIfTI or NRRD instead")
    cs = record.written_frame().upper().rstrip("+")
    aff = record.affine()
    if cs not in ("UNKNOWN", "OTHER"):
        try:
            aff = convert_coord_system(aff, cs, "LPS")
        except Exception as exc:
            raise ConversionError(where, f"coord_system {record.coord_system!r} cannot be expressed in DICOM's LPS",
                                  "set an anatomical coord_system (RAS, LPS, ...)") from exc
    order = list(spatial)
    if not str(record.source_format).startswith("dicom") or "reoriented" in (record.source or {}):
        order = order[::-1]  # ITK index order -> (slice, row, col)
    data = np.transpose(data, order + rest)
    perm = [spatial.index(k) for k in order]
    aff4 = np.eye(4)
    aff4[:3, :3] = aff[:3, :3][:, perm]
    aff4[:3, 3] = aff[:3, 3]
    if rest and data.shape[-1] == 1:
        data, rest = data[..., 0], []
    return data, aff4, bool(rest)


def _stored(data: np.ndarray, intensity: dict, where: str) -> tuple[np.ndarray, float, float]:
    """(integer pixels, slope, intercept)."""
    slope = intensity.get("rescale_slope", intensity.get("scl_slope"))  # DICOM's or NIfTI's scaling
    inter = intensity.get("rescale_intercept", intensity.get("scl_inter")) or 0.0
    stored = intensity.get("stored_dtype")
    if isinstance(slope, (int, float)) and isinstance(inter, (int, float)) and stored and intensity.get("applied"):
        dt = np.dtype(stored)
        if dt.kind in "iu":
            raw = np.rint((data.astype(np.float64) - inter) / slope)
            info = np.iinfo(dt)
            # float32 values (a dose, a PET rescale) carry their own rounding, up to one float step each
            step = np.spacing(np.abs(data)).astype(np.float64) if data.dtype.kind == "f" else 0.0
            if (not raw.size or (raw.min() >= info.min and raw.max() <= info.max
                                 and np.max(step) < 0.25 * abs(slope))) and \
                    np.all(np.abs(raw * slope + inter - data) <= 1e-4 * abs(slope) + step):
                return raw.astype(dt), float(slope), float(inter)
    if data.dtype.kind in "iub":
        for dt in (np.uint16, np.int16, np.int32):
            if not data.size or (np.iinfo(dt).min <= data.min() and data.max() <= np.iinfo(dt).max):
                return data.astype(dt if data.dtype != np.uint8 else np.uint8), 1.0, 0.0
        raise ConversionError(where, "integer values exceed 32 bits", "rescale the image first")
    lo, hi = (float(np.min(data)), float(np.max(data))) if data.size else (0.0, 0.0)
    if np.all(np.mod(data, 1) == 0) and -32768 <= lo and hi <= 65535:
        return data.astype(np.int16 if lo < 0 else np.uint16), 1.0, 0.0
    slope = (hi - lo) / 65535.0 if hi > lo else 1.0
    raw = np.rint((data - lo) / slope).astype(np.uint16)
    err = float(np.max(np.abs(raw * slope + lo - data))) if data.size else 0.0
    warnings.warn(f"{where}: floating-point values stored as 16-bit integers with RescaleSlope {slope:.6g}; "
                  f"largest rounding error {err:.3g}", UserWarning, stacklevel=3)
    return raw, slope, lo


def _template(record: ImageRecord) -> tuple[Any, str]:
    """(dataset with the preserved tags, SOP Class UID)."""
    from pydicom.dataset import Dataset

    hdr = (record.source or {}).get("dicom") if record.source_format == "dicom" else None
    ds = Dataset()
    if isinstance(hdr, dict) and "error" not in hdr:
        try:
            ds = Dataset.from_json(hdr)
        except Exception:
            ds = Dataset()
    for kw in _DROP:
        if kw in ds:
            delattr(ds, kw)
    sop = str(ds.get("SOPClassUID", "") or "")
    if sop not in _SINGLE_FRAME_SOPS:  # multi-frame sources: keep patient/study/series tags only
        keep = Dataset()
        for elem in ds:
            if elem.tag.group in (0x0008, 0x0010, 0x0018, 0x0020) and elem.VR != "SQ":
                keep.add(elem)
        ds = keep
        sop = _SOP_BY_MODALITY.get(str(ds.get("Modality", "") or ""), _SECONDARY_CAPTURE)
        if sop != _SOP_BY_MODALITY["CT"]:
            # the MR, PET and NM Image IODs have Type 1 acquisition attributes (ScanningSequence, ...)
            # that an enhanced or other multi-frame header keeps in functional groups or lacks
            sop = _SECONDARY_CAPTURE
        for kw in ("SOPClassUID", "MediaStorageSOPClassUID", "ImageType"):
            if kw in ds:
                delattr(ds, kw)
        ds.ImageType = ["DERIVED", "SECONDARY"]  # Type 1; the slices are re-made from the frames
    return ds, sop


# Type 1 and Type 2 attributes of the mandatory modules (Patient, General Study, General Series, General
# Image, SC Equipment) that a header built from a non-DICOM source lacks, PS3.3 A.8.1 (Secondary Capture)
# and A.3/A.4 (CT/MR). Type 2 may be empty when unknown; Type 1 get a value. UIDs and per-slice values
# are set by write_series itself.
_TYPE2_EMPTY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                "ReferringPhysicianName", "StudyID", "AccessionNumber",
                # General Equipment (mandatory for CT; included in a Secondary Capture whose header kept any
                # of its attributes, e.g. InstitutionName, and then complete): its one Type 2 attribute
                "Manufacturer")
_SC_TYPE1 = {"Modality": "OT", "ConversionType": "WSD"}  # OT: other; WSD: workstation (PS3.3 C.8.6.1)


def _complete_header(ds: Any, sop_class: str) -> None:
    """Add the Type 1/2 attributes the SOP class requires that ``ds`` lacks (values it has are kept)."""
    for kw in _TYPE2_EMPTY:
        if kw not in ds:
            setattr(ds, kw, "")
    if "SeriesNumber" not in ds or ds.SeriesNumber in (None, ""):
        ds.SeriesNumber = 1
    if sop_class == _SOP_BY_MODALITY["CT"]:  # CT Image module (PS3.3 C.8.2.1), kept when a header came along
        for kw in ("KVP", "AcquisitionNumber"):
            if kw not in ds:
                setattr(ds, kw, None)
    if sop_class == _SECONDARY_CAPTURE:
        for kw, value in _SC_TYPE1.items():
            if not str(ds.get(kw, "") or ""):
                setattr(ds, kw, value)
        if "PatientOrientation" not in ds:  # Type 2C: required where Image Plane attributes are not
            ds.PatientOrientation = ""


def write_series(record: ImageRecord, dst: str) -> str:
    """Write ``record`` as a single-frame DICOM series into the folder ``dst`` (created atomically)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    dst = os.fspath(dst).rstrip("/" + os.sep) or os.fspath(dst)
    if os.path.isdir(dst) and any(os.scandir(dst)):
        raise ConversionError(dst, "the folder is not empty", "write the series into a new or empty folder")
    data, aff, rgb = _lps_grid(record, dst)
    pixels, slope, inter = _stored(data, record.intensity or {}, dst)
    spacing = np.linalg.norm(aff[:3, :3], axis=0)
    d = aff[:3, :3] / spacing[None, :]
    row_cos, col_cos = d[:, 2], d[:, 1]
    normal = np.cross(row_cos, col_cos)
    if abs(abs(float(np.dot(normal, d[:, 0]))) - 1) > 1e-4:
        raise ConversionError(dst, "the slice axis is not perpendicular to the image planes (sheared grid)",
                              "DICOM slices cannot express it; resample or write NIfTI")
    template, sop_class = _template(record)
    series_uid = generate_uid()
    for_uid = str(template.get("FrameOfReferenceUID", "") or "") or generate_uid()
    template.setdefault("StudyInstanceUID", generate_uid())
    _complete_header(template, sop_class)
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(dst) + ".", suffix=".partial", dir=parent)
    try:
        for k in range(pixels.shape[0]):
            ds = template.copy()
            sop_uid = generate_uid()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = UID(sop_class), sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
            ds.SeriesInstanceUID, ds.FrameOfReferenceUID = series_uid, for_uid
            if "PositionReferenceIndicator" not in ds:  # Type 2 of the Frame of Reference module written here
                ds.PositionReferenceIndicator = ""
            ds.InstanceNumber = k + 1
            ipp = aff[:3, 3] + aff[:3, 0] * k
            ds.ImagePositionPatient = [_ds(v) for v in ipp]
            ds.ImageOrientationPatient = [_ds(v) for v in list(row_cos) + list(col_cos)]
            ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[2])]
            ds.SpacingBetweenSlices = _ds(spacing[0])
            ds.setdefault("SliceThickness", _ds(spacing[0]))
            ds.SliceLocation = _ds(float(np.dot(ipp, normal)))
            _set_pixels(ds, pixels[k], rgb, slope, inter)
            ds.save_as(os.path.join(tmp, f"IM{k + 1:05d}.dcm"), enforce_file_format=True)
        if os.path.isdir(dst):
            os.rmdir(dst)  # empty (checked above)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _ds(v: float) -> str:
    """A DS value string (at most 16 characters) that keeps as many digits as fit."""
    for digits in range(10, 3, -1):
        text = f"{float(v):.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{float(v):.4g}"


def _set_pixels(ds: Any, frame: np.ndarray, rgb: bool, slope: float, inter: float) -> None:
    bits = frame.dtype.itemsize * 8
    ds.Rows, ds.Columns = int(frame.shape[0]), int(frame.shape[1])
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if frame.dtype.kind == "i" else 0
    if not rgb and (slope != 1.0 or inter != 0.0 or "Modality" in ds and ds.Modality in ("CT", "PT")):
        ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), _ds(inter)
    ds.PixelData = np.ascontiguousarray(frame).astype(frame.dtype.newbyteorder("<")).tobytes()


# ----------------------------------------------------------------------------- SEG

def _write_seg(record: ImageRecord, dst: str, mla_path: str | None, reference: Optional[PathLike]) -> str:
    import pydicom


    data, aff, rgb = _lps_grid(record, dst)
    if rgb:
        raise ConversionError(dst, "a segmentation with a channel axis cannot become one DICOM SEG label map",
                              "write one label map per file")
    grid, labels = _reference_grid(record, data, aff, dst, mla_path, reference)
    images = [pydicom.dcmread(f) for f in grid["files"]]
    seg_rec = ImageRecord(array=labels, spacing=[1.0] * 3, origin=[0.0] * 3, direction=np.eye(3).tolist(),
                          axis_labels=["spatial"] * 3, classes=record.classes, is_seg=True)
    out = os.fspath(dst)
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
        os.makedirs(out, exist_ok=True)
        stem = Path(mla_path).stem if mla_path else "segmentation"
        out = os.path.join(out, stem + "_seg.dcm")

    try:
        with atomic_output(out) as tmp:
            write_seg(seg_rec, tmp, images)
    except ConversionError as exc:  # name the output the user asked for, not the scratch file
        raise ConversionError(out, exc.problem, exc.remedy) from None
    return out


def _named_series(record: ImageRecord) -> str:
    """SeriesInstanceUID of the image series the segmentation's ``source`` names ('' when none).

    A segmentation read from a DICOM SEG names the series it was painted on; one drawn on a
    converted series carries that series' ``source`` (its ``series_uid``)."""
    src = record.source or {}
    on_grid = src.get("on_grid_of")
    for uid in ((on_grid or {}).get("series_uid") if isinstance(on_grid, dict) else None,
                src.get("referenced_series_uid"), src.get("series_uid")):
        if uid:
            return str(uid)
    return ""


def _reference_grid(record: ImageRecord, data: np.ndarray, aff: np.ndarray, dst: str, mla_path: Optional[str],
                    reference: Optional[PathLike]) -> tuple[dict, np.ndarray]:
    """(grid of the DICOM series the labels lie on, labels in that grid's (slice, row, col) order).

    Series are told apart by SeriesInstanceUID (a copy of the series beside it shares the grid but not
    the UID); among those on the labels' grid the one the segmentation's ``source`` names wins."""

    if reference is not None:
        root = os.fspath(reference)
    elif mla_path:
        root = str(Path(mla_path).resolve().parent)
    else:
        root = None
    files: list[str] = []
    if root is not None and os.path.isdir(root):
        files = sorted(str(f) for f in Path(root).rglob("*") if f.is_file() and not f.name.endswith(".mla"))
    elif root is not None:
        files = [root]
    grids = series_grids(files)
    on_grid = [(g, lab) for g in grids for lab in [_onto_grid(data, aff, g)] if lab is not None]
    named = _named_series(record)
    chosen = [m for m in on_grid if m[0]["series_uid"] == named] or on_grid
    if len(chosen) > 1:
        raise ConversionError(dst, f"{len(chosen)} DICOM series share this segmentation's grid ("
                                   + ", ".join(g["series_uid"] for g, _ in chosen) + ") and its source names none "
                              "of them", "pass the series the segmentation was drawn on (--reference DIR)")
    if not chosen:
        where = "in the reference" if reference is not None else "beside the .mla"
        seen = "; ".join(f"{g['series_uid']}: {g['shape']}" for g in grids[:5]) or "none"
        raise ConversionError(dst, f"no DICOM series with this segmentation's grid {tuple(data.shape)} was found "
                                   f"{where} (series found there, slices x rows x cols: {seen})",
                              "pass the series the segmentation was drawn on (--reference DIR)")
    return chosen[0]


def _onto_grid(data: np.ndarray, aff: np.ndarray, grid: dict, tol: float = 1e-3) -> Optional[np.ndarray]:
    """``data`` (voxel->LPS affine ``aff``) with its axes permuted/flipped onto ``grid``'s voxel order,
    or None when the two are not the same voxels (another shape, spacing, orientation or position)."""
    g = grid["affine"]
    steps = np.linalg.solve(g[:3, :3], aff[:3, :3])  # column j: one step along data axis j, in grid voxels
    target = np.argmax(np.abs(steps), axis=0)
    if sorted(target.tolist()) != [0, 1, 2]:
        return None
    signs = np.sign(steps[target, np.arange(3)])
    expected = np.zeros((3, 3))
    expected[target, np.arange(3)] = signs
    if not np.allclose(steps, expected, atol=tol):
        return None
    out = data
    corner = np.zeros(3)
    for j in range(3):
        if signs[j] < 0:
            out = np.flip(out, axis=j)
            corner[j] = data.shape[j] - 1
    out = np.transpose(out, np.argsort(target))
    first = np.linalg.solve(g[:3, :3], aff[:3, :3] @ corner + aff[:3, 3] - g[:3, 3])  # in grid voxels
    if tuple(out.shape) != tuple(grid["shape"]) or not np.allclose(first, 0, atol=10 * tol):
        return None
    return np.ascontiguousarray(out)
