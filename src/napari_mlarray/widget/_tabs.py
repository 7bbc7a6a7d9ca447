"""Editors of the metadata widget's Spatial, Stats, Classes and Extra tabs (mixins of the widget)."""

from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np
from qtpy.QtCore import QTimer

from mlarray import MetadataError, MLArray, MLArrayError
from mlarray.affines import anatomical_letters, check_direction
from mlarray.meta import Meta, MetaSpatial, MetaStatistics, check_classes, spatial_axes_of
from mlarray.stats import MAX_CHANNEL_STATS, compute_channel_stats, compute_stats

from ..layers._style import contrast_limits, labels_colormap
from ._layers import ROLE_KEY, apply_meta_to_layer, base_ndim, layer_kind, layer_md, layer_meta, layer_path
from ._text import color_hex, fmt_list, fmt_num, parse_list, parse_matrix


class _SpatialTab:
    """Spatial tab: spacing, origin, direction, axis labels/units and coord system, applied live."""

    @staticmethod
    def _spatial_summary(meta: Meta) -> str:
        sp = meta.spatial
        parts = []
        if sp.shape:
            parts.append(f"shape: {list(sp.shape)}")
        aff = sp.affine
        if aff is not None:
            parts.append("affine: " + "; ".join(fmt_list(r) for r in aff))
        return "\n".join(parts)

    def _on_spatial_edit(self, *_):
        if self._updating or self.layer is None:
            return
        self.apply_spatial()

    def apply_spatial(self) -> bool:
        """Validate the spatial fields and apply them to the layer transforms (False if refused)."""
        meta = layer_meta(self.layer)
        sp = meta.spatial
        try:
            sp.spacing = parse_list(self.spacing.value, "spatial.spacing")
            sp.origin = parse_list(self.origin.value, "spatial.origin")
            typed = parse_matrix(self.direction.value, "spatial.direction")
            if typed is not None and not _same_matrix(typed, sp.direction):
                check_direction(typed)  # a newly typed direction must be a rotation (typos); a file's general one stays
            sp.direction = typed
            sp.axis_labels = parse_list(self.axis_labels.value, "spatial.axis_labels", numbers=False)
            sp.axis_units = parse_list(self.axis_units.value, "spatial.axis_units", numbers=False)
            sp.coord_system = self.coord_system.value.strip() or None
            base = base_ndim(meta, self.layer)
            _check_code(sp.coord_system, len(spatial_axes_of(sp.axis_labels, base)))
            if sp.axis_labels is not None and meta.has_array and len(sp.axis_labels) != base:
                raise MetadataError("spatial.axis_labels", sp.axis_labels,
                                    f"must have one entry per array axis ({base})", "give one label per axis")
            old_spatial = spatial_axes_of(layer_meta(self.layer).spatial.axis_labels, base)
            if spatial_axes_of(sp.axis_labels, base) != old_spatial and layer_kind(self.layer) != "shapes":
                raise MetadataError("spatial.axis_labels", sp.axis_labels,
                                    "changes which axes are spatial, which needs the file to be re-read",
                                    "save, then re-open the file; or keep the spatial axes as they are")
            checked = MetaSpatial(spacing=sp.spacing, origin=sp.origin, direction=sp.direction)
            sp.spacing, sp.origin, sp.direction = checked.spacing, checked.origin, checked.direction
            self._validated(meta)
        except (MetadataError, ValueError, TypeError) as exc:
            self._refuse("spatial", f"Not applied — {exc}")
            return False
        self._accept("spatial")
        self._commit(meta, geometry=True)
        self._spatial_info.value = self._spatial_summary(meta)
        self._show_info("Geometry applied.")
        return True



def _check_code(code, n_spatial: int) -> None:
    """Refuse a code spelled in body-axis letters that is not a whole anatomical system for the image
    ("R", "RA" or "RRS" for a 3-D image); other names ("unknown", "other", custom frames) are kept."""
    letters = (code or "").upper().removesuffix("+")
    if not letters or any(c not in "RLAPSI" for c in letters):
        return
    found = anatomical_letters(code)
    if found is None or len(found) != n_spatial:
        example = {2: "RA or LP"}.get(n_spatial, "RAS or LPS")
        raise MetadataError("spatial.coord_system", code,
                            f"is not an anatomical system for {n_spatial} spatial axes (one letter per axis, "
                            "one of R/L, A/P and S/I each)", f"type e.g. {example}, or 'unknown'")


def _same_matrix(a, b) -> bool:
    """Whether the typed matrix is the one shown (the text rounds values)."""
    try:
        return b is not None and np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=0, atol=1e-4)
    except (TypeError, ValueError):
        return False


class _StatsTab:
    """Stats tab: the stored statistics and recomputing them from the pixel data."""

    @staticmethod
    def _stats_summary(meta: Meta) -> str:
        st = meta.stats.to_mapping()
        if not st:
            return "No statistics stored. Use “Recompute statistics”."
        lines = []
        for k in ("min", "max", "mean", "median", "std", "count", "nan_count", "exact"):
            if k in st:
                v = st[k]
                lines.append(f"{k}: {fmt_num(v) if isinstance(v, float) else v}")
        for q, v in (st.get("percentiles") or {}).items():
            lines.append(f"p{q}: {'—' if v is None else fmt_num(v)}")
        for i, c in enumerate(meta.stats.channels or []):
            lo, hi = c.percentile(0.5), c.percentile(99.5)
            window = "" if lo is None or hi is None else f", p0.5–p99.5 {fmt_num(lo)} – {fmt_num(hi)}"
            span = "—" if c.min is None else f"{fmt_num(c.min)} – {fmt_num(c.max)}"
            lines.append(f"channel {i}: {span}{window}")
        return "\n".join(lines)

    def recompute_stats(self, block: bool = False):
        """Recompute intensity statistics from the pixel data (in a worker thread unless ``block``)."""
        if self.layer is None:
            return None
        layer = self.layer
        source = self._stats_source(layer)
        if source is None:
            self._show_error("This layer has no pixel data to compute statistics from.")
            return None
        self.recompute_button.enabled = False
        self._show_info("Computing statistics…")

        axis = _channel_axis(layer_meta(layer), len(source.shape))

        def compute():

            stats = compute_stats(source)
            if axis is not None and 0 < source.shape[axis] <= MAX_CHANNEL_STATS:
                stats["channels"] = compute_channel_stats(source, axis)
            return stats

        def done(stats: dict) -> None:
            self.recompute_button.enabled = True
            meta = layer_meta(layer)
            try:

                meta.stats = MetaStatistics(**stats)
            except MetadataError as exc:
                self._show_error(f"Statistics refused: {exc}")
                return
            for lay in self._siblings(layer):
                apply_meta_to_layer(lay, meta, geometry=False, classes=False)
            if self.layer is layer:
                self._stats_text.value = self._stats_summary(meta)
                self._refresh_title()
                self._show_info("Statistics recomputed (Save to store them).")

        if block:
            done(compute())
            return None
        from napari.qt.threading import create_worker

        worker = create_worker(compute)
        worker.returned.connect(done)
        worker.errored.connect(lambda exc: (setattr(self.recompute_button, "enabled", True),
                                            self._show_error(f"Statistics failed: {exc}")))
        self._stats_worker = worker
        worker.start()
        return worker

    @staticmethod
    def _stats_source(layer):
        path = layer_path(layer)
        if path:
            try:
                ml = MLArray.open(path, mmap_mode="r")
            except (MLArrayError, OSError):
                ml = None
            if ml is not None and ml.meta.has_array:
                return ml.levels[0]
        if layer_kind(layer) not in ("image", "labels"):
            return None
        data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        return getattr(data, "base", None) if hasattr(data, "order") else data



def _channel_axis(meta: Meta, ndim: int) -> Optional[int]:
    labels = [getattr(v, "value", v) for v in (meta.spatial.axis_labels or [])]
    axes = [a for a, lab in enumerate(labels) if lab == "channel"]
    return axes[0] if len(axes) == 1 and len(labels) == ndim else None


class _ClassesTab:
    """Classes tab: ``is_seg`` (Image <-> Labels) and the class table (Labels colours and names)."""

    def _set_class_rows(self, classes: list) -> None:
        rows = [[c["id"], c["name"], color_hex(c.get("color"))] for c in classes]
        was, self._updating = self._updating, True
        try:
            self.class_table.set_value({"data": rows, "columns": ["id", "name", "color"],
                                        "index": list(range(len(rows)))})
        finally:
            self._updating = was

    def _class_rows(self) -> list[dict]:
        out = []
        # colours are shown as 8-bit hex; keep the stored floats for cells the user did not change
        previous = [c.get("color") for c in (layer_meta(self.layer).classes or [])]
        for r, row in enumerate(self.class_table.data.to_list()):
            cid, name, color = (list(row) + [None, None, None])[:3]
            entry: dict[str, Any] = {"id": cid, "name": "" if name is None else str(name)}
            if isinstance(cid, str):
                try:
                    entry["id"] = int(cid.strip())
                except ValueError:
                    entry["id"] = cid
            if color not in (None, ""):
                c = str(color).strip()
                if r < len(previous) and previous[r] and c.lower() == color_hex(previous[r]):
                    entry["color"] = previous[r]
                else:
                    entry["color"] = json.loads(c) if c.startswith("[") else c
            out.append(entry)
        return out

    def _on_class_edit(self, *_):
        if self._updating or self.layer is None:
            return
        QTimer.singleShot(0, self._apply_class_table)  # not inside the table's own signal

    def _apply_class_table(self) -> None:
        if self.layer is not None:
            self.apply_classes()

    def apply_classes(self, classes: Optional[list] = None) -> bool:
        """Validate the class table (or ``classes``) and apply it to the Labels layer."""
        meta = layer_meta(self.layer)
        try:
            meta.classes = check_classes(self._class_rows() if classes is None else classes) or None
            self._validated(meta)
        except (MetadataError, ValueError, TypeError) as exc:
            self._refuse("classes", f"Not applied — {exc}")
            return False
        self._accept("classes")
        self._commit(meta, classes=True)
        if classes is not None:
            self._updating = True
            try:
                self._set_class_rows(meta.classes or [])
            finally:
                self._updating = False
        # boxes coloured by class follow the table
        shapes = self._boxes_layer()
        if shapes is not None:
            self._recolour_boxes(shapes, meta)
        self._show_info("Classes applied.")
        return True

    def _add_class(self) -> None:
        meta = layer_meta(self.layer)
        used = {c["id"] for c in meta.classes or []}
        new_id = max(used | {0}) + 1
        self.apply_classes([*(meta.classes or []), {"id": new_id, "name": f"class {new_id}"}])

    def _on_is_seg(self, value) -> None:
        if self._updating or self.layer is None:
            return
        self.set_is_seg(bool(value))

    def set_is_seg(self, value: bool) -> bool:
        """Set ``is_seg``; an Image layer becomes a Labels layer (and back), keeping its transform."""
        layer = self.layer
        meta = layer_meta(layer)
        ltype = layer_kind(layer)
        if ltype in ("image", "labels"):
            data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
            if value and np.dtype(data.dtype).kind not in "iub":
                self._show_error(f"Not applied — is_seg: the data is {np.dtype(data.dtype)}, a segmentation "
                                 "needs integer labels; convert the data first")
                self._updating = True
                self.is_seg.value = False
                self._updating = False
                return False
        meta.is_seg = value
        self._commit(meta)
        if ltype == "image" and value or ltype == "labels" and not value:
            self._swap_layer_type(layer, "labels" if value else "image", meta)
        self._show_info(f"is_seg set to {value}.")
        return True

    def _swap_layer_type(self, layer, new_type: str, meta: Meta) -> None:
        from napari.layers import Image, Labels


        kw: dict[str, Any] = dict(name=layer.name, scale=layer.scale, translate=layer.translate,
                                  rotate=layer.rotate, shear=layer.shear, affine=layer.affine,
                                  opacity=layer.opacity, visible=layer.visible,
                                  metadata={**layer_md(layer), ROLE_KEY: "labels" if new_type == "labels" else "image"},
                                  multiscale=getattr(layer, "multiscale", False))
        if new_type == "labels":
            if meta.classes:
                kw["colormap"] = labels_colormap(meta.classes)
            new = Labels(layer.data, **kw)
        else:
            data = layer.data[0] if kw["multiscale"] else layer.data
            new = Image(layer.data, colormap="gray", contrast_limits=contrast_limits(meta, data.dtype), **kw)
        idx = self.viewer.layers.index(layer)
        self.viewer.layers.remove(layer)
        self.viewer.layers.insert(idx, new)
        new.name = kw["name"]
        self.viewer.layers.selection.active = new



class _ExtraTab:
    """Extra tab: the free-form ``extra`` JSON object."""

    def apply_extra(self, text: Optional[str] = None) -> bool:
        """Validate the ``extra`` JSON (an object) and store it."""
        text = self.extra.value if text is None else text
        if text is not None and text is not self.extra.value:
            self.extra.value = text
        meta = layer_meta(self.layer)
        try:
            try:
                value = json.loads(text or "{}")
            except ValueError as exc:
                raise MetadataError("extra", (text or "")[:60], f"is not valid JSON ({exc})",
                                    "write a JSON object, e.g. {\"study\": \"A\"}") from None
            if not isinstance(value, dict):
                raise MetadataError("extra", value, "must be a JSON object", "wrap the value: {\"value\": ...}")
            meta.extra = value
            self._validated(meta)
        except MetadataError as exc:
            self._refuse("extra", f"Not applied — {exc}")
            return False
        self._accept("extra")
        self._commit(meta)
        self._show_info("extra applied.")
        return True
