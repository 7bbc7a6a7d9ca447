"""The ``spatial`` namespace: geometry of the spatial axes, axis roles and the world convention."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .. import affines
from .._errors import MetadataError, MetadataTypeError
from .fields import float_list, int_list, label_str, reject_unknown, require_mapping, str_list
from .meta_base import BaseMeta, FrozenList, library_write

__all__ = ["AxisLabel", "AxisLabelEnum", "CoordSystem", "CoordSystemEnum", "MetaSpatial", "SPATIAL_AXIS_LABELS",
           "spatial_axes_of", "compose_affine_or_none"]


class AxisLabel(str, Enum):
    """Known axis roles; any other string is accepted as a custom (non-spatial) label."""

    spatial = "spatial"
    spatial_x = "spatial_x"
    spatial_y = "spatial_y"
    spatial_z = "spatial_z"
    non_spatial = "non_spatial"
    channel = "channel"
    temporal = "temporal"
    continuous = "continuous"
    components = "components"


class CoordSystem(str, Enum):
    """Known world conventions; any other string is accepted as-is and kept exactly.

    ``RAS+``/``LPS+`` are the published package's (and ITK's) spellings of ``RAS``/``LPS``: the same
    world axes. :func:`mlarray.affines.anatomical_letters` maps any of them to its letters.
    """

    RAS = "RAS"
    LPS = "LPS"
    RAS_PLUS = "RAS+"
    LPS_PLUS = "LPS+"
    unknown = "unknown"
    other = "other"

    @property
    def letters(self) -> Optional[str]:
        """``"RAS"`` for both ``RAS`` and ``RAS+``; None for ``unknown``/``other``."""
        return affines.anatomical_letters(self.value)


# The published package's names for the same enums.
AxisLabelEnum = AxisLabel
CoordSystemEnum = CoordSystem

SPATIAL_AXIS_LABELS = frozenset({"spatial", "spatial_x", "spatial_y", "spatial_z"})


def spatial_axes_of(axis_labels: Optional[list], ndim: int) -> list[int]:
    """Indices of the spatial axes: all axes when no labels are given."""
    if axis_labels is None:
        return list(range(ndim))
    return [i for i, lab in enumerate(axis_labels) if label_str(lab) in SPATIAL_AXIS_LABELS]


def _coord_system(value: Any) -> Optional[str]:
    value = label_str(value)
    if value is not None and not isinstance(value, str):
        raise MetadataTypeError("spatial.coord_system", value, "must be a string",
                                "use 'RAS', 'LPS', 'RAS+', 'LPS+', 'unknown', 'other' or a custom name")
    return value


class MetaSpatial(BaseMeta):
    """Geometry of the spatial axes: ``world = origin + direction @ (spacing * index)``.

    One geometry, two views: ``spacing``/``origin``/``direction`` and ``affine`` always agree.
    Give either; an affine (including a sheared one) is split into column lengths (``spacing``),
    unit columns (``direction``) and translation (``origin``) without loss. A direction that is not
    orthonormal is kept as given; ``mlarray.validate`` reports it.
    """

    __slots__ = ("spacing", "origin", "direction", "shape", "axis_labels", "axis_units", "coord_system",
                 "_ndim", "_from_affine")
    _FIELDS = ("spacing", "origin", "direction", "shape", "axis_labels", "axis_units", "coord_system")
    _PROTECTED = frozenset({"shape"})
    _PREFIX = "meta.spatial."
    AxisLabel = AxisLabel
    CoordSystem = CoordSystem

    def __init__(self, spacing: Optional[ArrayLike] = None, origin: Optional[ArrayLike] = None,
                 direction: Optional[ArrayLike] = None, affine: Optional[ArrayLike] = None,
                 shape: Optional[Sequence[int]] = None, axis_labels: Optional[Sequence[str]] = None,
                 axis_units: Optional[Sequence[Optional[str]]] = None, coord_system: Optional[str] = None) -> None:
        if affine is not None and any(v is not None for v in (spacing, origin, direction)):
            raise MetadataError("spatial.affine", affine, "cannot be given together with spacing, origin or direction",
                                "give either the affine or spacing/origin/direction")
        self._ndim: Optional[int] = None
        self._from_affine = False
        self.spacing = None if spacing is None else float_list(spacing, "spatial.spacing", None, positive=True)
        self.origin = None if origin is None else float_list(origin, "spatial.origin", None)
        self.direction = None if direction is None else _direction(direction, None)
        self.shape = None if shape is None else FrozenList(int_list(shape, "spatial.shape"), "meta.spatial.shape")
        self.axis_labels = None if axis_labels is None else str_list(axis_labels, "spatial.axis_labels", None)
        self.axis_units = None if axis_units is None else str_list(axis_units, "spatial.axis_units", None)
        self.coord_system = _coord_system(coord_system)
        if affine is not None:
            self._apply_affine(affine)
        self._ready()

    def _clearable(self, name: str) -> bool:
        return name == "shape"  # None means "unknown": the writer records the array's shape

    # -- affine -------------------------------------------------------------
    def _apply_affine(self, affine: ArrayLike, *, check_against_parts: bool = False) -> None:
        spacing, origin, direction = affines.decompose_affine(affine, allow_shear=True)
        if check_against_parts:
            # Both views stored (as this library writes them): they must agree, and the parts are kept
            # exactly (a direction with non-unit columns, as published files hold, has no other form).
            given = compose_affine_or_none(self.spacing, self.origin, self.direction)
            if given is not None and (given.shape != np.shape(affine)
                                      or not np.allclose(given, affine, atol=1e-6, rtol=1e-6)):
                raise MetadataError("spatial.affine", affine,
                                    "disagrees with the spacing/origin/direction also given",
                                    "pass either the affine or spacing/origin/direction, or make them agree")
            return
        with library_write():
            self.spacing, self.origin, self.direction = spacing.tolist(), origin.tolist(), direction.tolist()
        self._from_affine = True

    @property
    def affine(self) -> Optional[list[list[float]]]:
        """``(n+1)×(n+1)`` index-to-world matrix (None while no geometry is set)."""
        a = compose_affine_or_none(self.spacing, self.origin, self.direction)
        return None if a is None else a.tolist()

    @affine.setter
    def affine(self, value: Optional[ArrayLike]) -> None:
        """Replace the geometry by ``value`` (None clears spacing, origin and direction)."""
        old = (self.spacing, self.origin, self.direction, self._from_affine)
        with library_write():
            self.spacing = self.origin = self.direction = None
            self._from_affine = False
            try:
                if value is not None:
                    self._apply_affine(value)
                self.validate(self._ndim)
            except BaseException:
                self.spacing, self.origin, self.direction, self._from_affine = old
                raise

    def set_geometry(self, spacing: Optional[ArrayLike] = None, origin: Optional[ArrayLike] = None,
                     direction: Optional[ArrayLike] = None, affine: Optional[ArrayLike] = None) -> None:
        """Set the geometry parts given (each checked), or all three from ``affine``; parts not given stay.

        An ``affine`` together with a part raises (the published package's rule: an affine never silently
        loses to parts). Not validated against the array here: the caller validates once afterwards."""
        if affine is not None:
            merged = MetaSpatial(spacing=spacing, origin=origin, direction=direction, affine=affine)
            with library_write():
                self.spacing, self.origin, self.direction = merged.spacing, merged.origin, merged.direction
            self._from_affine = True
            return
        parts = {"spacing": spacing, "origin": origin, "direction": direction}
        with library_write():
            for name, value in parts.items():
                if value is not None:
                    one_part: dict[str, Any] = {name: value}  # checked on its own, as the constructor does
                    setattr(self, name, getattr(MetaSpatial(**one_part), name))
        if any(v is not None for v in parts.values()):
            self._from_affine = False

    def clear_geometry(self, name: str) -> None:
        """Unset ``spacing``, ``origin`` or ``direction`` (unknown again; nothing to validate)."""
        if name not in ("spacing", "origin", "direction"):
            raise MetadataError("spatial", name, "is not a geometry part", "use spacing, origin or direction")
        with library_write():
            setattr(self, name, None)

    def set_axis_labels(self, axis_labels: Sequence[str]) -> None:
        """Set the axis labels (checked) without validating them against the array yet: the caller
        validates once afterwards, with the geometry given at the same time."""
        with library_write():
            self.axis_labels = MetaSpatial(axis_labels=axis_labels).axis_labels

    @property
    def geometry_from_affine(self) -> bool:
        """True when the geometry was last given as an affine (not as spacing/origin/direction)."""
        return self._from_affine

    @property
    def spatial_ndim(self) -> Optional[int]:
        for v in (self.spacing, self.origin, self.direction):
            if v is not None:
                return len(v)
        return None

    @property
    def validated_ndim(self) -> Optional[int]:
        """The array's ``ndim`` these fields were last validated against (None before any validation with one);
        later assignments are checked against it."""
        return self._ndim

    @property
    def is_orthonormal(self) -> bool:
        """Whether ``direction`` is a rotation/reflection (True when no direction is set)."""
        return self.direction is None or affines.orthonormality_error(self.direction) <= affines.ORTHONORMAL_TOL

    # -- validation ---------------------------------------------------------
    def validate(self, ndim: Optional[int] = None) -> None:
        """Check field lengths against the array's ``ndim`` (and each other); remembers ``ndim`` so
        later assignments (``meta.spatial.spacing = ...``) are checked against it too."""
        with library_write():
            self._validate(ndim)
        if ndim is not None:
            self._ndim = ndim

    def _revalidate(self, changed: Optional[str] = None) -> None:
        if changed in ("spacing", "origin", "direction"):
            self._from_affine = False  # a part was assigned: the geometry is now given by its parts
        if self._ndim is not None:
            self.validate(self._ndim)  # against the dimensions last validated against
        else:  # not yet tied to an array: each field on its own (lengths are checked by validate(ndim))
            with library_write():
                self._validate(None, cross=False)

    def _validate(self, ndim: Optional[int], cross: bool = True) -> None:
        n_spatial = None
        if self.axis_labels is not None:
            self.axis_labels = str_list(self.axis_labels, "spatial.axis_labels", ndim)
            n_spatial = len(spatial_axes_of(self.axis_labels, len(self.axis_labels)))
        elif ndim is not None:
            n_spatial = ndim
        if self.shape is not None:
            self.shape = FrozenList(int_list(self.shape, "spatial.shape", ndim), "meta.spatial.shape")
        if self.spacing is not None:
            self.spacing = float_list(self.spacing, "spatial.spacing", n_spatial, positive=True)
        if cross:
            n_spatial = n_spatial if n_spatial is not None else self.spatial_ndim
        if self.origin is not None:
            self.origin = float_list(self.origin, "spatial.origin", n_spatial)
        if self.direction is not None:
            self.direction = _direction(self.direction, n_spatial)
        self.coord_system = _coord_system(self.coord_system)
        if self.axis_units is not None:
            # Any count is kept (the published package's docs write 5 units for 6 axes);
            # mlarray.validate reports a count that matches neither the spatial axes nor all axes.
            self.axis_units = str_list(self.axis_units, "spatial.axis_units", None)

    # -- mapping ------------------------------------------------------------
    def to_mapping(self, *, include_none: bool = False) -> dict:
        out: dict[str, Any] = {}
        for key in ("spacing", "origin", "direction"):
            v = getattr(self, key)
            if v is not None or include_none:
                out[key] = None if v is None else [list(r) if isinstance(r, list) else r for r in v]
        aff = self.affine
        if aff is not None or include_none:
            out["affine"] = aff
        for key in ("shape", "axis_labels", "axis_units", "coord_system"):
            v = getattr(self, key)
            if v is not None or include_none:
                out[key] = list(v) if isinstance(v, list) else v
        return out

    @classmethod
    def from_mapping(cls, d: object) -> "MetaSpatial":
        d = require_mapping(d, "spatial")
        reject_unknown(d, "spatial", {"spacing", "origin", "direction", "affine", "shape", "axis_labels",
                                       "axis_units", "coord_system"})
        aff = d.get("affine")
        obj = cls(spacing=d.get("spacing"), origin=d.get("origin"), direction=d.get("direction"),
                  shape=d.get("shape"), axis_labels=d.get("axis_labels"), axis_units=d.get("axis_units"),
                  coord_system=d.get("coord_system"))
        if aff is not None:
            if obj.spacing is not None and obj.origin is not None and obj.direction is not None:
                obj._apply_affine(aff, check_against_parts=True)  # the form this library writes: both views
            elif obj.spacing is None and obj.origin is None and obj.direction is None:
                obj._apply_affine(aff)
            else:
                # Fill only what is missing from the affine, keep what was given explicitly.
                sp, org, dr = affines.decompose_affine(aff, allow_shear=True)
                with library_write():
                    obj.spacing = obj.spacing or sp.tolist()
                    obj.origin = obj.origin or org.tolist()
                    obj.direction = obj.direction or dr.tolist()
        return obj


def _direction(direction: ArrayLike, n_spatial: Optional[int]) -> list:
    return affines.check_direction(direction, n_spatial, orthonormal=False).tolist()


def compose_affine_or_none(spacing: Optional[Sequence[float]], origin: Optional[Sequence[float]],
                           direction: Optional[Sequence[Sequence[float]]]) -> Optional[np.ndarray]:
    """The affine from whichever parts are known, filling unit/zero/identity defaults; None if none."""
    n = next((len(v) for v in (spacing, origin, direction) if v is not None), None)
    if n is None:
        return None
    s = np.ones(n) if spacing is None else np.asarray(spacing, float)
    o = np.zeros(n) if origin is None else np.asarray(origin, float)
    d = np.eye(n) if direction is None else np.asarray(direction, float)
    if s.shape != (n,) or o.shape != (n,) or d.shape != (n, n):
        raise MetadataError("spatial", {"spacing": spacing, "origin": origin, "direction": direction},
                            "spacing, origin and direction have different numbers of axes",
                            "give all three for the same spatial axes")
    return affines.compose_affine(s, o, d)
