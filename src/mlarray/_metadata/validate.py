"""Validation as a report: every problem with its severity, message and fix; never raises for a readable file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Union

import numpy as np

from .._array import MLArray
from .._errors import MetadataError, MLArrayError
from .._file.format import CURRENT_FORMAT
from ..affines import orthonormality_error
from ..meta import Meta, spatial_axes_of
from .channels import channel_axis_length, channel_list_problems
from .meta_spatial import MetaSpatial

__all__ = ["Problem", "validate"]


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" (the file or metadata is wrong) or "warning" (legal but suspicious)
    field: str
    message: str
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.field}: {self.message} -> {self.fix}"


def validate(target: Union[str, os.PathLike, Meta, dict, "object"], *, isolated: bool = False,
             timeout: float = 600) -> list[Problem]:
    """Check a file path, an ``MLArray``, a ``Meta`` or a metadata mapping; return the problems found.

    ``isolated=True`` (for files from strangers) reads the file in a child process, so damage that
    crashes the Blosc2 C library becomes a reported error instead of killing the caller.
    """
    if isolated and isinstance(target, (str, os.PathLike)):
        return _validate_in_child(os.fspath(target), timeout)
    problems: list[Problem] = []
    ndim = None
    shape = None
    if isinstance(target, (str, os.PathLike)):
        try:
            img = MLArray.open(target, mmap_mode="r")
        except FileNotFoundError as exc:
            return [Problem("error", "file", str(exc), "check the path")]
        except MLArrayError as exc:
            return [Problem("error", "file", str(exc), "re-create the file from its source, or restore a backup")]
        meta, shape = img.meta, img.shape if img.meta.has_array else None
        ndim = len(shape) if shape else None
        problems += _check_integrity(img)
        problems += _check_levels(img)
    elif hasattr(target, "meta") and hasattr(target, "shape"):
        meta, shape = target.meta, tuple(target.shape)
        ndim = len(shape)
    else:
        try:
            meta = target if isinstance(target, Meta) else Meta.from_mapping(target)
        except MetadataError as exc:
            return [Problem("error", exc.field, f"{exc.problem} (got {exc.value!r})", exc.remedy or "fix the value")]
        if meta.spatial.shape:
            ndim = len(meta.spatial.shape)
    try:
        meta.copy().validate(ndim)
    except MetadataError as exc:
        problems.append(Problem("error", exc.field, f"{exc.problem} (got {exc.value!r})",
                                exc.remedy or "fix the value"))
    problems += _warnings(meta, shape)
    return problems


def _warnings(meta: Meta, shape: Optional[Sequence[int]]) -> list[Problem]:
    out: list[Problem] = []
    sp = meta.spatial
    if meta.has_array and sp.spacing is None:
        out.append(Problem("warning", "spatial.spacing", "no voxel spacing is recorded (unit spacing assumed)",
                           "set spacing from the source image"))
    if sp.spacing is not None and sp.coord_system is None and not _microscopic(sp, shape):
        out.append(Problem("warning", "spatial.coord_system", "geometry has no coordinate system",
                           "set coord_system to 'RAS' or 'LPS' so viewers can label orientation"))
    out += _geometry_warnings(meta, shape)
    if meta.has_array and (shape is not None or sp.shape):
        n = channel_axis_length(sp.axis_labels, shape if shape is not None else sp.shape)
        # a list that does not match the channel axis names, colours or windows the wrong channels
        out += [Problem("error", f, m, fix) for f, m, fix in channel_list_problems(meta.extra, n)]
    if meta.is_seg and not meta.classes:
        out.append(Problem("warning", "classes", "segmentation without a class table",
                           "add classes, e.g. {1: 'liver'}, so viewers can name labels"))
    if meta.is_seg and shape is not None and meta.stats.min is not None and meta.stats.min < 0:
        out.append(Problem("warning", "is_seg", "segmentation has negative label values",
                           "labels are usually non-negative integers"))
    if meta.bbox.bboxes and shape is not None:
        axes = spatial_axes_of(sp.axis_labels, len(shape))
        for i, box in enumerate(meta.bbox.bboxes):
            for ax, (lo, hi) in zip(axes, box):
                if hi < 0 or lo > shape[ax]:
                    out.append(Problem("warning", f"bbox.bboxes[{i}]", f"lies outside the image along axis {ax}",
                                       "boxes are in voxel index units of the base array"))
                    break
    return out


# Lengths of a body-sized world: an image measured in them may lie in a patient frame (RAS/LPS).
_ANATOMICAL_UNITS = frozenset({"mm", "cm", "m", "millimeter", "centimeter", "meter"})


def _microscopic(sp: MetaSpatial, shape: Optional[Sequence[int]]) -> bool:
    """Spatial units all finer than anatomy (µm, nm): no patient frame to name, so RAS/LPS is no advice."""
    units = list(sp.axis_units or [])
    ndim = len(shape) if shape is not None else (len(sp.shape) if sp.shape else None)
    if ndim is not None and len(units) == ndim:
        units = [units[a] for a in spatial_axes_of(sp.axis_labels, ndim)]
    return bool(units) and all(u and u not in _ANATOMICAL_UNITS for u in units)


def _geometry_warnings(meta: Meta, shape: Optional[Sequence[int]]) -> list[Problem]:
    """Legal but lossy for most tools: kept in the file, reported here."""
    out: list[Problem] = []
    sp = meta.spatial
    if sp.direction is not None and not sp.is_orthonormal:
        out.append(Problem("warning", "spatial.direction",
                           f"is not orthonormal (max |D^T D - I| = {orthonormality_error(sp.direction):.2g}): the "
                           "affine has shear or scaling inside the direction; NIfTI/NRRD readers and viewers may "
                           "show it simplified", "resample to an orthogonal grid, or put voxel sizes in spacing"))
    out += _source_grid_warnings(meta)
    if sp.axis_units is not None:
        ndim = len(shape) if shape is not None else (len(sp.shape) if sp.shape else None)
        n_spatial = len(spatial_axes_of(sp.axis_labels, ndim)) if ndim is not None else sp.spatial_ndim
        allowed = {x for x in (n_spatial, ndim) if x is not None}
        if allowed and len(sp.axis_units) not in allowed:
            out.append(Problem("warning", "spatial.axis_units",
                               f"has {len(sp.axis_units)} units for {n_spatial} spatial axes and {ndim} axes",
                               "give one unit per spatial axis or one per axis"))
    return out


def _source_grid_warnings(meta: Meta) -> list[Problem]:
    """Slices the converter placed on a regular grid although the source's were not (DICOM readers record
    ``uneven_slice_spacing`` with the measured ``slice_steps``, ``sheared_by_mm`` for in-plane offsets), and
    a pixel size the source did not state as one (``pixel_spacing_assumed``, ``pixel_spacing_from``)."""
    src = meta.source.to_mapping() if hasattr(meta.source, "to_mapping") else dict(meta.source or {})
    out: list[Problem] = []
    if src.get("uneven_slice_spacing") is True:
        steps = [float(v) for v in src.get("slice_steps") or [] if isinstance(v, (int, float))]
        measured = f" (steps {min(steps):.4g} to {max(steps):.4g} mm)" if steps else ""
        mean = f"; the grid uses their mean, {sum(steps) / len(steps):.4g} mm," if steps else ""
        out.append(Problem("warning", "source.uneven_slice_spacing",
                           f"the source's slices are unevenly spaced{measured}{mean} so voxel positions along "
                           "the slice axis are approximate (source.slice_positions has the true ones)",
                           "resample the series onto a regular grid, or convert its evenly spaced parts "
                           "separately"))
    shear = src.get("sheared_by_mm")
    if isinstance(shear, (int, float)) and shear > 0:
        out.append(Problem("warning", "source.sheared_by_mm",
                           f"the source's slices are offset in-plane by up to {shear:.4g} mm (gantry tilt?); the "
                           "grid follows the slice normal, so voxel positions are off by up to that distance",
                           "resample the series onto an orthogonal grid if positions matter"))
    assumed = src.get("pixel_spacing_assumed")
    if isinstance(assumed, list) and assumed:
        size = " x ".join(f"{v:g}" for v in assumed if isinstance(v, (int, float)))
        out.append(Problem("warning", "source.pixel_spacing_assumed",
                           f"the source DICOM states no usable pixel size (PixelSpacing and ImagerPixelSpacing absent "
                           f"or not positive); the "
                           f"converter assumed {size}, so in-plane distances and sizes are not physical",
                           "set spatial.spacing to the true pixel size if it is known (e.g. from the ultrasound "
                           "regions or the device), or treat in-plane distances as pixel counts"))
    if src.get("pixel_spacing_from") == "ImagerPixelSpacing":
        out.append(Problem("warning", "source.pixel_spacing_from",
                           "the source DICOM has no PixelSpacing; the in-plane spacing is its ImagerPixelSpacing, "
                           "measured at the detector, so sizes in the patient are smaller by the radiographic "
                           "magnification",
                           "divide the in-plane spacing by the magnification (EstimatedRadiographicMagnification"
                           "Factor in source.dicom, when present) before measuring anatomy"))
    return out


def _check_integrity(img: MLArray) -> list[Problem]:
    """Verify every chunk against the checksums recorded at save (``mlarray._file.integrity``)."""
    if not img.meta.has_array:
        return []
    try:
        recorded = img.verify()
    except MLArrayError as exc:
        return [Problem("error", "data", str(exc), "restore the file from a backup or re-create it from its source")]
    if not recorded and img.format_version == CURRENT_FORMAT.version:  # published 0.0.x files never had them
        return [Problem("warning", "checksums", "the file records no chunk checksums (written before they existed, "
                        "or in-place writes were not closed), so corrupted data cannot be detected",
                        "re-save the file (MLArray.open(p).save(p)) to record them")]
    return []


def _check_levels(img: MLArray) -> list[Problem]:
    out: list[Problem] = []
    shape = img.shape
    if not img.meta.has_array or shape is None:
        return out
    for lv in img.levels[1:]:
        try:
            sample = lv[tuple(slice(0, 1) for _ in lv.shape)]
            if sample.dtype != img.dtype:
                raise MLArrayError(f"dtype {sample.dtype} differs from the base {img.dtype}")
        except Exception as exc:
            out.append(Problem("error", f"pyramid.levels[{lv.level - 1}]", f"cannot be read ({exc})",
                               "re-save the file to rebuild the pyramid"))
    if img.meta.stats.min is None and np.prod(shape) > 0:
        out.append(Problem("warning", "stats", "no statistics stored", "re-save the file to compute them"))
    return out


_CHILD = ("import json, sys\n"
          "from mlarray._metadata.validate import validate\n"
          "print(json.dumps([p.to_dict() for p in validate(sys.argv[1])]))\n")


def _validate_in_child(path: str, timeout: float) -> list[Problem]:
    import signal
    import subprocess
    import sys

    fix = "the file is damaged: restore it from a backup or convert it again from its source"
    try:
        run = subprocess.run([sys.executable, "-c", _CHILD, path], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [Problem("error", "file", f"reading {path} did not finish within {timeout:.0f} s", fix)]
    if run.returncode < 0:
        name = signal.Signals(-run.returncode).name
        return [Problem("error", "file", f"reading {path} crashed the Blosc2 library ({name})", fix)]
    try:
        return [Problem(**d) for d in json.loads(run.stdout.strip().splitlines()[-1])]
    except (ValueError, IndexError, TypeError):
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        return [Problem("error", "file", f"the checker failed on {path}: {tail[0]}", fix)]
