"""The MLArray metadata model: namespaces, validation on the way in, JSON mapping.

``Meta`` holds one object per namespace (``spatial``, ``stats``, ``bbox``, ``blosc2``,
``pyramid``) and plain values for the rest (``is_seg``, ``classes``, ``source``,
``source_format``, ``extra``, ``has_array``). ``Meta.to_mapping()`` gives the JSON document
stored in the file (spec v1); ``Meta.from_mapping()`` reads it back and validates it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping, Optional

import numpy as np

from . import affines
from ._errors import MetadataError
from ._fields import (check_classes, float_list, int_list, label_str, optional_number, reject_unknown,
                      require_mapping, str_list)
from ._jsonsafe import to_json_value

__all__ = [
    "Meta",
    "check_classes",
    "MetaSpatial",
    "MetaStatistics",
    "MetaBbox",
    "MetaBlosc2",
    "MetaPyramid",
    "AxisLabel",
    "CoordSystem",
    "SPATIAL_AXIS_LABELS",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 1


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
    """Known world coordinate conventions; any other string is accepted as-is."""

    RAS = "RAS"
    LPS = "LPS"
    unknown = "unknown"
    other = "other"


SPATIAL_AXIS_LABELS = frozenset({"spatial", "spatial_x", "spatial_y", "spatial_z"})


def spatial_axes_of(axis_labels: Optional[list], ndim: int) -> list[int]:
    """Indices of the spatial axes: all axes when no labels are given."""
    if axis_labels is None:
        return list(range(ndim))
    return [i for i, lab in enumerate(axis_labels) if label_str(lab) in SPATIAL_AXIS_LABELS]


class _Namespace:
    """Common behaviour: equality by mapping, readable repr."""

    __slots__ = ()

    def to_mapping(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_mapping() == other.to_mapping()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_mapping()!r})"

    def is_empty(self) -> bool:
        return not self.to_mapping()


# ----------------------------------------------------------------------------- spatial

class MetaSpatial(_Namespace):
    """Geometry of the spatial axes: ``world = origin + direction @ (spacing * index)``.

    ``affine`` is derived from spacing/origin/direction, so it can never go stale;
    assigning an affine decomposes it (shear is refused).
    """

    __slots__ = ("spacing", "origin", "direction", "shape", "axis_labels", "axis_units", "coord_system")

    def __init__(self, spacing=None, origin=None, direction=None, affine=None, shape=None,
                 axis_labels=None, axis_units=None, coord_system=None) -> None:
        self.spacing = None if spacing is None else float_list(spacing, "spatial.spacing", None, positive=True)
        self.origin = None if origin is None else float_list(origin, "spatial.origin", None)
        self.direction = None
        if direction is not None:
            self.direction = affines.check_direction(direction).tolist()
        self.shape = None if shape is None else int_list(shape, "spatial.shape")
        self.axis_labels = None if axis_labels is None else str_list(axis_labels, "spatial.axis_labels", None)
        self.axis_units = None if axis_units is None else str_list(axis_units, "spatial.axis_units", None)
        if coord_system is not None:
            coord_system = label_str(coord_system)
            if not isinstance(coord_system, str):
                raise MetadataError("spatial.coord_system", coord_system, "must be a string",
                                    "use 'RAS', 'LPS', 'unknown', 'other' or a custom name")
        self.coord_system = coord_system
        if affine is not None:
            self._apply_affine(affine)

    # -- affine -------------------------------------------------------------
    def _apply_affine(self, affine) -> None:
        spacing, origin, direction = affines.decompose_affine(affine)
        given = compose_affine_or_none(self.spacing, self.origin, self.direction)
        if given is not None and given.shape == np.shape(affine) and not np.allclose(given, affine, atol=1e-6, rtol=1e-6):
            raise MetadataError("spatial.affine", affine,
                                "disagrees with the spacing/origin/direction also given",
                                "pass either the affine or spacing/origin/direction, or make them agree")
        self.spacing, self.origin, self.direction = spacing.tolist(), origin.tolist(), direction.tolist()

    @property
    def affine(self) -> Optional[list[list[float]]]:
        a = compose_affine_or_none(self.spacing, self.origin, self.direction)
        return None if a is None else a.tolist()

    @affine.setter
    def affine(self, value) -> None:
        if value is None:
            self.spacing = self.origin = self.direction = None
            return
        self.spacing = self.origin = self.direction = None
        self._apply_affine(value)

    @property
    def spatial_ndim(self) -> Optional[int]:
        for v in (self.spacing, self.origin, self.direction):
            if v is not None:
                return len(v)
        return None

    def validate(self, ndim: Optional[int] = None) -> None:
        """Check field lengths against the array's ``ndim`` (and each other)."""
        n_spatial = None
        if self.axis_labels is not None:
            self.axis_labels = str_list(self.axis_labels, "spatial.axis_labels", ndim)
            n_spatial = len(spatial_axes_of(self.axis_labels, len(self.axis_labels)))
        elif ndim is not None:
            n_spatial = ndim
        if self.shape is not None and ndim is not None:
            int_list(self.shape, "spatial.shape", ndim)
        if self.spacing is not None:
            self.spacing = float_list(self.spacing, "spatial.spacing", n_spatial, positive=True)
        n_spatial = n_spatial if n_spatial is not None else self.spatial_ndim
        if self.origin is not None:
            self.origin = float_list(self.origin, "spatial.origin", n_spatial)
        if self.direction is not None:
            self.direction = affines.check_direction(self.direction, n_spatial).tolist()
        if self.axis_units is not None:
            self.axis_units = str_list(self.axis_units, "spatial.axis_units", None)
            allowed = {x for x in (n_spatial, ndim) if x is not None}
            if allowed and len(self.axis_units) not in allowed:
                raise MetadataError("spatial.axis_units", self.axis_units,
                                    f"must have one unit per spatial axis ({n_spatial}) or per axis ({ndim})",
                                    "e.g. ['mm', 'mm', 'mm']")

    def to_mapping(self) -> dict:
        out: dict[str, Any] = {}
        for key in ("spacing", "origin", "direction"):
            if getattr(self, key) is not None:
                out[key] = [list(r) if isinstance(r, list) else r for r in getattr(self, key)]
        aff = self.affine
        if aff is not None:
            out["affine"] = aff
        for key in ("shape", "axis_labels", "axis_units", "coord_system"):
            if getattr(self, key) is not None:
                v = getattr(self, key)
                out[key] = list(v) if isinstance(v, list) else v
        return out

    @classmethod
    def from_mapping(cls, d: Optional[Mapping]) -> "MetaSpatial":
        d = require_mapping(d, "spatial")
        reject_unknown(d, "spatial", {"spacing", "origin", "direction", "affine", "shape", "axis_labels",
                                       "axis_units", "coord_system"})
        aff = d.get("affine")
        has_parts = any(d.get(k) is not None for k in ("spacing", "origin", "direction"))
        obj = cls(spacing=d.get("spacing"), origin=d.get("origin"), direction=d.get("direction"),
                  shape=d.get("shape"), axis_labels=d.get("axis_labels"), axis_units=d.get("axis_units"),
                  coord_system=d.get("coord_system"))
        if aff is not None:
            if has_parts and obj.spacing is not None and obj.origin is not None and obj.direction is not None:
                obj._apply_affine(aff)  # checks consistency
            else:
                # Fill only what is missing from the affine, keep what was given explicitly.
                sp, org, dr = affines.decompose_affine(aff)
                obj.spacing = obj.spacing or sp.tolist()
                obj.origin = obj.origin or org.tolist()
                obj.direction = obj.direction or dr.tolist()
        return obj


def compose_affine_or_none(spacing, origin, direction) -> Optional[np.ndarray]:
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


# ----------------------------------------------------------------------------- stats

class MetaStatistics(_Namespace):
    """Intensity statistics, computed at write time so viewers get contrast limits for free."""

    __slots__ = ("min", "max", "mean", "median", "std", "percentiles", "count", "nan_count", "exact")
    _NUMBERS = ("min", "max", "mean", "median", "std")

    def __init__(self, min=None, max=None, mean=None, median=None, std=None, percentiles=None,
                 count=None, nan_count=None, exact=None) -> None:
        for name, v in zip(self._NUMBERS, (min, max, mean, median, std)):
            setattr(self, name, optional_number(v, f"stats.{name}"))
        self.percentiles = self._check_percentiles(percentiles)
        self.count = None if count is None else int_list([count], "stats.count")[0]
        self.nan_count = None if nan_count is None else int_list([nan_count], "stats.nan_count")[0]
        if exact is not None and not isinstance(exact, bool):
            raise MetadataError("stats.exact", exact, "must be a bool", "pass True or False")
        self.exact = exact

    @staticmethod
    def _check_percentiles(p) -> Optional[dict[str, Optional[float]]]:
        if p is None:
            return None
        if not isinstance(p, Mapping):
            raise MetadataError("stats.percentiles", p, "must map percent keys to values",
                                "pass e.g. {'0.5': -1000.0, '99.5': 1500.0}")
        out = {}
        for k, v in p.items():
            try:
                q = float(k)
            except (TypeError, ValueError):
                raise MetadataError("stats.percentiles", k, "keys must be percents between 0 and 100",
                                    "use keys such as '0.5' or '99.5'") from None
            if not 0 <= q <= 100:
                raise MetadataError("stats.percentiles", k, "keys must be percents between 0 and 100",
                                    "use keys such as '0.5' or '99.5'")
            out[format(q, "g")] = optional_number(v, f"stats.percentiles[{k!r}]")
        return out

    def percentile(self, q: float) -> Optional[float]:
        """Stored value of the ``q``-th percentile, or None."""
        return None if not self.percentiles else self.percentiles.get(format(float(q), "g"))

    def to_mapping(self) -> dict:
        out = {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}
        if "percentiles" in out:
            out["percentiles"] = dict(out["percentiles"])
        return out

    @classmethod
    def from_mapping(cls, d: Optional[Mapping]) -> "MetaStatistics":
        d = require_mapping(d, "stats")
        reject_unknown(d, "stats", set(cls.__slots__))
        return cls(**d)


# ----------------------------------------------------------------------------- boxes

class MetaBbox(_Namespace):
    """Bounding boxes ``[N][spatial ndim][2]`` (min, max per axis, in voxel index units)."""

    __slots__ = ("bboxes", "labels", "scores")

    def __init__(self, bboxes=None, labels=None, scores=None) -> None:
        self.bboxes = None if bboxes is None else self._check_boxes(bboxes)
        self.labels = None if labels is None else self._check_labels(labels)
        self.scores = None if scores is None else float_list(scores, "bbox.scores", None)
        self.validate()

    @staticmethod
    def _check_boxes(bboxes) -> list:
        try:
            arr = np.asarray(bboxes, dtype=float)
        except (TypeError, ValueError, OverflowError):
            raise MetadataError("bbox.bboxes", bboxes, "must be a numeric array of shape [N][ndim][2]",
                                "pass e.g. [[[z0, z1], [y0, y1], [x0, x1]]]") from None
        if arr.size == 0:
            return []
        if arr.ndim != 3 or arr.shape[2] != 2:
            raise MetadataError("bbox.bboxes", bboxes, f"must have shape [N][ndim][2], got {list(arr.shape)}",
                                "give each box as one [min, max] pair per spatial axis")
        if not np.all(np.isfinite(arr)):
            raise MetadataError("bbox.bboxes", bboxes, "contains NaN or infinity", "use finite coordinates")
        bad = np.argwhere(arr[..., 0] > arr[..., 1])
        if bad.size:
            i, ax = bad[0]
            raise MetadataError(f"bbox.bboxes[{i}][{ax}]", arr[i, ax].tolist(), "min is greater than max",
                                "order each pair as [min, max]")
        return _box_lists(arr)

    @staticmethod
    def _check_labels(labels) -> list:
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise MetadataError("bbox.labels", labels, "must be a list", "one label per box")
        out = []
        for v in list(labels):
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise MetadataError("bbox.labels", labels, "must contain str, int or float only",
                                    "use a class name or class id per box")
            out.append(v)
        return out

    def validate(self, spatial_ndim: Optional[int] = None) -> None:
        n = None if self.bboxes is None else len(self.bboxes)
        for name in ("labels", "scores"):
            v = getattr(self, name)
            if v is not None and n is not None and len(v) != n:
                raise MetadataError(f"bbox.{name}", v, f"must have one entry per box ({n}), got {len(v)}",
                                    "give a label/score for every box or none")
            if v is not None and n is None and len(v):
                raise MetadataError(f"bbox.{name}", v, "given without bboxes", "set bbox.bboxes too")
        if spatial_ndim is not None and self.bboxes:
            for i, box in enumerate(self.bboxes):
                if len(box) != spatial_ndim:
                    raise MetadataError(f"bbox.bboxes[{i}]", box,
                                        f"has {len(box)} axes but the image has {spatial_ndim} spatial axes",
                                        "give one [min, max] pair per spatial axis")

    def __len__(self) -> int:
        return 0 if self.bboxes is None else len(self.bboxes)

    def to_mapping(self) -> dict:
        return {k: list(getattr(self, k)) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, d) -> "MetaBbox":
        if isinstance(d, (list, tuple, np.ndarray)):
            return cls(bboxes=d)
        d = require_mapping(d, "bbox")
        reject_unknown(d, "bbox", set(cls.__slots__))
        return cls(**d)


def _num(v: float):
    return int(v) if float(v).is_integer() else float(v)


def _box_lists(arr: np.ndarray) -> list:
    """``arr`` as nested lists, integer-valued coordinates as int (what :func:`_num` gives each value),
    without a Python call per value when all or none are integers (1 M boxes: 5 s -> 0.5 s)."""
    whole = arr == np.floor(arr)
    if whole.all() and np.abs(arr).max() < 2**53:
        return arr.astype(np.int64).tolist()
    if not whole.any():
        return arr.tolist()
    return [[[_num(v) for v in pair] for pair in box] for box in arr.tolist()]


# ----------------------------------------------------------------------------- layout, pyramid

class MetaBlosc2(_Namespace):
    """Storage layout: chunk/block shapes, the patch size they were derived from, codec, dtype."""

    __slots__ = ("chunk_size", "block_size", "patch_size", "codec", "clevel", "filters", "dtype")

    def __init__(self, chunk_size=None, block_size=None, patch_size=None, codec=None, clevel=None,
                 filters=None, dtype=None, **legacy) -> None:
        self.chunk_size = None if chunk_size is None else int_list(chunk_size, "blosc2.chunk_size", minimum=1)
        self.block_size = None if block_size is None else int_list(block_size, "blosc2.block_size", minimum=1)
        self.patch_size = None if patch_size is None else int_list(patch_size, "blosc2.patch_size", minimum=1)
        self.codec = codec if codec is None else str(codec)
        self.clevel = None if clevel is None else int_list([clevel], "blosc2.clevel")[0]
        self.filters = None if filters is None else str_list(filters, "blosc2.filters", None)
        self.dtype = dtype if dtype is None else str(dtype)  # NumPy dtype.str; readers compare it with the frame

    def to_mapping(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, d) -> "MetaBlosc2":
        d = dict(require_mapping(d, "blosc2"))
        d.pop("cparams", None)  # written by the published 0.0.x package; the container records codecs itself
        d.pop("dparams", None)
        reject_unknown(d, "blosc2", set(cls.__slots__))
        return cls(**d)


class MetaPyramid(_Namespace):
    """The stored resolution levels (level 0 is the base array and is not listed)."""

    __slots__ = ("levels", "method")

    def __init__(self, levels=None, method=None) -> None:
        if levels is not None and not isinstance(levels, (list, tuple)):
            raise MetadataError("pyramid.levels", levels, "must be a list of level objects", "see docs/spec.md")
        self.levels = [] if levels is None else [self._check_level(i, lv) for i, lv in enumerate(levels)]
        if method is not None and method not in ("mean", "mode", "nearest", "source"):
            raise MetadataError("pyramid.method", method, "must be 'mean', 'mode', 'nearest' or 'source'",
                                "images use 'mean', segmentations 'mode'; 'source' keeps the input's own levels")
        self.method = method

    @staticmethod
    def _check_level(i: int, lv) -> dict:
        lv = require_mapping(lv, f"pyramid.levels[{i}]")
        reject_unknown(lv, f"pyramid.levels[{i}]", {"shape", "scale", "offset", "nbytes", "chunk_size", "block_size"})
        shape = int_list(lv.get("shape"), f"pyramid.levels[{i}].shape", minimum=1)
        scale = float_list(lv.get("scale"), f"pyramid.levels[{i}].scale", len(shape), positive=True)
        offset, nbytes = (int_list([lv.get(k)], f"pyramid.levels[{i}].{k}")[0] for k in ("offset", "nbytes"))
        out = {"shape": shape, "scale": scale, "offset": offset, "nbytes": nbytes}
        for key in ("chunk_size", "block_size"):  # recorded so a damaged level frame header is caught
            if lv.get(key) is not None:
                out[key] = int_list(lv[key], f"pyramid.levels[{i}].{key}", len(shape), minimum=1)
        return out

    def to_mapping(self) -> dict:
        if not self.levels:
            return {}
        out = {"levels": [dict(lv) for lv in self.levels]}
        if self.method:
            out["method"] = self.method
        return out

    @classmethod
    def from_mapping(cls, d) -> "MetaPyramid":
        d = require_mapping(d, "pyramid")
        reject_unknown(d, "pyramid", set(cls.__slots__))
        return cls(**d)


# ----------------------------------------------------------------------------- Meta

_TOP_KEYS = {"format_version", "writer", "has_array", "spatial", "stats", "bbox", "is_seg", "classes",
             "source", "source_format", "extra", "blosc2", "pyramid"}
_SEAL_KEYS = {"chunk_checksums", "checksum"}  # the file writer's seal (mlarray._seal), verified when a file is read


class Meta:
    """All metadata of one MLArray file.

    ``source`` and ``extra`` are plain dicts (JSON only); ``is_seg`` is ``True``/``False``/``None``;
    ``classes`` is a class table; the rest are namespace objects.
    """

    __slots__ = ("spatial", "stats", "bbox", "is_seg", "classes", "source", "source_format", "extra",
                 "blosc2", "pyramid", "has_array", "writer", "format_version")

    def __init__(self, source=None, extra=None, spatial=None, stats=None, bbox=None, is_seg=None,
                 classes=None, source_format=None, blosc2=None, pyramid=None, has_array=False,
                 writer=None, format_version=FORMAT_VERSION) -> None:
        self.spatial = _ensure(spatial, MetaSpatial)
        self.stats = _ensure(stats, MetaStatistics)
        self.bbox = _ensure(bbox, MetaBbox)
        self.blosc2 = _ensure(blosc2, MetaBlosc2)
        self.pyramid = _ensure(pyramid, MetaPyramid)
        self.is_seg = _check_is_seg(is_seg)
        self.classes = check_classes(classes)
        self.source = _check_dict(source, "source")
        self.extra = _check_dict(extra, "extra")
        if source_format is not None and not isinstance(source_format, str):
            raise MetadataError("source_format", source_format, "must be a string", "e.g. 'nifti1', 'dicom'")
        self.source_format = source_format
        if not isinstance(has_array, (bool, np.bool_)):
            raise MetadataError("has_array", has_array, "must be true or false", "pass a bool")
        self.has_array = bool(has_array)
        if writer is not None and not isinstance(writer, str):
            raise MetadataError("writer", writer, "must be a string", "e.g. 'mlarray 1.0.0'")
        self.writer = writer
        if isinstance(format_version, bool) or not isinstance(format_version, int):
            raise MetadataError("format_version", format_version, "must be an integer", f"use {FORMAT_VERSION}")
        self.format_version = format_version

    # -- validation ---------------------------------------------------------
    def validate(self, ndim: Optional[int] = None) -> "Meta":
        """Check every namespace against an array of ``ndim`` axes; raises :class:`MetadataError`."""
        self.spatial.validate(ndim)
        n_spatial = None
        if ndim is not None:
            n_spatial = len(spatial_axes_of(self.spatial.axis_labels, ndim))
        elif self.spatial.spatial_ndim is not None:
            n_spatial = self.spatial.spatial_ndim
        self.bbox = _ensure(self.bbox, MetaBbox)
        if self.bbox.bboxes is not None:
            self.bbox.bboxes = MetaBbox._check_boxes(self.bbox.bboxes)
        self.bbox.validate(n_spatial)
        self.is_seg = _check_is_seg(self.is_seg)
        self.classes = check_classes(self.classes)
        self.source = _check_dict(self.source, "source")
        self.extra = _check_dict(self.extra, "extra")
        return self

    # -- mapping ------------------------------------------------------------
    def to_mapping(self) -> dict:
        """The JSON document stored in the file (spec v1). Empty namespaces are omitted."""
        out: dict[str, Any] = {"format_version": self.format_version}
        if self.writer:
            out["writer"] = self.writer
        out["has_array"] = self.has_array
        for name in ("spatial", "stats", "bbox", "blosc2", "pyramid"):
            m = getattr(self, name).to_mapping()
            if m:
                out[name] = m
        out["is_seg"] = self.is_seg
        if self.classes is not None:
            out["classes"] = [dict(c) for c in self.classes]
        out["source"] = to_json_value(self.source, "source")
        if self.source_format is not None:
            out["source_format"] = self.source_format
        out["extra"] = to_json_value(self.extra, "extra")
        return out

    @classmethod
    def from_mapping(cls, d: Mapping) -> "Meta":
        d = require_mapping(d, "meta")
        reject_unknown(d, "meta", _TOP_KEYS | _SEAL_KEYS)
        version = d.get("format_version", FORMAT_VERSION)
        return cls(
            spatial=MetaSpatial.from_mapping(d.get("spatial")),
            stats=MetaStatistics.from_mapping(d.get("stats")),
            bbox=MetaBbox.from_mapping(d.get("bbox")),
            blosc2=MetaBlosc2.from_mapping(d.get("blosc2")),
            pyramid=MetaPyramid.from_mapping(d.get("pyramid")),
            is_seg=d.get("is_seg"),
            classes=d.get("classes"),
            source=d.get("source"),
            source_format=d.get("source_format"),
            extra=d.get("extra"),
            has_array=d.get("has_array", False),
            writer=d.get("writer"),
            format_version=version,
        )

    def copy(self) -> "Meta":
        return Meta.from_mapping(self.to_mapping())

    def copy_from(self, other: "Meta", *, overwrite: bool = False) -> None:
        """Fill this Meta's unset user fields from ``other`` (all of them with ``overwrite``)."""
        src = other.copy()
        for name in ("spatial", "stats", "bbox"):
            mine, theirs = getattr(self, name), getattr(src, name)
            if overwrite or mine.is_empty():
                setattr(self, name, theirs)
            else:
                for slot in type(mine).__slots__:
                    if getattr(mine, slot) is None:
                        setattr(mine, slot, getattr(theirs, slot))
        for name in ("is_seg", "classes", "source_format"):
            if overwrite or getattr(self, name) is None:
                setattr(self, name, getattr(src, name))
        for name in ("source", "extra"):
            if overwrite or not getattr(self, name):
                setattr(self, name, getattr(src, name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Meta) and self.to_mapping() == other.to_mapping()

    def __repr__(self) -> str:
        return f"Meta({self.to_mapping()!r})"


def _ensure(value, cls):
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    return cls.from_mapping(value)


def _check_is_seg(v) -> Optional[bool]:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    raise MetadataError("is_seg", v, "must be True, False or None", "pass a bool")


def _check_dict(v, field: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise MetadataError(field, v, "must be a dict of JSON values", "wrap the value, e.g. {'value': ...}")
    return to_json_value(dict(v), field)


