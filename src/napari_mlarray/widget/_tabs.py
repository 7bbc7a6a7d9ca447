"""The metadata widget's Spatial, Stats, Classes and Extra tabs, each a container given its :class:`EditSession`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from magicgui.widgets import CheckBox, LineEdit, PushButton, Table, TextEdit
from magicgui.widgets import Label as MLabel
from magicgui.widgets.bases import ValueWidget
from qtpy.QtCore import QTimer

from mlarray import MetadataError, MLArray, MLArrayError
from mlarray.affines import anatomical_letters, check_direction
from mlarray.meta import Meta, MetaSpatial, MetaStatistics, check_classes, spatial_axes_of
from mlarray.stats import MAX_CHANNEL_STATS, compute_channel_stats, compute_stats

from ..layers._style import contrast_limits, labels_colormap
from ._boxes import recolour_boxes
from ._layers import ROLE_KEY, base_ndim, layer_kind, layer_md, layer_meta, layer_path
from ._session import EditSession
from ._tab import Tab, quiet
from ._text import color_hex, fmt_list, fmt_matrix, fmt_num, parse_list, parse_matrix

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer
    from napari.qt.threading import FunctionWorker

__all__ = ["ClassesTab", "ExtraTab", "SpatialTab", "StatsTab"]


class SpatialTab(Tab):
    """Spacing, origin, direction, axis labels/units and coord system, applied live to the file's layers."""

    key = "spatial"

    def __init__(self, session: EditSession) -> None:
        self.spacing = LineEdit(label="spacing", tooltip="voxel size per spatial axis, e.g. 2.5, 0.8, 0.8")
        self.origin = LineEdit(label="origin", tooltip="world position of voxel (0, 0, 0)")
        self.direction = LineEdit(label="direction",
                                  tooltip="orthonormal matrix, rows separated by ';' (or JSON [[...], ...])")
        self.axis_labels = LineEdit(label="axis labels",
                                    tooltip="one per array axis: spatial, spatial_x/y/z, channel, temporal, ...")
        self.axis_units = LineEdit(label="units", tooltip="e.g. mm, mm, mm")
        self.coord_system = LineEdit(label="coord system", tooltip="RAS, LPS (any anatomical letters), unknown, other")
        self.info = MLabel(value="")
        self.info.native.setWordWrap(True)
        super().__init__(session, [*self.fields(), self.info], labels=True)
        self.native.layout().addStretch(1)
        for w in (self.spacing, self.origin, self.direction, self.axis_labels, self.axis_units):
            w.changed.connect(self._on_edit)
        # A code is applied once typed out (Enter or leaving the field): typing "RAS" over "LPS" passes
        # through "R" and "RA", which are not coordinate systems.
        self.coord_system.native.editingFinished.connect(self._on_edit)

    def fields(self) -> list[ValueWidget[Any]]:
        return [self.spacing, self.origin, self.direction, self.axis_labels, self.axis_units, self.coord_system]

    def load(self, meta: Meta) -> None:
        super().load(meta)
        sp = meta.spatial
        with quiet(*self.fields()):
            self.spacing.value = fmt_list(sp.spacing)
            self.origin.value = fmt_list(sp.origin)
            self.direction.value = fmt_matrix(sp.direction)
            self.axis_labels.value = "" if sp.axis_labels is None else ", ".join(sp.axis_labels)
            self.axis_units.value = "" if sp.axis_units is None else ", ".join(sp.axis_units)
            self.coord_system.value = sp.coord_system or ""
        self.info.value = _spatial_summary(meta)

    def _on_edit(self, *_: Any) -> None:
        if self.session.layer is not None:
            self.apply()

    def apply(self) -> bool:
        """Validate the spatial fields and apply them to the layer transforms (False if refused)."""
        layer = self.session.layer
        if layer is None:
            return False
        meta = layer_meta(layer)
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
            base = base_ndim(meta, layer)
            _check_code(sp.coord_system, len(spatial_axes_of(sp.axis_labels, base)))
            if sp.axis_labels is not None and meta.has_array and len(sp.axis_labels) != base:
                raise MetadataError("spatial.axis_labels", sp.axis_labels,
                                    f"must have one entry per array axis ({base})", "give one label per axis")
            old_spatial = spatial_axes_of(layer_meta(layer).spatial.axis_labels, base)
            if spatial_axes_of(sp.axis_labels, base) != old_spatial and layer_kind(layer) != "shapes":
                raise MetadataError("spatial.axis_labels", sp.axis_labels,
                                    "changes which axes are spatial, which needs the file to be re-read",
                                    "save, then re-open the file; or keep the spatial axes as they are")
            checked = MetaSpatial(spacing=sp.spacing, origin=sp.origin, direction=sp.direction)
            sp.spacing, sp.origin, sp.direction = checked.spacing, checked.origin, checked.direction
            self.session.validated(meta, layer)
        except (MetadataError, ValueError, TypeError) as exc:
            self.refuse(f"Not applied — {exc}")
            return False
        self.accept()
        self.session.commit(meta, layer, geometry=True)
        self.info.value = _spatial_summary(meta)
        self.session.show_info("Geometry applied.")
        return True


def _spatial_summary(meta: Meta) -> str:
    sp = meta.spatial
    parts = []
    if sp.shape:
        parts.append(f"shape: {list(sp.shape)}")
    aff = sp.affine
    if aff is not None:
        parts.append("affine: " + "; ".join(fmt_list(r) for r in aff))
    return "\n".join(parts)


def _check_code(code: Optional[str], n_spatial: int) -> None:
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


def _same_matrix(a: Any, b: Any) -> bool:
    """Whether the typed matrix is the one shown (the text rounds values)."""
    try:
        return b is not None and np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=0, atol=1e-4))
    except (TypeError, ValueError):
        return False


class StatsTab(Tab):
    """The stored statistics, and recomputing them from the pixel data."""

    key = "stats"

    def __init__(self, session: EditSession) -> None:
        self.text = TextEdit(value="")
        self.text.read_only = True
        self.recompute_button = PushButton(text="Recompute statistics")
        super().__init__(session, [self.text, self.recompute_button])
        self.recompute_button.changed.connect(lambda *_: self.recompute())
        self.worker: Optional[FunctionWorker] = None

    def load(self, meta: Meta) -> None:
        super().load(meta)
        self.text.value = _stats_summary(meta)

    def recompute(self, block: bool = False) -> Optional[FunctionWorker]:
        """Recompute intensity statistics from the pixel data (in a worker thread unless ``block``)."""
        layer = self.session.layer
        if layer is None:
            return None
        source = _stats_source(layer)
        if source is None:
            self.session.show_error("This layer has no pixel data to compute statistics from.")
            return None
        self.recompute_button.enabled = False
        self.session.show_info("Computing statistics…")
        axis = _channel_axis(layer_meta(layer), len(source.shape))

        def compute() -> dict:
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
                self.session.show_error(f"Statistics refused: {exc}")
                return
            self.session.commit(meta, layer)
            if self.session.layer is layer:
                self.text.value = _stats_summary(meta)
                self.session.show_info("Statistics recomputed (Save to store them).")

        def failed(exc: Exception) -> None:
            self.recompute_button.enabled = True
            self.session.show_error(f"Statistics failed: {exc}")

        if block:
            done(compute())
            return None
        from napari.qt.threading import create_worker  # napari's Qt threading, only when a worker is wanted

        worker = create_worker(compute)
        worker.returned.connect(done)
        worker.errored.connect(failed)
        self.worker = worker
        worker.start()
        return worker


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


def _stats_source(layer: Layer) -> Any:
    """The pixels to compute statistics from: the layer's file when it has one, else the layer's data."""
    path = layer_path(layer)
    if path:
        try:
            ml: Optional[MLArray] = MLArray.open(path, mmap_mode="r")
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


class ClassesTab(Tab):
    """``is_seg`` (Image <-> Labels) and the class table (Labels colours and names)."""

    key = "classes"

    def __init__(self, session: EditSession) -> None:
        self.is_seg = CheckBox(text="is_seg (segmentation / labels)")
        self.table = Table(value=[], columns=["id", "name", "color"])
        self.add_button = PushButton(text="Add class")
        super().__init__(session, [self.is_seg, self.table, self.add_button])
        self.is_seg.changed.connect(self._on_is_seg)
        self.table.changed.connect(self._on_table_edit)
        self.add_button.changed.connect(lambda *_: self.add_class())

    def fields(self) -> list[ValueWidget[Any]]:
        return [self.table]

    def load(self, meta: Meta) -> None:
        super().load(meta)
        with quiet(self.is_seg):
            self.is_seg.value = bool(meta.is_seg)
        self._show_rows(meta.classes or [])

    def _show_rows(self, classes: list) -> None:
        rows = [[c["id"], c["name"], color_hex(c.get("color"))] for c in classes]
        with quiet(self.table):
            self.table.set_value({"data": rows, "columns": ["id", "name", "color"], "index": list(range(len(rows)))})

    def _rows(self, layer: Layer) -> list[dict]:
        out = []
        # colours are shown as 8-bit hex; keep the stored floats for cells the user did not change
        previous = [c.get("color") for c in (layer_meta(layer).classes or [])]
        for r, row in enumerate(self.table.data.to_list()):
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

    def _on_table_edit(self, *_: Any) -> None:
        if self.session.layer is not None:
            QTimer.singleShot(0, self._apply_table)  # applying rebuilds the table: not inside its own signal

    def _apply_table(self) -> None:
        if self.session.layer is not None:
            self.apply()

    def apply(self, classes: Optional[list] = None) -> bool:
        """Validate the class table (or ``classes``) and apply it to the Labels layer."""
        layer = self.session.layer
        if layer is None:
            return False
        meta = layer_meta(layer)
        try:
            meta.classes = check_classes(self._rows(layer) if classes is None else classes) or None
            self.session.validated(meta, layer)
        except (MetadataError, ValueError, TypeError) as exc:
            self.refuse(f"Not applied — {exc}")
            return False
        self.accept()
        self.session.commit(meta, layer, classes=True)
        if classes is not None:
            self._show_rows(meta.classes or [])
        # boxes coloured by class follow the table
        shapes = self.session.boxes_layer()
        if shapes is not None:
            recolour_boxes(shapes, meta)
        self.session.show_info("Classes applied.")
        return True

    def add_class(self) -> bool:
        """Append a class with the next free id."""
        if self.session.layer is None:
            return False
        meta = layer_meta(self.session.layer)
        used = {c["id"] for c in meta.classes or []}
        new_id = max(used | {0}) + 1
        return self.apply([*(meta.classes or []), {"id": new_id, "name": f"class {new_id}"}])

    def _on_is_seg(self, value: bool) -> None:
        if self.session.layer is not None:
            self.set_is_seg(bool(value))

    def set_is_seg(self, value: bool) -> bool:
        """Set ``is_seg``; an Image layer becomes a Labels layer (and back), keeping its transform."""
        layer = self.session.layer
        if layer is None:
            return False
        meta = layer_meta(layer)
        ltype = layer_kind(layer)
        if ltype in ("image", "labels"):
            data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
            if value and np.dtype(data.dtype).kind not in "iub":
                self.session.show_error(f"Not applied — is_seg: the data is {np.dtype(data.dtype)}, a segmentation "
                                        "needs integer labels; convert the data first")
                with quiet(self.is_seg):
                    self.is_seg.value = False
                return False
        meta.is_seg = value
        self.session.commit(meta, layer)
        if ltype == "image" and value or ltype == "labels" and not value:
            self._swap_layer_type(layer, "labels" if value else "image", meta)
        self.session.show_info(f"is_seg set to {value}.")
        return True

    def _swap_layer_type(self, layer: Layer, new_type: str, meta: Meta) -> None:
        from napari.layers import Image, Labels  # napari's layer classes, only when a layer changes type

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
        layers = self.session.viewer.layers
        idx = layers.index(layer)
        layers.remove(layer)
        layers.insert(idx, new)
        new.name = kw["name"]
        layers.selection.active = new


class ExtraTab(Tab):
    """The free-form ``extra`` JSON object."""

    key = "extra"

    def __init__(self, session: EditSession) -> None:
        self.text = TextEdit(value="{}")
        self.apply_button = PushButton(text="Apply extra")
        super().__init__(session, [self.text, self.apply_button])
        self.apply_button.changed.connect(lambda *_: self.apply())

    def fields(self) -> list[ValueWidget[Any]]:
        return [self.text]

    def load(self, meta: Meta) -> None:
        super().load(meta)
        self.text.value = json.dumps(meta.extra, indent=2, ensure_ascii=False)

    def apply(self, text: Optional[str] = None) -> bool:
        """Validate the ``extra`` JSON (an object) and store it."""
        layer = self.session.layer
        if layer is None:
            return False
        if text is None:
            text = self.text.value
        elif text != self.text.value:
            self.text.value = text
        meta = layer_meta(layer)
        try:
            try:
                value = json.loads(text or "{}")
            except ValueError as exc:
                raise MetadataError("extra", (text or "")[:60], f"is not valid JSON ({exc})",
                                    "write a JSON object, e.g. {\"study\": \"A\"}") from None
            if not isinstance(value, dict):
                raise MetadataError("extra", value, "must be a JSON object", "wrap the value: {\"value\": ...}")
            meta.extra = value
            self.session.validated(meta, layer)
        except MetadataError as exc:
            self.refuse(f"Not applied — {exc}")
            return False
        self.accept()
        self.session.commit(meta, layer)
        self.session.show_info("extra applied.")
        return True
