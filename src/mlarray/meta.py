"""The MLArray metadata model: namespaces, validation on the way in, JSON mapping.

``Meta`` holds one object per namespace (``spatial``, ``stats``, ``bbox``, ``blosc2``,
``pyramid``) and plain values for the rest (``is_seg``, ``classes``, ``source``,
``source_format``, ``extra``, ``has_array``). ``Meta.to_mapping()`` gives the JSON document
stored in the file (spec v1); ``Meta.from_mapping()`` reads it back and validates it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np

from ._errors import MetadataError, MetadataTypeError
from ._metadata.fields import (
    check_classes,
    float_list,
    int_list,
    optional_number,
    reject_unknown,
    require_mapping,
    str_list,
)
from ._metadata.fields import label_str as label_str  # for the napari plugin: one reading of axis labels
from ._metadata.jsonsafe import decode_nonfinite, encode_nonfinite, to_json_value
from ._metadata.meta_base import (
    BaseMeta,
    FrozenList,
    MetaExtra,
    MetaHasArray,
    MetaImageFormat,
    MetaIsSeg,
    MetaSource,
    MetaVersion,
    SingleKeyBaseMeta,
    internal_write,
    library_write,
)
from ._metadata.meta_bbox import MetaBbox, check_boxes
from ._metadata.meta_spatial import (
    SPATIAL_AXIS_LABELS,
    AxisLabel,
    AxisLabelEnum,
    CoordSystem,
    CoordSystemEnum,
    MetaSpatial,
    compose_affine_or_none,
    spatial_axes_of,
)
from ._published.meta_api import PublishedMetaAPI

__all__ = [
    "Meta",
    "check_classes",
    "MetaSpatial",
    "MetaStatistics",
    "MetaBbox",
    "MetaBlosc2",
    "MetaPyramid",
    "MetaSource",
    "MetaExtra",
    "MetaIsSeg",
    "MetaHasArray",
    "MetaImageFormat",
    "MetaVersion",
    "BaseMeta",
    "SingleKeyBaseMeta",
    "AxisLabel",
    "AxisLabelEnum",
    "CoordSystem",
    "CoordSystemEnum",
    "SPATIAL_AXIS_LABELS",
    "FORMAT_VERSION",
    "spatial_axes_of",
    "compose_affine_or_none",
]

FORMAT_VERSION = 1
# The published package's name for library_write(), kept for code ported from it.
_meta_internal_write = library_write


# ----------------------------------------------------------------------------- stats

class MetaStatistics(BaseMeta):
    """Intensity statistics, computed at write time so viewers get contrast limits for free.

    Statistics you set yourself (``exact`` unset) are stored as given; the writer computes them
    (and sets ``exact``) only when none were given or they came from an earlier computation.
    ``channels`` holds the same statistics per index of a single ``channel`` axis.
    """

    __slots__ = ("min", "max", "mean", "median", "std", "percentiles", "percentile_mean",
                 "percentile_median", "percentile_std", "count", "nan_count", "exact", "channels")
    _FIELDS = __slots__
    _PREFIX = "meta.stats."
    _NUMBERS = ("min", "max", "mean", "median", "std", "percentile_mean", "percentile_median", "percentile_std")

    def __init__(self, min: Optional[float] = None, max: Optional[float] = None, mean: Optional[float] = None,
                 median: Optional[float] = None, std: Optional[float] = None,
                 percentiles: Optional[Mapping[str, Optional[float]]] = None,
                 percentile_mean: Optional[float] = None, percentile_median: Optional[float] = None,
                 percentile_std: Optional[float] = None, count: Optional[int] = None, nan_count: Optional[int] = None,
                 exact: Optional[bool] = None,
                 channels: Optional[Sequence[Union[MetaStatistics, Mapping[str, Any]]]] = None,
                 **published: Optional[float]) -> None:
        numbers = (min, max, mean, median, std, percentile_mean, percentile_median, percentile_std)
        for name, v in zip(self._NUMBERS, numbers):
            setattr(self, name, optional_number(v, f"stats.{name}"))
        self.percentiles = self._check_percentiles(_published_percentiles(percentiles, published))
        self.count = None if count is None else int_list([count], "stats.count")[0]
        self.nan_count = None if nan_count is None else int_list([nan_count], "stats.nan_count")[0]
        if exact is not None and not isinstance(exact, bool):
            raise MetadataTypeError("stats.exact", exact, "must be a bool", "pass True or False")
        self.exact = exact
        self.channels = self._check_channels(channels)
        self._ready()

    @classmethod
    def _check_channels(
        cls, channels: Optional[Sequence[Union[MetaStatistics, Mapping[str, Any]]]],
    ) -> Optional[list["MetaStatistics"]]:
        """Per-channel statistics: one entry per index of the ``channel`` axis (no nesting)."""
        if channels is None:
            return None
        if not isinstance(channels, (list, tuple)):
            raise MetadataError("stats.channels", channels, "must be a list",
                                "give one statistics object per channel")
        out = []
        for i, entry in enumerate(channels):
            c = entry.to_mapping() if isinstance(entry, MetaStatistics) else entry
            if isinstance(c, Mapping) and "channels" in c:
                raise MetadataError(f"stats.channels[{i}].channels", c["channels"], "cannot be nested",
                                    "give per-channel statistics at the top level only")
            try:
                out.append(cls.from_mapping(c))
            except MetadataError as exc:
                raise MetadataError(f"stats.channels[{i}]", c, str(exc), "fix or drop that channel's entry") from None
        return out

    def channel(self, index: int) -> "MetaStatistics":
        """Statistics of channel ``index`` when stored, else the file-wide ones."""
        if self.channels and 0 <= index < len(self.channels):
            return self.channels[index]
        return self

    @property
    def user_supplied(self) -> bool:
        """True for statistics set by the caller: the writer keeps them instead of computing its own."""
        return self.exact is None and not self.is_default()

    @staticmethod
    def _check_percentiles(p: Optional[Mapping[str, Any]]) -> Optional[dict[str, Optional[float]]]:
        if p is None:
            return None
        if not isinstance(p, Mapping):
            raise MetadataError("stats.percentiles", p, "must map percent keys to values",
                                "pass e.g. {'0.5': -1000.0, '99.5': 1500.0}")
        out: dict[str, Optional[float]] = {}
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

    # The published package's pair of percentiles (keys as fractions, e.g. 0.005 and 0.995) are
    # read from the percentile table: its lowest and highest entries.
    def _end(self, last: bool) -> tuple[Optional[float], Optional[float]]:
        if not self.percentiles:
            return None, None
        key = sorted(self.percentiles, key=float)[-1 if last else 0]
        return float(key) / 100.0, self.percentiles[key]

    percentile_min_key = property(lambda self: self._end(False)[0], doc="Lowest stored percentile, as a fraction.")
    percentile_min = property(lambda self: self._end(False)[1], doc="Value of the lowest stored percentile.")
    percentile_max_key = property(lambda self: self._end(True)[0], doc="Highest stored percentile, as a fraction.")
    percentile_max = property(lambda self: self._end(True)[1], doc="Value of the highest stored percentile.")

    def to_mapping(self, *, include_none: bool = False) -> dict:
        out = {k: getattr(self, k) for k in self.__slots__ if include_none or getattr(self, k) is not None}
        if out.get("percentiles") is not None:
            out["percentiles"] = dict(out["percentiles"])
        if out.get("channels") is not None:
            out["channels"] = [c.to_mapping(include_none=include_none) for c in out["channels"]]
        return out

    @classmethod
    def from_mapping(cls, d: object) -> "MetaStatistics":
        d = require_mapping(d, "stats")
        reject_unknown(d, "stats", set(cls.__slots__))
        return cls(**d)


def _published_percentiles(percentiles: Optional[Mapping[str, Optional[float]]],
                           published: dict[str, Optional[float]]) -> Optional[Mapping[str, Optional[float]]]:
    """Fold the published package's ``percentile_min/max`` (+ ``_key`` fractions) into the table."""
    allowed = {"percentile_min", "percentile_max", "percentile_min_key", "percentile_max_key"}
    unknown = sorted(set(published) - allowed)
    if unknown:
        raise MetadataError(f"stats.{unknown[0]}", published[unknown[0]], "has no field in this format "
                            "(statistics are min, max, mean, median, std and a percentile table)",
                            "store it in extra, e.g. extra['stats'] = {...}")
    table = dict(percentiles or {})
    for end in ("min", "max"):
        value, key = published.get(f"percentile_{end}"), published.get(f"percentile_{end}_key")
        if value is not None:
            fraction = optional_number(key, f"stats.percentile_{end}_key")  # None only when key is None
            if fraction is None:
                raise MetadataError(f"stats.percentile_{end}_key", None, f"is needed with percentile_{end}",
                                    "give the percentile as a fraction, e.g. 0.005")
            table[format(fraction * 100.0, "g")] = value
    return table or percentiles


def _frozen(name: str, value: object, check: Callable[[Any], list]) -> Optional[FrozenList]:
    """A checked layout list, read-only for users (the library records the layout it wrote)."""
    return None if value is None else FrozenList(check(value), f"meta.blosc2.{name}")


# ----------------------------------------------------------------------------- layout, pyramid

class MetaBlosc2(BaseMeta):
    """Storage layout: chunk/block shapes, the patch size they were derived from, codec, dtype.

    Recorded by the library when the array is written or compressed, so read-only for users.
    """

    __slots__ = ("chunk_size", "block_size", "patch_size", "codec", "clevel", "filters", "dtype")
    _FIELDS = __slots__
    _PROTECTED = frozenset(__slots__)
    _PREFIX = "meta.blosc2."

    def __init__(self, chunk_size: Optional[Sequence[int]] = None, block_size: Optional[Sequence[int]] = None,
                 patch_size: Optional[Sequence[int]] = None, codec: object = None, clevel: Optional[int] = None,
                 filters: Optional[Sequence[object]] = None, dtype: Union[str, np.dtype, None] = None,
                 **legacy: object) -> None:
        self.chunk_size = _frozen("chunk_size", chunk_size, lambda v: int_list(v, "blosc2.chunk_size", minimum=1))
        self.block_size = _frozen("block_size", block_size, lambda v: int_list(v, "blosc2.block_size", minimum=1))
        self.patch_size = _frozen("patch_size", patch_size, lambda v: int_list(v, "blosc2.patch_size", minimum=1))
        self.codec = codec if codec is None else str(getattr(codec, "name", codec))
        self.clevel = None if clevel is None else int_list([clevel], "blosc2.clevel")[0]
        self.filters = _frozen("filters", filters, lambda v: str_list(list(v), "blosc2.filters", None))
        self.dtype = dtype if dtype is None else str(dtype)  # NumPy dtype.str; readers compare it with the frame
        self._ready()

    @property
    def cparams(self) -> Optional[dict]:
        """The published package's view of the codec settings: ``{"codec", "clevel", "filters"}`` or None."""
        if self.codec is None and self.clevel is None:
            return None
        return {"codec": self.codec, "clevel": self.clevel, "filters": list(self.filters or [])}

    @property
    def dparams(self) -> None:
        """Decompression settings are chosen when a file is opened (``dparams=``), never stored: None."""
        return None

    def to_mapping(self, *, include_none: bool = False) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k in self.__slots__
                for v in (getattr(self, k),) if include_none or v is not None}

    @classmethod
    def from_mapping(cls, d: object) -> "MetaBlosc2":
        d = dict(require_mapping(d, "blosc2"))
        d.pop("cparams", None)  # written by the published 0.0.x package; the container records codecs itself
        d.pop("dparams", None)
        reject_unknown(d, "blosc2", set(cls.__slots__))
        return cls(**d)


class MetaPyramid(BaseMeta):
    """The stored resolution levels (level 0 is the base array and is not listed)."""

    __slots__ = ("levels", "method")
    _FIELDS = __slots__
    _PREFIX = "meta.pyramid."

    def __init__(self, levels: Optional[Sequence[Mapping[str, Any]]] = None, method: Optional[str] = None) -> None:
        if levels is not None and not isinstance(levels, (list, tuple)):
            raise MetadataError("pyramid.levels", levels, "must be a list of level objects", "see docs/spec.md")
        self.levels = [] if levels is None else [self._check_level(i, lv) for i, lv in enumerate(levels)]
        if method is not None and method not in ("mean", "mode", "nearest", "source"):
            raise MetadataError("pyramid.method", method, "must be 'mean', 'mode', 'nearest' or 'source'",
                                "images use 'mean', segmentations 'mode'; 'source' keeps the input's own levels")
        self.method = method
        self._ready()

    @staticmethod
    def _check_level(i: int, lv: Mapping[str, Any]) -> dict:
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

    def to_mapping(self, *, include_none: bool = False) -> dict:
        if not self.levels:
            return {"levels": [], "method": None} if include_none else {}
        out: dict[str, object] = {"levels": [dict(lv) for lv in self.levels]}
        if self.method:
            out["method"] = self.method
        return out

    @classmethod
    def from_mapping(cls, d: object) -> "MetaPyramid":
        d = require_mapping(d, "pyramid")
        reject_unknown(d, "pyramid", set(cls.__slots__))
        return cls(**d)


# ----------------------------------------------------------------------------- Meta

_TOP_KEYS = {"format_version", "writer", "has_array", "spatial", "stats", "bbox", "is_seg", "classes",
             "source", "source_format", "extra", "blosc2", "pyramid"}
# the file writer's seal (mlarray._file.seal), verified when a file is read
_SEAL_KEYS = {"chunk_checksums", "checksum"}


class Meta(PublishedMetaAPI):
    """All metadata of one MLArray file.

    ``source`` and ``extra`` are JSON dicts (:class:`MetaSource`/:class:`MetaExtra`, real ``dict``
    subclasses); ``is_seg`` is ``True``/``False``/``None``; ``classes`` is a class table; the rest are
    namespace objects. Assigning a namespace a plain value (``meta.bbox = {...}``) converts it.

    Parameters
    ----------
    source : dict, optional
        The original format's header (JSON values).
    extra : dict, optional
        Free-form JSON (channel names, colours and windows, ``time_interval``, your own keys).
    spatial, stats, bbox, blosc2, pyramid : namespace object or dict, optional
        Geometry, statistics, bounding boxes, layout and resolution pyramid (see docs/spec.md).
    is_seg : bool, optional
        Whether the array is a segmentation.
    classes : dict or list, optional
        Class table: ``{id: name}`` or ``[{"id": ..., "name": ..., "color": ...}]``.
    source_format : str, optional
        The format the data came from (``"nifti"``, ``"dicom"``, ...).
    has_array, writer, format_version
        Recorded by the library when it writes; leave them at their defaults.

    Raises
    ------
    MetadataError
        A value that breaks the schema; the message names the field and the remedy.
    """

    __slots__ = ("spatial", "stats", "bbox", "is_seg", "classes", "source", "source_format", "extra",
                 "blosc2", "pyramid", "has_array", "writer", "format_version")
    _NAMESPACES = {"spatial": MetaSpatial, "stats": MetaStatistics, "bbox": MetaBbox, "blosc2": MetaBlosc2,
                   "pyramid": MetaPyramid}

    def __init__(self, source: Optional[Mapping[str, Any]] = None, extra: Optional[Mapping[str, Any]] = None,
                 spatial: Any = None, stats: Any = None, bbox: Any = None, is_seg: Optional[bool] = None,
                 classes: Any = None, source_format: Optional[str] = None, blosc2: Any = None,
                 pyramid: Any = None, has_array: bool = False, writer: Optional[str] = None,
                 format_version: int = FORMAT_VERSION) -> None:
        self.spatial = spatial
        self.stats = stats
        self.bbox = bbox
        self.blosc2 = blosc2
        self.pyramid = pyramid
        self.is_seg = is_seg
        self.classes = check_classes(classes)
        # __setattr__ turns both into their dict classes; None is an empty one
        self.source = {} if source is None else source
        self.extra = {} if extra is None else extra
        self.source_format = source_format
        self.has_array = has_array
        self.writer = writer
        if isinstance(format_version, bool) or not isinstance(format_version, int):
            raise MetadataTypeError("format_version", format_version, "must be an integer", f"use {FORMAT_VERSION}")
        self.format_version = format_version

    def __setattr__(self, name: str, value: Any) -> None:
        # Every entry point (constructor, attribute, set_*) converts and checks the value the same way.
        if name in self._NAMESPACES:
            value = _ensure(value, self._NAMESPACES[name])
        elif name == "source":
            value = MetaSource(_check_dict(value, "source"))
        elif name == "extra":
            value = MetaExtra(_check_dict(value, "extra"))
        elif name == "is_seg":
            value = _check_is_seg(value)
        elif name in ("source_format", "writer"):
            if isinstance(value, SingleKeyBaseMeta):
                value = value.value
            if value is not None and not isinstance(value, str):
                raise MetadataTypeError(name, value, "must be a string", "e.g. 'nifti1' or 'mlarray 1.0.0'")
        elif name == "has_array":
            if isinstance(value, SingleKeyBaseMeta):
                value = value.value
            if not isinstance(value, (bool, np.bool_)):
                raise MetadataTypeError("has_array", value, "must be true or false", "pass a bool")
            value = bool(value)
        object.__setattr__(self, name, value)

    # -- validation ---------------------------------------------------------
    def validate(self, ndim: Optional[int] = None) -> "Meta":
        """Check every namespace against an array of ``ndim`` axes; raises :class:`MetadataError`."""
        self.spatial.validate(ndim)
        n_spatial = None
        if ndim is not None:
            n_spatial = len(spatial_axes_of(self.spatial.axis_labels, ndim))
        elif self.spatial.spatial_ndim is not None:
            n_spatial = self.spatial.spatial_ndim
        with library_write():
            if self.bbox.bboxes is not None:
                self.bbox.bboxes = check_boxes(self.bbox.bboxes)
        self.bbox.validate(n_spatial)
        self.is_seg = self.is_seg
        self.classes = check_classes(self.classes)
        self.source = self.source
        self.extra = self.extra
        return self

    # -- mapping ------------------------------------------------------------
    def to_mapping(self, *, include_none: bool = False) -> dict:
        """The JSON document stored in the file (spec v1). Empty namespaces are omitted unless
        ``include_none``. NaN/±Inf inside ``source``/``extra`` appear as ``{"$float": "NaN"}`` etc."""
        out: dict[str, Any] = {"format_version": self.format_version}
        if self.writer or include_none:
            out["writer"] = self.writer
        out["has_array"] = self.has_array
        for name in ("spatial", "stats", "bbox", "blosc2", "pyramid"):
            m = getattr(self, name).to_mapping(include_none=include_none)
            if m:
                out[name] = m
        out["is_seg"] = self.is_seg
        if self.classes is not None or include_none:
            out["classes"] = None if self.classes is None else [dict(c) for c in self.classes]
        out["source"] = encode_nonfinite(_json_dict(self.source, "source"), "source")
        if self.source_format is not None or include_none:
            out["source_format"] = self.source_format
        out["extra"] = encode_nonfinite(_json_dict(self.extra, "extra"), "extra")
        return out

    @classmethod
    def from_mapping(cls, d: object) -> "Meta":
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
            source=decode_nonfinite(d.get("source")),
            source_format=d.get("source_format"),
            extra=decode_nonfinite(d.get("extra")),
            has_array=d.get("has_array", False) if d.get("has_array") is not None else False,
            writer=d.get("writer"),
            format_version=version,
        )

    def copy(self) -> "Meta":
        return Meta.from_mapping(self.to_mapping())

    # -- what the library records: the fields users cannot set (see library_write) ----------------
    def record_array(self, shape: Optional[Sequence[int]]) -> None:
        """Record the array this metadata describes: its ``shape``, or None for metadata only (the
        shape recorded before is then kept, as the published package kept it)."""
        with library_write():
            self.has_array = shape is not None
            if shape is not None:
                self.spatial.shape = [int(n) for n in shape]

    def record_layout(self, blosc2: "MetaBlosc2") -> None:
        """Record the Blosc2 layout the voxels are held in (``MetaBlosc2()``: none, plain numpy)."""
        with library_write():
            self.blosc2 = blosc2

    def keep_managed_from(self, other: "Meta") -> None:
        """Take ``other``'s library-managed fields (layout, pyramid, ``has_array``, shape): for metadata
        replacing ``other`` on the same array."""
        with library_write():
            self.blosc2, self.pyramid, self.has_array = other.blosc2, other.pyramid, other.has_array
            self.spatial.shape = other.spatial.shape

    def take_written(self, written: "Meta") -> None:
        """Take every field of ``written``, the metadata a file stored after this Meta was written to it
        (the layout, statistics and writer the library recorded included)."""
        with library_write():
            self.copy_from(written, overwrite=True)

    def for_new_array(self) -> "Meta":
        """A copy for another array made like this one: no statistics, pyramid or shape of this one's."""
        out = self.copy()
        out.stats = MetaStatistics()
        with library_write():
            out.pyramid = MetaPyramid()
            out.spatial.shape = None
        return out

    def copy_from(self, other: "Meta", *, overwrite: bool = False) -> None:
        """Fill this Meta's unset user fields from ``other`` (all of them with ``overwrite``).

        The library-managed fields (layout, pyramid, ``has_array``, writer) are copied only inside
        ``library_write()`` (``_meta_internal_write()`` in the published package)."""
        if not isinstance(other, Meta):
            raise MetadataTypeError("meta", other, "copy_from needs another Meta", "pass a Meta")
        internal = internal_write()
        src = other.copy()
        with library_write():
            for name in ("spatial", "stats", "bbox"):
                mine, theirs = getattr(self, name), getattr(src, name)
                if overwrite or mine.is_empty():
                    if name == "spatial" and not internal:
                        theirs.shape = mine.shape  # the array's own shape, never another file's
                    setattr(self, name, theirs)
                else:
                    for slot in type(mine)._FIELDS:
                        if getattr(mine, slot) is None and (slot != "shape" or internal):
                            setattr(mine, slot, getattr(theirs, slot))
            for name in ("is_seg", "classes", "source_format"):
                if overwrite or getattr(self, name) is None:
                    setattr(self, name, getattr(src, name))
            for name in ("source", "extra"):
                if overwrite or not getattr(self, name):
                    setattr(self, name, getattr(src, name))
            if internal:
                for name in ("blosc2", "pyramid", "has_array", "writer"):
                    setattr(self, name, getattr(src, name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Meta) and self.to_mapping() == other.to_mapping()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Meta({self.to_mapping()!r})"

    def __reduce__(self) -> tuple[Callable[[Mapping[str, Any]], Meta], tuple[dict]]:
        return (Meta.from_mapping, (self.to_mapping(),))


_Namespace = TypeVar("_Namespace", bound=BaseMeta)


def _ensure(value: object, cls: type[_Namespace]) -> _Namespace:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, BaseMeta):
        raise MetadataTypeError(cls._PREFIX.rstrip("."), value, f"must be a {cls.__name__}, not {type(value).__name__}",
                                f"pass a {cls.__name__} or a mapping")
    return cls.from_mapping(value)


def _check_is_seg(v: object) -> Optional[bool]:
    if isinstance(v, SingleKeyBaseMeta):
        v = v.value
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    raise MetadataTypeError("is_seg", v, "must be True, False or None", "pass a bool")


def _check_dict(v: object, field: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise MetadataTypeError(field, v, "must be a dict of JSON values", "wrap the value, e.g. {'value': ...}")
    return to_json_value(dict(v), field, allow_nonfinite=True)


def _json_dict(v: Mapping, field: str) -> dict:
    return to_json_value(dict(v), field, allow_nonfinite=True)
