"""One multi-frame DICOM file -> :class:`ImageRecord`: enhanced (per-frame functional groups),
RT Dose (ImagePositionPatient + GridFrameOffsetVector), and frames without any geometry.

Frame positions come from, in this order: PlanePositionSequence per frame (enhanced objects);
ImagePositionPatient + GridFrameOffsetVector (RT Dose: offsets along the slice normal, measured
from the first frame, which lies at ImagePositionPatient, as ITK/GDCM read them); or ITK's implicit
frame (origin 0, 1 mm or SpacingBetweenSlices apart; no anatomical frame, and a cine loop's frames
are a time axis). Frames are then sorted along the normal like slices of a series (see
:mod:`._dicom_common`).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Optional

import numpy as np

from .._errors import CorruptFileError
from ._dicom_common import (
    IDENTITY_IOP,
    apply_rescale,
    cine_interval,
    dose_grid_scaling,
    fg_value,
    floats,
    frames_array,
    implicit_positions,
    in_plane_spacing,
    is_cine,
    json_dataset,
    make_record,
    positive_spacing,
    slope_inter,
    stack_geometry,
)
from ._record import ConversionError, ImageRecord, json_clean

__all__ = ["read_multiframe"]


def _frame_items(hdr: Any, f: str, nframes: int) -> tuple[list[Any], Any]:
    per = hdr.get("PerFrameFunctionalGroupsSequence")
    shared_seq = hdr.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq is not None and len(shared_seq) else None
    if per is not None and len(per) != nframes:
        raise CorruptFileError(f, f"PerFrameFunctionalGroupsSequence has {len(per)} items for {nframes} frames")
    return (list(per) if per is not None else [None] * nframes), shared


def _grid_offsets(hdr: Any, nframes: int, f: str) -> Optional[list[float]]:
    """RT Dose frame offsets (mm along the normal, relative to the first frame), or None."""
    gfov = floats(hdr.get("GridFrameOffsetVector"))
    if gfov is None:
        return None
    if len(gfov) != nframes:
        raise CorruptFileError(f, f"GridFrameOffsetVector has {len(gfov)} values for {nframes} frames")
    return [g - gfov[0] for g in gfov]


def read_multiframe(pydicom: ModuleType, f: str, hdr: Any) -> ImageRecord:
    nframes = int(hdr.NumberOfFrames)
    frame_items, shared = _frame_items(hdr, f, nframes)

    positions: list[Optional[list[float]]] = []
    iops: list[Optional[list[float]]] = []
    slopes: list[float] = []
    inters: list[float] = []
    ps: Optional[list[float]] = None
    thickness = None
    for item in frame_items:
        positions.append(floats(fg_value(item, shared, "PlanePositionSequence", "ImagePositionPatient"), 3))
        iops.append(floats(fg_value(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
                    or floats(hdr.get("ImageOrientationPatient"), 6))
        s, i = slope_inter(
            fg_value(item, shared, "PixelValueTransformationSequence", "RescaleSlope") or hdr.get("RescaleSlope"),
            fg_value(item, shared, "PixelValueTransformationSequence", "RescaleIntercept")
            or hdr.get("RescaleIntercept"))
        slopes.append(s)
        inters.append(i)
        if ps is None:
            ps = positive_spacing(floats(fg_value(item, shared, "PixelMeasuresSequence", "PixelSpacing"), 2))
        if thickness is None:
            thickness = (fg_value(item, shared, "PixelMeasuresSequence", "SpacingBetweenSlices")
                         or fg_value(item, shared, "PixelMeasuresSequence", "SliceThickness"))
    ps = ps or positive_spacing(floats(hdr.get("PixelSpacing"), 2))
    source: dict = {}
    ipp = floats(hdr.get("ImagePositionPatient"), 3)
    iop_top = floats(hdr.get("ImageOrientationPatient"), 6)
    if all(p is None for p in positions) and ipp is not None and iop_top is not None:
        offsets = _grid_offsets(hdr, nframes, f)
        if offsets is not None:  # RT Dose: a grid of planes along the normal
            normal = np.cross(iop_top[:3], iop_top[3:])
            positions = [[float(v) for v in np.asarray(ipp) + o * normal] for o in offsets]
            source["grid_frame_offsets"] = offsets
        elif nframes == 1:
            positions = [ipp]
    known = [p for p in positions if p is not None]
    known_iops = [o for o in iops if o is not None]
    has_geo = len(known) == len(positions) and len(known_iops) == len(iops)
    if has_geo:
        iop0 = np.asarray(known_iops[0])
        if not all(np.allclose(o, iop0, atol=1e-4) for o in known_iops):
            raise ConversionError(f, "frames have different ImageOrientationPatient",
                                  "this multi-frame file is not a single volume; split it into stacks first")
        planes = known
    else:
        step = float(hdr.get("SpacingBetweenSlices") or 1.0)
        iop0 = np.asarray(IDENTITY_IOP)
        planes = implicit_positions(nframes, step)
        source["dicom_geometry"] = "implicit"
    ps = in_plane_spacing(ps, hdr, f, source, has_geometry=has_geo)
    order, spacing, origin, direction, info = stack_geometry(iop0, planes, ps, thickness, f)

    ds = pydicom.dcmread(f)
    frames = frames_array(ds, nframes, f)
    if not np.array_equal(order, np.arange(nframes)):
        frames = frames[order]
    dose = dose_grid_scaling(hdr)  # an RT Dose: the stored integers times DoseGridScaling are the dose
    slopes = [slopes[i] * (dose or 1.0) for i in order]
    inters = [inters[i] * (dose or 1.0) for i in order]
    data, applied = apply_rescale(frames, slopes, inters)
    if str(hdr.get("PhotometricInterpretation", "") or "").upper() == "MONOCHROME1":
        source["monochrome1_inverted"] = True  # stored as MONOCHROME2, as ITK presents it
    source.update({"dicom": json_dataset(hdr), "slice_positions": json_clean([planes[i] for i in order]),
                   "frame_order": [int(i) for i in order], "files": [os.path.basename(f)]})
    source.update(json_clean(info))
    cine = None
    if not has_geo and is_cine(hdr):  # a loop of one view, not slices: the frame axis is time
        cine = cine_interval(hdr) or 0.0
    return make_record(data, frames.dtype, (spacing, origin, direction), source, slopes, inters, applied,
                       in_mm=bool(ps or has_geo), channel=frames.ndim == 4, cine_seconds=cine, dose_scaling=dose)
