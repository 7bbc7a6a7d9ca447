"""The metadata widget's Boxes tab: box table <-> ``bbox`` metadata <-> the file's Shapes layer."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from mlarray import MetadataError
from mlarray.meta import Meta, MetaBbox

from ..boxes._layer import bbox_from_shapes, caption
from ..boxes._shapes import group_boxes
from ..boxes._views import attach, rebuilding, set_features
from ..layers._style import box_colors
from ._layers import META_KEY, ROLE_KEY, layer_axes, layer_kind, layer_md, layer_meta
from ._text import fmt_extent, fmt_num, is_nan, table_cell


class _BoxesTab:
    """Keeps the box table, the layer's ``bbox`` metadata and its boxes Shapes layer in sync."""

    def _boxes_layer(self):
        if self.layer is None:
            return None
        if layer_kind(self.layer) == "shapes":
            return self.layer
        for lay in self._siblings():
            if layer_kind(lay) == "shapes" and layer_md(lay).get(ROLE_KEY) == "boxes":
                return lay
        return None

    def _connect_shapes(self) -> None:
        shapes = self._boxes_layer()
        if shapes is None:
            return
        self._shapes = shapes

        attach(shapes)  # layers made by scripts from layer data tuples switch views too
        shapes.events.data.connect(self._on_shapes_changed)
        shapes.events.features.connect(self._on_shapes_changed)

    def _disconnect_shapes(self) -> None:
        if self._shapes is not None:
            for ev in (self._shapes.events.data, self._shapes.events.features):
                try:
                    ev.disconnect(self._on_shapes_changed)
                except (TypeError, RuntimeError, ValueError):
                    pass
        self._shapes = None

    def _groups(self, shapes) -> list[list[int]]:

        return [members for _g, members, _b in group_boxes(list(shapes.data), shapes.features)]

    def _refresh_boxes(self, meta: Meta) -> None:
        was, self._updating = self._updating, True
        try:
            self._refresh_boxes_unguarded(meta)
        finally:
            self._updating = was

    def _refresh_boxes_unguarded(self, meta: Meta) -> None:
        shapes = self._boxes_layer()
        rows = []
        if shapes is not None:
            self._box_groups = self._groups(shapes)
            feats = shapes.features
            bb = self._bbox_from_shapes(shapes, meta)
            for k, members in enumerate(self._box_groups):
                i = members[0]
                lab = feats["label"].iloc[i] if "label" in feats else f"box {k}"
                sc = feats["score"].iloc[i] if "score" in feats else float("nan")
                ext = bb.bboxes[k] if bb.bboxes and k < len(bb.bboxes) else []
                rows.append([table_cell(lab), "" if is_nan(sc) else fmt_num(sc), fmt_extent(ext)])
            self._box_info.value = (f"{len(rows)} boxes in layer “{shapes.name}”. Edit label/score here; "
                                    "draw, move or delete rectangles in the layer.")
        else:
            self._box_groups = []
            bb = meta.bbox
            for k, box in enumerate(bb.bboxes or []):
                lab = bb.labels[k] if bb.labels else f"box {k}"
                sc = bb.scores[k] if bb.scores else None
                rows.append([table_cell(lab), "" if sc is None else fmt_num(sc), fmt_extent(box)])
            self._box_info.value = f"{len(rows)} boxes in the metadata (no boxes layer open)."
        self.box_table.set_value({"data": rows, "columns": ["label", "score", "extent (voxels)"],
                                  "index": list(range(len(rows)))})

    def _bbox_from_shapes(self, shapes, meta: Meta):

        if not len(shapes.data):

            return MetaBbox()
        axes = layer_axes(meta, shapes)
        return bbox_from_shapes(list(shapes.data), {"features": shapes.features}, None, axes)

    def _on_shapes_changed(self, event=None) -> None:
        """Shapes layer edited (rectangles added/moved/removed, features changed): update table + meta."""

        if self._updating or self._shapes is None or rebuilding(self._shapes):
            return  # a view switch swapping shapes ends with one features event
        shapes = self._shapes
        self._updating = True
        try:
            self._normalise_box_ids(shapes)
            meta = layer_meta(shapes)
            try:
                meta.bbox = self._bbox_from_shapes(shapes, meta)
                self._validated(meta)
            except (MetadataError, ValueError) as exc:
                self._show_error(f"Boxes not stored — {exc}")
                return
            for lay in self._siblings(shapes):
                lay.metadata = {**layer_md(lay), META_KEY: meta.to_mapping()}
            self._refresh_boxes(meta)
            self._refresh_title()
        finally:
            self._updating = False

    @staticmethod
    def _normalise_box_ids(shapes) -> None:
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

    def _on_box_edit(self, event=None) -> None:
        if self._updating or self.layer is None:
            return
        if isinstance(event, dict) and int(event["column"]) in (0, 1):
            key = "label" if int(event["column"]) == 0 else "score"
            row, value = int(event["row"]), event["data"]
            # Deferred: applying rebuilds the table, which must not happen inside its own signal.
            QTimer.singleShot(0, lambda: self.edit_box(row, **{key: value}))

    def edit_box(self, row: int, label: Any = None, score: Any = None) -> bool:
        """Set the label and/or score of box ``row`` (validated) in the metadata and the Shapes layer."""
        meta = layer_meta(self.layer)
        shapes = self._boxes_layer()
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
            self._show_error(f"Not applied — {msg}")
            self._refresh_boxes(meta)
            return False
        if shapes is not None:
            if row >= len(self._box_groups):
                return False
            feats = shapes.features.copy()
            members = self._box_groups[row]
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
            self._updating = True
            try:
                set_features(shapes, feats)
                shapes.refresh_text()
                self._recolour_boxes(shapes, meta)
            finally:
                self._updating = False
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
                self._validated(meta)
            except MetadataError as exc:
                self._show_error(f"Not applied — {exc}")
                return False
            self._commit(meta)
            self._refresh_boxes(meta)
        self._show_info("Box updated.")
        return True

    @staticmethod
    def _recolour_boxes(shapes, meta: Meta) -> None:

        if not len(shapes.data) or "label" not in shapes.features:
            return
        labels = list(shapes.features["label"])
        shapes.edge_color = np.asarray(box_colors(labels, meta.classes), dtype=float).reshape(-1, 4)
