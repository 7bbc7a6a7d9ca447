"""The metadata widget's Boxes tab: box table <-> ``bbox`` metadata <-> the file's Shapes layer."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from magicgui.widgets import Label as MLabel
from magicgui.widgets import Table
from qtpy.QtCore import QTimer

from mlarray import MetadataError
from mlarray.meta import Meta, MetaBbox

from ..boxes._layer import bbox_from_shapes, caption
from ..boxes._shapes import group_boxes
from ..boxes._views import attach, rebuilding, set_features
from ..layers._style import box_colors
from ._layers import layer_axes, layer_meta
from ._session import EditSession
from ._tab import Tab, quiet
from ._text import fmt_extent, fmt_num, is_nan, table_cell

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer

__all__ = ["BoxesTab", "recolour_boxes"]

_COLUMNS = ["label", "score", "extent (voxels)"]


class BoxesTab(Tab):
    """Keeps the box table, the layer's ``bbox`` metadata and its boxes Shapes layer in sync."""

    key = "boxes"

    def __init__(self, session: EditSession) -> None:
        self.table = Table(value=[], columns=_COLUMNS)
        self.info = MLabel(value="")
        self.info.native.setWordWrap(True)
        super().__init__(session, [self.table, self.info])
        self.table.changed.connect(self._on_table_edit)
        self.shapes: Optional[Layer] = None  # the boxes layer followed now
        self.groups: list[list[int]] = []  # shape indices of each table row's box

    # ------------------------------------------------------------------ following the boxes layer
    def follow(self) -> None:
        """Follow the boxes layer of the session's layer (if it has one)."""
        self.unfollow()
        shapes = self.session.boxes_layer()
        if shapes is None:
            return
        self.shapes = shapes
        attach(shapes)  # layers made by scripts from layer data tuples switch views too
        shapes.events.data.connect(self._on_shapes_changed)
        shapes.events.features.connect(self._on_shapes_changed)

    def unfollow(self) -> None:
        if self.shapes is not None:
            for ev in (self.shapes.events.data, self.shapes.events.features):
                try:
                    ev.disconnect(self._on_shapes_changed)
                except (TypeError, RuntimeError, ValueError):
                    pass
        self.shapes = None

    @contextmanager
    def _unheard(self, shapes: Layer) -> Iterator[None]:
        """Change ``shapes`` from here without hearing back its data and features events."""
        with shapes.events.data.blocker(self._on_shapes_changed), \
                shapes.events.features.blocker(self._on_shapes_changed):
            yield

    # ------------------------------------------------------------------ table
    def load(self, meta: Meta) -> None:
        super().load(meta)
        shapes = self.session.boxes_layer()
        rows = []
        if shapes is not None:
            self.groups = [members for _g, members, _b in group_boxes(list(shapes.data), shapes.features)]
            feats = shapes.features
            bb = _bbox_from_shapes(shapes, meta)
            for k, members in enumerate(self.groups):
                i = members[0]
                lab = feats["label"].iloc[i] if "label" in feats else f"box {k}"
                sc = feats["score"].iloc[i] if "score" in feats else float("nan")
                ext = bb.bboxes[k] if bb.bboxes and k < len(bb.bboxes) else []
                rows.append([table_cell(lab), "" if is_nan(sc) else fmt_num(sc), fmt_extent(ext)])
            self.info.value = (f"{len(rows)} boxes in layer “{shapes.name}”. Edit label/score here; "
                               "draw, move or delete rectangles in the layer.")
        else:
            self.groups = []
            bb = meta.bbox
            for k, box in enumerate(bb.bboxes or []):
                lab = bb.labels[k] if bb.labels else f"box {k}"
                sc = bb.scores[k] if bb.scores else None
                rows.append([table_cell(lab), "" if sc is None else fmt_num(sc), fmt_extent(box)])
            self.info.value = f"{len(rows)} boxes in the metadata (no boxes layer open)."
        with quiet(self.table):
            self.table.set_value({"data": rows, "columns": _COLUMNS, "index": list(range(len(rows)))})

    def _on_shapes_changed(self, event: Any = None) -> None:
        """Shapes layer edited (rectangles added/moved/removed, features changed): update table + meta."""
        shapes = self.shapes
        if shapes is None or rebuilding(shapes):
            return  # a view switch swapping shapes ends with one features event
        with self._unheard(shapes):
            _normalise_box_ids(shapes)
        meta = layer_meta(shapes)
        try:
            meta.bbox = _bbox_from_shapes(shapes, meta)
            self.session.validated(meta, self.session.layer or shapes)
        except (MetadataError, ValueError) as exc:
            self.session.show_error(f"Boxes not stored — {exc}")
            return
        self.session.store(meta, shapes)
        self.load(meta)

    def _on_table_edit(self, event: Any = None) -> None:
        if self.session.layer is None:
            return
        if isinstance(event, dict) and int(event["column"]) in (0, 1):
            key = "label" if int(event["column"]) == 0 else "score"
            row, value = int(event["row"]), event["data"]
            # Deferred: applying rebuilds the table, which must not happen inside its own signal.
            QTimer.singleShot(0, lambda: self.edit_box(row, **{key: value}))

    def edit_box(self, row: int, label: Any = None, score: Any = None) -> bool:
        """Set the label and/or score of box ``row`` (validated) in the metadata and the Shapes layer."""
        layer = self.session.layer
        if layer is None:
            return False
        meta = layer_meta(layer)
        shapes = self.session.boxes_layer()
        try:
            if score is not None:
                score = None if str(score).strip() == "" else float(score)
                if score is not None and not math.isfinite(score):
                    raise MetadataError("bbox.scores", score, "must be a finite number", "e.g. 0.9")
            if label is not None and str(label).strip() == "":
                raise MetadataError("bbox.labels", label, "must not be empty", "name the box, e.g. 'liver'")
            if isinstance(label, str) and re.fullmatch(r"-?\d+", label.strip()):
                label = int(label)
        except (MetadataError, ValueError) as exc:
            msg = str(exc) if isinstance(exc, MetadataError) else \
                f"bbox.scores: {score!r} is not a number; type e.g. 0.85"
            self.session.show_error(f"Not applied — {msg}")
            self.load(meta)
            return False
        if shapes is not None:
            if row >= len(self.groups):
                return False
            feats = shapes.features.copy()
            members = self.groups[row]
            if label is not None:
                if "label" not in feats or feats["label"].dtype != object:
                    feats["label"] = feats["label"].astype(object) if "label" in feats else [""] * len(feats)
                feats.loc[members, "label"] = label
            if score is not None:
                if "score" not in feats:
                    feats["score"] = float("nan")
                feats["score"] = feats["score"].astype(float)
                feats.loc[members, "score"] = score
            if "label" in feats and "score" in feats:
                feats["caption"] = [caption(lab, sc) for lab, sc in zip(feats["label"], feats["score"])]
            with self._unheard(shapes):
                set_features(shapes, feats)
                shapes.refresh_text()
                recolour_boxes(shapes, meta)
            self._on_shapes_changed()
        else:
            bb = meta.bbox
            n = len(bb.bboxes or [])
            if row >= n:
                return False
            if label is not None:
                labels = list(bb.labels or [f"box {i}" for i in range(n)])
                labels[row] = label
                bb.labels = labels
            if score is not None:
                scores = list(bb.scores or [None] * n)
                scores[row] = score
                bb.scores = scores
            try:
                self.session.validated(meta, layer)
            except MetadataError as exc:
                self.session.show_error(f"Not applied — {exc}")
                return False
            self.session.commit(meta, layer)
            self.load(meta)
        self.session.show_info("Box updated.")
        return True


def _bbox_from_shapes(shapes: Layer, meta: Meta) -> MetaBbox:
    if not len(shapes.data):
        return MetaBbox()
    axes = layer_axes(meta, shapes)
    return bbox_from_shapes(list(shapes.data), {"features": shapes.features}, None, axes)


def _normalise_box_ids(shapes: Layer) -> None:
    """Give user-drawn rectangles (no ``box_id``) their own box id, so table rows stay stable."""
    feats = shapes.features
    if not len(feats) or "box_id" not in feats:
        return
    ids = feats["box_id"].to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(ids)
    if not missing.any():
        return
    nxt = int(np.nanmax(ids)) + 1 if (~missing).any() else 0
    for i in np.flatnonzero(missing):
        ids[i] = nxt
        nxt += 1
    new = feats.copy()
    new["box_id"] = ids.astype(int)
    if "label" in new:
        new["label"] = [f"box {int(b)}" if is_nan(v) or v is None else v
                        for v, b in zip(new["label"], new["box_id"])]
    set_features(shapes, new)


def recolour_boxes(shapes: Layer, meta: Meta) -> None:
    """Colour each box of ``shapes`` by its label's class (the class table's colours)."""
    if not len(shapes.data) or "label" not in shapes.features:
        return
    labels = list(shapes.features["label"])
    shapes.edge_color = np.asarray(box_colors(labels, meta.classes), dtype=float).reshape(-1, 4)
