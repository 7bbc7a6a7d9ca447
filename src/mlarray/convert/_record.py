"""In-memory image record shared by all converters, plus conversion errors.

Geometry convention (all converters):

    world = origin + direction @ (spacing * index)

where ``index`` runs over the *spatial* axes of ``array`` in array order (axes whose
label starts with ``"spatial"``), ``direction[:, j]`` is the unit world vector of the
j-th spatial axis and world coordinates are expressed in the letter order of
``coord_system`` (e.g. "RAS": x grows to the Right, y Anterior, z Superior).

This module depends on numpy only; the format libraries are imported lazily by the
individual converter modules.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._errors import AffineError, MLArrayError
from .._voxel_order import reversed_index_order

__all__ = ["ImageRecord", "ConversionError", "json_clean", "flip_lps_ras", "geometry_from_affine"]


class ConversionError(MLArrayError, ValueError):
    """A file could not be converted. The message names the file, the problem and the remedy."""

    def __init__(self, path: object, problem: str, remedy: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.remedy = remedy
        msg = f"{self.path}: {problem}"
        if remedy:
            msg += f"; {remedy}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem, self.remedy))


@dataclass
class ImageRecord:
    """An image as read from a source format, before it becomes an MLArray.

    ``array`` keeps the axis order of the source library. ``spacing``/``origin``/
    ``direction`` describe the spatial axes only (see module docstring).
    """

    array: Any
    spacing: list[float]
    origin: list[float]
    direction: list[list[float]]
    coord_system: str = "unknown"
    axis_labels: list[str] = field(default_factory=list)
    axis_units: list[str] | None = None
    source: dict = field(default_factory=dict)
    source_format: str = "unknown"
    is_seg: bool | None = None
    classes: list[dict] | None = None
    levels: list | None = None
    intensity: dict | None = None
    # free-form metadata for ``Meta.extra`` (channel names/colours/windows, time interval, ...)
    extra: dict | None = None
    # images that belong with this one (OME-Zarr labels): name -> record, written beside it
    companions: dict | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def spatial_axes(self) -> list[int]:
        """Indices of the array axes whose label starts with ``"spatial"``."""
        return [i for i, lab in enumerate(self.axis_labels) if str(lab).startswith("spatial")]

    @property
    def spatial_units(self) -> list[str] | None:
        """One unit per spatial axis (array order): ``axis_units`` holds one per spatial axis, or one
        per array axis when the image has non-spatial axes with units (a time axis in seconds)."""
        units = self.axis_units
        if not units:
            return None
        spatial = self.spatial_axes
        if len(units) == len(self.axis_labels) and len(units) != len(spatial):
            return [str(units[k]) for k in spatial]
        return [str(u) for u in units] if len(units) == len(spatial) else None

    def written_frame(self) -> str:
        """The world frame to write to a format that must name one (NIfTI, NRRD, MetaImage, MGH, DICOM).

        A DICOM image without patient geometry has no anatomical frame (``coord_system`` "unknown"), but
        its reader placed it in ITK's implicit LPS frame, as ITK, GDCM and every DICOM toolkit place
        it; written in that frame, an export opens the same way the original does (upright).
        """
        cs = self.coord_system or "unknown"
        if cs.lower() in ("unknown", "other") and self.source_format == "dicom" \
                and isinstance(self.source, dict) and self.source.get("dicom_geometry") == "implicit":
            return "LPS"
        return cs

    def affine(self) -> np.ndarray:
        """Homogeneous affine ``[[direction * spacing, origin], [0, 1]]`` (world x spatial+1)."""
        d = np.asarray(self.direction, dtype=float)
        s = np.asarray(self.spacing, dtype=float)
        o = np.asarray(self.origin, dtype=float)
        if d.ndim != 2 or d.shape[1] != s.size or d.shape[0] != o.size:
            raise AffineError("direction", d.tolist(), f"inconsistent geometry: direction {d.shape}, spacing {s.size}, "
                              f"origin {o.size}", "give one spacing per direction column and one origin per row")
        out = np.zeros((o.size + 1, s.size + 1))
        out[:-1, :-1] = d * s[None, :]
        out[:-1, -1] = o
        out[-1, -1] = 1.0
        return out

    def index_order(self, spatial: list[int]) -> list[int]:
        """``spatial`` (the spatial axes in array order) in ITK's index order, the order NIfTI, NRRD and MGH
        store them: reversed for a record from DICOM or SimpleITK (:mod:`mlarray._voxel_order`)."""
        return list(spatial)[::-1] if reversed_index_order(self.source_format, self.source) else list(spatial)

    def index_affine(self) -> np.ndarray:
        """:meth:`affine` with its columns in the order of :meth:`index_order`."""
        a = self.affine()
        n = a.shape[1] - 1
        return a[:, self.index_order(list(range(n))) + [n]]

    def world(self, index: ArrayLike) -> np.ndarray:
        """World coordinate of a spatial index (one value per spatial axis, array order)."""
        d = np.asarray(self.direction, dtype=float)
        return np.asarray(self.origin, float) + d @ (np.asarray(self.spacing, float) * np.asarray(index, float))


def flip_lps_ras(affine: np.ndarray) -> np.ndarray:
    """Convert a homogeneous affine between LPS and RAS (negate the first two world rows)."""
    a = np.array(affine, dtype=float, copy=True)
    a[0, :] *= -1
    a[1, :] *= -1
    return a


def geometry_from_affine(affine: np.ndarray) -> tuple[list[float], list[float], list[list[float]]]:
    """Split ``[[M, o],[0,1]]`` into spacing (column norms), origin and unit direction columns."""
    a = np.asarray(affine, dtype=float)
    m = a[:-1, :-1]
    spacing = np.linalg.norm(m, axis=0)
    safe = np.where(spacing > 0, spacing, 1.0)
    direction = m / safe[None, :]
    # A zero-length column (degenerate header) keeps a unit basis vector so the record stays valid.
    for j in np.nonzero(spacing == 0)[0]:
        direction[:, j] = 0.0
        if j < direction.shape[0]:
            direction[j, j] = 1.0
    spacing = np.where(spacing > 0, spacing, 1.0)
    return [float(x) for x in spacing], [float(x) for x in a[:-1, -1]], direction.tolist()


def json_clean(value: Any, _depth: int = 0) -> Any:
    """Best-effort conversion of header values to plain JSON.

    numpy scalars/arrays become Python numbers/lists, bytes are decoded as text when
    possible (else base64 as ``{"base64": ...}``), NaN/inf become ``None``, and other
    objects become ``str(obj)``. Never raises.
    """
    if _depth > 64:
        return None
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (complex, np.complexfloating)):
        return [json_clean(value.real), json_clean(value.imag)]
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        raw = bytes(value)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
        return text.rstrip("\x00")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SV" and value.ndim == 0:
            return json_clean(value.tobytes(), _depth + 1)
        return json_clean(value.tolist(), _depth + 1)
    if isinstance(value, (list, tuple)):
        return [json_clean(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): json_clean(v, _depth + 1) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return json_clean(value.tolist(), _depth + 1)
    return str(value)
