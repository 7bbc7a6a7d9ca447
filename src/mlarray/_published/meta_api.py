"""The published package's ``Meta`` methods, as a mixin of :class:`mlarray.meta.Meta`.

``set_*`` / ``update_*`` / ``add_bbox`` return the ``Meta`` so calls chain; ``to_plain`` gives the
published package's plain layout (the one ``mlarray_header`` prints); ``_has_array``,
``_image_meta_format`` and ``_mlarray_version`` are read-only views of ``has_array``,
``source_format`` and ``writer``.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .._errors import MetadataError, MetadataTypeError
from .._metadata.meta_base import (
    BaseMeta,
    MetaHasArray,
    MetaImageFormat,
    MetaIsSeg,
    MetaVersion,
    SingleKeyBaseMeta,
    _read_only,
    internal_write,
    library_write,
    to_plain_value,
)
from .._metadata.meta_bbox import MetaBbox
from .._metadata.meta_spatial import MetaSpatial

__all__ = ["PublishedMetaAPI"]


class PublishedMetaAPI:
    __slots__ = ()

    # -- library-managed single values (read-only for users) ----------------------------------
    @property
    def _has_array(self) -> MetaHasArray:
        return MetaHasArray.bound_to(self)

    @_has_array.setter
    def _has_array(self, value) -> None:
        self._set_internal("_has_array", "has_array", value)

    @property
    def _image_meta_format(self) -> MetaImageFormat:
        return MetaImageFormat.bound_to(self)

    @_image_meta_format.setter
    def _image_meta_format(self, value) -> None:
        self._set_internal("_image_meta_format", "source_format", value)

    @property
    def _mlarray_version(self) -> MetaVersion:
        return MetaVersion.bound_to(self)

    @_mlarray_version.setter
    def _mlarray_version(self, value) -> None:
        self._set_internal("_mlarray_version", "writer", value)

    def _set_internal(self, label: str, attr: str, value) -> None:
        if not internal_write():
            raise _read_only(f"meta.{label}")
        setattr(self, attr, value.value if isinstance(value, SingleKeyBaseMeta) else value)

    # -- setters that return the Meta --------------------------------------------------------------
    def set_source(self, value: Mapping[str, Any]):
        self.source = value
        return self

    def set_extra(self, value: Mapping[str, Any]):
        self.extra = value
        return self

    def set_spatial(self, value):
        """Replace the geometry and axis metadata; the array's recorded shape is kept."""
        spatial = MetaSpatial.ensure(value)
        if not internal_write():
            if spatial.shape is not None and self.spatial.shape is not None and \
                    list(spatial.shape) != list(self.spatial.shape):
                raise _read_only("meta.spatial.shape")
            with library_write():
                spatial.shape = self.spatial.shape
        ndim = self.spatial.validated_ndim
        self.spatial = spatial
        if ndim is not None:
            spatial.validate(ndim)
        return self

    def set_stats(self, value):
        self.stats = value
        return self

    def set_bbox(self, value):
        """Replace the boxes: a ``MetaBbox``, a mapping, or a list of boxes ``[N][ndim][2]``."""
        self.bbox = value if isinstance(value, (MetaBbox, Mapping)) or value is None else MetaBbox(bboxes=value)
        return self

    def set_is_seg(self, value: Optional[bool]):
        self.is_seg = value.value if isinstance(value, MetaIsSeg) else value
        return self

    def update_source(self, value: Mapping[str, Any]):
        self.source = {**self.source, **_mapping(value, "source")}
        return self

    def update_extra(self, value: Mapping[str, Any]):
        self.extra = {**self.extra, **_mapping(value, "extra")}
        return self

    def add_bbox(self, bbox, score=None, label=None):
        """Append one box ``[ndim][2]`` (with a score and/or label when the existing boxes have them)."""
        current = self.bbox
        n = len(current)
        for name, given, existing in (("score", score, current.scores), ("label", label, current.labels)):
            if n and given is not None and existing is None:
                raise MetadataError(f"bbox.{name}s", given, f"the existing boxes have no {name}s",
                                    f"add the box without a {name}, or give every box one")
            if given is None and existing is not None:
                raise MetadataError(f"bbox.{name}s", None, f"the existing boxes have {name}s",
                                    f"pass {name}= for the new box too")
        boxes = list(current.bboxes or []) + [bbox]
        scores = None if score is None else list(current.scores or []) + [score]
        labels = None if label is None else list(current.labels or []) + [label]
        self.bbox = MetaBbox(bboxes=boxes, scores=scores, labels=labels)
        return self

    # -- the published object API on the whole Meta ------------------------------------------------
    def to_plain(self, *, include_none: bool = False) -> dict:
        """The published package's plain layout: namespaces as dicts, single values as values,
        unset parts None (left out unless ``include_none``). Our additional fields (``classes``,
        ``pyramid``, ``format_version``) follow under their own names."""
        def part(v: Any) -> Any:
            if isinstance(v, BaseMeta):
                return None if v.is_default() else v.to_plain(include_none=include_none)
            if isinstance(v, Mapping):
                return to_plain_value(v) if v else None
            return v

        out = {
            "source": part(self.source),
            "extra": part(self.extra),
            "spatial": part(self.spatial),
            "stats": part(self.stats),
            "bbox": part(self.bbox),
            "is_seg": self.is_seg,
            "blosc2": part(self.blosc2),
            "_has_array": self.has_array or None,
            "_image_meta_format": self.source_format,
            "_mlarray_version": self.writer,
            "classes": to_plain_value(self.classes),
            "pyramid": part(self.pyramid),
            "format_version": self.format_version,
        }
        return out if include_none else {k: v for k, v in out.items() if v is not None}

    def is_default(self) -> bool:
        return self == type(self)()

    def reset(self) -> None:
        """Unset every user field (the library-managed ones too inside ``library_write()``)."""
        fresh = type(self)()
        internal = internal_write()
        names = ["source", "extra", "spatial", "stats", "bbox", "is_seg", "classes", "source_format"]
        if internal:
            names += ["blosc2", "pyramid", "has_array", "writer"]
        for name in names:
            setattr(self, name, getattr(fresh, name))

    @classmethod
    def ensure(cls, x: Any):
        if x is None:
            return cls()
        if isinstance(x, cls):
            return x
        if isinstance(x, Mapping):
            return cls.from_mapping(x)
        raise MetadataTypeError("meta", x, "cannot become a Meta", "pass None, a mapping or a Meta")


def _mapping(value: Any, field: str) -> dict:
    if not isinstance(value, Mapping):
        raise MetadataTypeError(field, value, "update needs a mapping", "pass a dict")
    return dict(value)
