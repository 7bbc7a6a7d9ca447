"""Bounding boxes of the metadata model (``meta.bbox``): ``[N][spatial ndim][2]`` with optional labels and scores.

Declared apart from :mod:`mlarray.meta` so that the published package's ``Meta`` methods
(:mod:`mlarray._published.meta_api`) build boxes without importing the model that uses them.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from .._errors import MetadataError, MetadataTypeError
from .fields import optional_number, reject_unknown, require_mapping
from .meta_base import BaseMeta

__all__ = ["MetaBbox", "check_boxes"]


class MetaBbox(BaseMeta):
    """Bounding boxes ``[N][spatial ndim][2]`` (min, max per axis, in voxel index units)."""

    __slots__ = ("bboxes", "labels", "scores")
    _FIELDS = ("bboxes", "scores", "labels")
    _PREFIX = "meta.bbox."

    def __init__(self, bboxes: Any = None, labels: Optional[Sequence[Any]] = None,
                 scores: Optional[Sequence[Any]] = None) -> None:
        self.bboxes = None if bboxes is None else self._check_boxes(bboxes)
        self.labels = None if labels is None else self._check_labels(labels)
        self.scores = None if scores is None else self._check_scores(scores)
        self.validate()
        self._ready()

    @classmethod
    def _init_fields(cls) -> tuple:
        return ("bboxes", "labels", "scores")

    @staticmethod
    def _check_scores(scores: object) -> list:
        """One finite number per box, or None for a box without a score (e.g. drawn by hand)."""
        if not isinstance(scores, (list, tuple, np.ndarray)):
            raise MetadataError("bbox.scores", scores, "must be a list", "one score (or None) per box")
        return [optional_number(v.item() if isinstance(v, np.generic) else v, f"bbox.scores[{i}]")
                for i, v in enumerate(list(scores))]

    @staticmethod
    def _check_boxes(bboxes: Any) -> list:
        return check_boxes(bboxes)

    @staticmethod
    def _check_labels(labels: object) -> list:
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise MetadataTypeError("bbox.labels", labels, "must be a list", "one label per box")
        out = []
        for v in list(labels):
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise MetadataTypeError("bbox.labels", labels, "must contain str, int or float only",
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

    def to_mapping(self, *, include_none: bool = False) -> dict:
        return {k: (None if getattr(self, k) is None else list(getattr(self, k)))
                for k in self.__slots__ if include_none or getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, d: object) -> "MetaBbox":
        if isinstance(d, (list, tuple, np.ndarray)):
            return cls(bboxes=d)
        d = require_mapping(d, "bbox")
        reject_unknown(d, "bbox", set(cls.__slots__))
        return cls(**d)


def check_boxes(bboxes: Any) -> list:
    """Boxes ``[N][spatial ndim][2]`` as nested lists (integer-valued coordinates as int), checked."""
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


def _num(v: float) -> Union[int, float]:
    return int(v) if float(v).is_integer() else float(v)


def _box_lists(arr: np.ndarray) -> list:
    """``arr`` as nested lists, integer-valued coordinates as int (what :func:`_num` gives each value),
    without a Python call per value when all or none are integers (millions of boxes stay fast)."""
    whole = arr == np.floor(arr)
    if whole.all() and np.abs(arr).max() < 2**53:
        return arr.astype(np.int64).tolist()
    if not whole.any():
        return arr.tolist()
    return [[[_num(v) for v in pair] for pair in box] for box in arr.tolist()]
