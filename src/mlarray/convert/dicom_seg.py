"""DICOM SEG <-> segmentation records (via highdicom, imported lazily).

Reading: the segments become one label map (voxel value = SegmentNumber) with a class table from
SegmentLabel and RecommendedDisplayCIELabValue. When the source series the SEG references is
found (``reference=`` or beside the SEG file), the labels are placed on that series' grid, so the
segmentation overlays its image voxel for voxel; otherwise the SEG's own frame grid is used.
Overlapping segments cannot share one label map: they get one channel per segment instead.

Writing: :func:`write_seg` turns a segmentation record into a SEG that references the DICOM
series it was drawn on (see :mod:`.dicom_write` for where that series comes from).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Sequence

import numpy as np

from .._errors import CorruptFileError
from .._types import PathLike
from .._untrusted.input_guard import check_decoded, dicom_frame_nbytes
from .._version import __version__
from ..optpkg import optional_import
from ._dicom_common import (
    SEG_SOP_CLASS,
    fg_value,
    floats,
    json_dataset,
    positive_spacing,
    pydicom_module,
    stack_geometry,
)
from ._record import ConversionError, ImageRecord, json_clean

__all__ = ["read_seg", "write_seg", "series_grid", "series_grids", "lab_to_rgb", "rgb_to_lab"]

_MAX_SCAN = 5000  # files looked at when searching for the series a SEG belongs to


def _hd() -> ModuleType:
    return optional_import("highdicom", feature="reading and writing DICOM SEG", extra="convert")


def lab_to_rgb(value: Sequence[int]) -> list[float] | None:
    """DICOM CIELab (0..65535 each) -> sRGB in 0..1, via highdicom's colour conversion."""
    try:
        rgb = _hd().color.CIELabColor.from_dicom_value(tuple(int(v) for v in value)).to_rgb()
    except Exception:
        return None
    return [float(c) / 255.0 for c in rgb] + [1.0]


def rgb_to_lab(color: Sequence[float]) -> list[int]:
    rgb = tuple(int(round(max(0.0, min(1.0, float(c))) * 255)) for c in list(color)[:3])
    return [int(v) for v in _hd().color.CIELabColor.from_rgb(*rgb).value]


def _classes(seg: Any) -> list[dict]:
    out = []
    for item in seg.SegmentSequence:
        name = str(item.get("SegmentLabel", "") or f"segment {item.SegmentNumber}")
        entry: dict[str, Any] = {"id": int(item.SegmentNumber), "name": name}
        lab = item.get("RecommendedDisplayCIELabValue")
        color = lab_to_rgb(lab) if lab is not None else None
        if color is not None:
            entry["color"] = color
        out.append(entry)
    return sorted(out, key=lambda c: c["id"])


def _frames(seg: Any, path: str) -> tuple[np.ndarray, list[int], np.ndarray, list[float], list[float],
                                          Optional[float]]:
    """Per frame: position, segment number, and the (rows, cols) mask; plus orientation and spacing."""

    shared_seq = seg.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per = seg.get("PerFrameFunctionalGroupsSequence") or []

    check_decoded(path, int(seg.get("NumberOfFrames", 1) or 1) * dicom_frame_nbytes(seg), "the DICOM SEG")
    pixels = np.asarray(seg.pixel_array)
    if pixels.ndim == 2:
        pixels = pixels[None]
    if len(per) < pixels.shape[0]:
        raise CorruptFileError(path, f"{len(per)} per-frame items for {pixels.shape[0]} frames")
    per = list(per)[: pixels.shape[0]]  # extra items (a file cut down to fewer frames) describe no pixels
    iop = floats(fg_value(per[0], shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    ps = positive_spacing(floats(fg_value(per[0], shared, "PixelMeasuresSequence", "PixelSpacing"), 2))
    step = fg_value(per[0], shared, "PixelMeasuresSequence", "SpacingBetweenSlices")
    positions: list[Optional[list[float]]] = []
    numbers: list[int] = []
    for item in per:
        positions.append(floats(fg_value(item, None, "PlanePositionSequence", "ImagePositionPatient"), 3))
        numbers.append(int(fg_value(item, None, "SegmentIdentificationSequence", "ReferencedSegmentNumber") or 1))
    if iop is None or ps is None or any(p is None for p in positions):
        raise ConversionError(path, "the SEG frames carry no plane position/orientation/pixel spacing",
                              "only SEGs of cross-sectional images (with patient geometry) are supported")
    if str(seg.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        top = float(seg.get("MaximumFractionalValue", 255) or 255)
        pixels = pixels.astype(np.float32) / top >= 0.5  # a voxel belongs where the fraction is >= 1/2
    return np.asarray(positions), numbers, pixels > 0, iop, ps, (float(step) if step else None)


def _own_grid(positions: np.ndarray, iop: Sequence[float], ps: Sequence[float], step: Optional[float], rows: int,
              cols: int) -> dict:
    """A regular grid through the SEG frames' planes (gaps between frames stay empty)."""
    row, col = np.asarray(iop[:3]), np.asarray(iop[3:])
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    proj = positions @ normal
    uniq = np.unique(np.round(proj, 3))
    if len(uniq) > 1:  # the frames' own spacing; a declared SpacingBetweenSlices may be the thickness
        diffs = np.diff(uniq)
        step = step if step and np.allclose(diffs / step, np.rint(diffs / step), atol=1e-2) else float(diffs.min())
    step = step or 1.0
    first = positions[int(np.argmin(proj))]
    n = int(np.rint((uniq[-1] - uniq[0]) / step)) + 1
    aff = np.eye(4)
    aff[:3, 0], aff[:3, 1], aff[:3, 2] = normal * step, col * ps[0], row * ps[1]
    aff[:3, 3] = first
    return {"shape": (n, rows, cols), "affine": aff}


def _paint(grid: dict, positions: np.ndarray, numbers: list[int], masks: np.ndarray,
           where: str) -> Optional[tuple[np.ndarray, bool]]:
    """Label volume on ``grid`` (or one channel per segment when segments overlap)."""
    segs = sorted(set(numbers))
    per_seg = np.zeros((len(segs),) + tuple(grid["shape"]), bool)
    for pos, num, mask in zip(positions, numbers, masks):
        k = _slice_of(grid, pos)
        if k is None or mask.shape != grid["shape"][1:]:
            return None  # the frame does not coincide with a plane of this grid
        if not 0 <= k < grid["shape"][0]:
            warnings.warn(f"{where}: a frame lies outside the referenced series; it is dropped", UserWarning,
                          stacklevel=3)
            continue
        per_seg[segs.index(num), k] |= mask
    if per_seg.sum(axis=0).max(initial=0) > 1:
        return np.moveaxis(per_seg.astype(np.uint8), 0, -1), True
    dtype = np.uint8 if max(segs) < 256 else np.uint16
    out = np.zeros(grid["shape"], dtype)
    for i, num in enumerate(segs):
        out[per_seg[i]] = num
    return out, False


def _slice_of(grid: dict, position: np.ndarray, tol: float = 1e-2) -> Optional[int]:
    """Index of the grid slice whose plane a frame at ``position`` (its first pixel's centre) is, or None.

    A referenced series is matched by its slices' own positions (``slice_positions``), so an unevenly
    spaced series (whose affine holds the mean step) still takes every frame that lies on one of its
    slices; the SEG's own regular grid is matched through its affine. An index outside the grid means
    a frame in the right plane orientation beyond the series' ends."""
    inv = np.linalg.inv(grid["affine"])
    k = inv[:3, :3] @ position + inv[:3, 3]
    if not np.allclose(k[1:], 0, atol=tol):
        return None  # the frame's first pixel is not where the slices' first pixels are
    slices = grid.get("slice_positions")
    if slices is None:
        ki = float(np.rint(k[0]))
        return int(ki) if abs(k[0] - ki) <= tol else None
    aff = grid["affine"]
    along = aff[:3, 0] / np.linalg.norm(aff[:3, 0])  # the slice normal
    proj = np.asarray(slices, float) @ along
    at = float(np.asarray(position, float) @ along)
    pixel = float(min(np.linalg.norm(aff[:3, 1]), np.linalg.norm(aff[:3, 2])))
    j = int(np.argmin(np.abs(proj - at)))
    if abs(proj[j] - at) <= tol * pixel:
        return j
    if at < proj.min() or at > proj.max():
        return -1 if at < proj.min() else len(proj)
    return None


def _image_headers(files: list[str]) -> list[tuple]:
    """(file, header, ImagePositionPatient, ImageOrientationPatient) of the single-frame images among ``files``."""
    pydicom = pydicom_module()
    hdrs = []
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        ipp, iop = floats(ds.get("ImagePositionPatient"), 3), floats(ds.get("ImageOrientationPatient"), 6)
        if ipp is None or iop is None or "Rows" not in ds or int(ds.get("NumberOfFrames", 1) or 1) > 1 \
                or str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS:
            continue
        hdrs.append((f, ds, ipp, iop))
    return hdrs


def _grid_of(hdrs: list[tuple]) -> dict | None:
    """Shape, LPS affine (slice, row, col) and identifiers of one series' headers; None if not one stack."""
    if not hdrs:
        return None
    iop0 = hdrs[0][3]
    ps = positive_spacing(floats(hdrs[0][1].get("PixelSpacing"), 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            order, spacing, origin, direction, info = stack_geometry(iop0, [h[2] for h in hdrs], ps, None,
                                                                     hdrs[0][0])
    except (ConversionError, CorruptFileError):  # duplicate positions, degenerate orientation: not one grid
        return None
    aff = np.eye(4)
    aff[:3, :3] = np.asarray(direction) * np.asarray(spacing)[None, :]
    aff[:3, 3] = origin
    first = hdrs[0][1]
    return {"shape": (len(hdrs), int(first.Rows), int(first.Columns)), "affine": aff,
            "files": [hdrs[i][0] for i in order], "headers": [hdrs[i][1] for i in order],
            "slice_positions": [hdrs[i][2] for i in order], "spacing_info": info,
            "series_uid": str(first.get("SeriesInstanceUID", ""))}


def series_grid(files: list[str]) -> dict | None:
    """Shape, affine and identifiers of a single-frame series from its headers (no pixel reads)."""
    return _grid_of(_image_headers(files))


def series_grids(files: list[str]) -> list[dict]:
    """The grid (see :func:`series_grid`) of every single-frame image series among ``files``, one per
    SeriesInstanceUID, so series that share a folder (or a grid) are never stacked together. At most
    the first ``_MAX_SCAN`` files are read."""
    by_uid: dict[str, list] = {}
    for h in _image_headers(files[:_MAX_SCAN]):
        by_uid.setdefault(str(h[1].get("SeriesInstanceUID", "")), []).append(h)
    return [g for g in (_grid_of(hdrs) for hdrs in by_uid.values()) if g is not None]


def _find_reference(seg_path: str, series_uid: str, reference: Optional[PathLike]) -> dict | None:
    if reference is not None:
        p = os.fspath(reference)
        files = sorted(str(f) for f in Path(p).rglob("*") if f.is_file()) if os.path.isdir(p) else [p]
        grids = series_grids(files)
        if not grids:
            raise ConversionError(p, "holds no DICOM images with patient geometry",
                                  "pass the folder of the series the SEG was drawn on")
        named = [g for g in grids if g["series_uid"] == series_uid]
        return (named or grids)[0]
    pydicom = pydicom_module()
    folder = Path(seg_path).resolve().parent
    found = []
    for n, f in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        if n >= _MAX_SCAN:
            break
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        except Exception:
            continue
        if str(ds.get("SeriesInstanceUID", "")) == series_uid:
            found.append(str(f))
    return series_grid(found) if found else None


def read_seg(path: PathLike, reference: Optional[PathLike] = None) -> ImageRecord:
    """Read a DICOM SEG file into a segmentation :class:`ImageRecord` (see module docstring)."""
    hd = _hd()
    path = os.fspath(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:
        raise CorruptFileError(path, f"not a readable DICOM SEG ({type(exc).__name__}: {exc})") from exc
    classes = _classes(seg)
    positions, numbers, masks, iop, ps, step = _frames(seg, path)
    ref_seq = seg.get("ReferencedSeriesSequence")
    series_uid = str(ref_seq[0].SeriesInstanceUID) if ref_seq else ""
    grid = _find_reference(path, series_uid, reference) if (series_uid or reference is not None) else None
    painted = _paint(grid, positions, numbers, masks, path) if grid is not None else None
    source = {"dicom": json_dataset(seg), "segment_numbers": [c["id"] for c in classes],
              "referenced_series_uid": series_uid}
    if grid is not None and painted is None:
        warnings.warn(f"{path}: the SEG's frames do not lie on the referenced series' slices; "
                      "keeping the SEG's own grid", UserWarning, stacklevel=2)
    if grid is not None and painted is not None:
        source["on_grid_of"] = {"series_uid": grid["series_uid"],
                                "sop_instance_uids": [str(h.SOPInstanceUID) for h in grid["headers"]]}
        # the series' own slice positions and spacing report, as reading the series itself records them
        source["slice_positions"] = grid["slice_positions"]
        source.update(grid["spacing_info"])
    else:
        grid = _own_grid(positions, iop, ps, step, masks.shape[1], masks.shape[2])
        painted = _paint(grid, positions, numbers, masks, path)
        if painted is None:
            raise ConversionError(path, "its frames are not parallel planes of one regular grid",
                                  "convert it with highdicom directly")
    labels, channels = painted
    aff = grid["affine"]
    spacing = np.linalg.norm(aff[:3, :3], axis=0)
    direction = aff[:3, :3] / spacing[None, :]
    return ImageRecord(
        array=labels, spacing=[float(s) for s in spacing], origin=[float(v) for v in aff[:3, 3]],
        direction=direction.tolist(), coord_system="LPS",
        axis_labels=["spatial"] * 3 + (["channel"] if channels else []), axis_units=["mm"] * 3,
        source=json_clean(source), source_format="dicom-seg", is_seg=True, classes=classes,
    )


def write_seg(record: ImageRecord, out_path: str, source_images: list) -> None:
    """Write ``record`` (labels on the grid of ``source_images``, slice order ascending) as a DICOM SEG."""
    hd = _hd()
    from pydicom.sr.codedict import codes

    labels = np.asarray(record.array)
    if labels.ndim != 3:
        raise ConversionError(out_path, f"a DICOM SEG needs a 3-D label map, got shape {labels.shape}",
                              "write one label map (no channel axis)")
    if labels.dtype.kind == "f":
        if not np.all(np.mod(labels, 1) == 0):
            raise ConversionError(out_path, "labels are not integers", "round the label map first")
    labels = labels.astype(np.uint16 if labels.max(initial=0) > 255 else np.uint8)
    present = sorted(int(v) for v in np.unique(labels) if v > 0)
    names = {int(c["id"]): c for c in (record.classes or [])}
    numbers = sorted(set(present) | {k for k in names if k > 0})
    if not numbers:
        raise ConversionError(out_path, "the segmentation is empty and has no class table",
                              "a DICOM SEG needs at least one segment")
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConversionError(out_path, f"label values {numbers} are not 1..N", "DICOM SEG numbers its segments 1..N; "
                              "relabel the segmentation first")
    descs = []
    for n in numbers:
        c = names.get(n, {"name": f"label {n}"})
        d = hd.seg.SegmentDescription(
            segment_number=n, segment_label=str(c.get("name") or f"label {n}"),
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        if c.get("color"):
            d.RecommendedDisplayCIELabValue = rgb_to_lab(c["color"])
        descs.append(d)
    first = source_images[0]
    try:
        seg = _segmentation(hd, source_images, labels, descs, first)
    except AttributeError as exc:  # a reference image lacks an attribute highdicom copies into the SEG
        name = getattr(exc, "name", None) or str(exc)
        raise ConversionError(out_path, f"the referenced series lacks the DICOM attribute {name} (read from "
                                        f"{getattr(first, 'filename', 'its first image')}), which a DICOM SEG "
                                        "copies from the images it segments",
                              f"add {name} to the reference series (an empty value is allowed for Type 2 "
                              "attributes such as PatientID), or pass the series the images came from") from None
    seg.save_as(out_path)


def _segmentation(hd: ModuleType, source_images: list, labels: np.ndarray, descs: list, first: Any) -> Any:
    measures = _pixel_measures(hd, source_images)
    seg = hd.seg.Segmentation(
        source_images=source_images, pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descs,
        series_instance_uid=hd.UID(), series_number=int(first.get("SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="MLArray",
        manufacturer_model_name="mlarray", software_versions=_version(), device_serial_number="0",
        series_description=(str(first.get("SeriesDescription", "")) + " SEG").strip()[:64],
        pixel_measures=measures,
    )
    shared = getattr(seg, "SharedFunctionalGroupsSequence", None)
    if measures is not None and shared and "PixelMeasuresSequence" in shared[0]:
        # highdicom can still carry the images' declared spacing over ours: the positions decide
        shared[0].PixelMeasuresSequence[0].SpacingBetweenSlices = measures[0].SpacingBetweenSlices
    return seg


def _pixel_measures(hd: ModuleType, source_images: list) -> Any:
    """The SEG's pixel measures with the slice step the images' positions give.

    highdicom copies the first image's SpacingBetweenSlices, and a series may declare a wrong one (SimpleITK's
    writer puts 1 there once the process has read any DICOM): the SEG would then contradict its own frame
    positions, and readers that check (highdicom's ``get_volume``) refuse it. None leaves highdicom's default
    (multi-frame or incomplete references).
    """
    try:
        first = source_images[0]
        spacing = [float(v) for v in first.PixelSpacing]
        iop = np.asarray([float(v) for v in first.ImageOrientationPatient])
        pos = np.asarray([[float(v) for v in im.ImagePositionPatient] for im in source_images])
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    if len(source_images) < 2 or pos.shape[1] != 3 or iop.shape != (6,):
        return None
    along = np.sort(pos @ np.cross(iop[:3], iop[3:]))
    steps = np.diff(along)
    step = float(np.mean(steps))
    if not step > 0 or not np.allclose(steps, step, rtol=1e-3, atol=1e-3):
        return None  # uneven slices: no single spacing to declare
    thickness = first.get("SliceThickness")
    try:
        thick = float(thickness) if thickness not in (None, "") else None
    except (TypeError, ValueError):
        thick = None
    return hd.PixelMeasuresSequence(pixel_spacing=spacing, slice_thickness=thick, spacing_between_slices=step)


def _version() -> str:
    return str(__version__)
