"""The "MLArray metadata" dock widget: view, edit, validate, save and revert a layer's metadata.

The widget follows the active layer. Its working copy of the metadata lives in
``layer.metadata["mlarray"]`` (the mapping the reader put there; built from the layer's transforms
for layers that did not come from a ``.mla`` file), so edits survive switching layers and are what
the writer saves. Every edit is validated by :mod:`mlarray.meta` before anything is applied; a
refused edit shows the library's message (field, value, remedy) and changes nothing.

* Geometry edits (spacing, origin, direction, axis labels/units, coord system) are applied live to
  every layer read from the same file (image/labels and its boxes) using the reader's world
  convention (:func:`napari_mlarray._mapping.napari_world_affine`).
* ``is_seg`` and the class table update the Labels layer (colormap, class names as features);
  toggling ``is_seg`` swaps the layer between Image and Labels.
* The box table (label, score) and the Shapes layer stay in sync both ways.
* **Save** writes the metadata into the layer's file: the file is copied byte for byte beside
  itself, the JSON metadata entry of the copy is replaced and the copy is atomically renamed over
  the original — compressed pixel chunks are never decoded or rewritten.
* **Revert** re-reads the file's metadata and re-applies it to the layers.
* ``source`` (DICOM/NIfTI headers can hold thousands of entries) is a lazily populated,
  searchable tree: only expanded nodes are built and a search lists at most a few hundred hits.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

import numpy as np
from magicgui.widgets import CheckBox, Container, LineEdit, PushButton, Table, TextEdit
from magicgui.widgets import Label as MLabel
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QLabel, QLineEdit, QSizePolicy, QTabWidget, QTreeWidget, QTreeWidgetItem,
                            QVBoxLayout, QWidget)

from mlarray import MetadataError, MLArray, MLArrayError
from mlarray.meta import Meta, MetaSpatial, check_classes, compose_affine_or_none, spatial_axes_of

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["MetadataWidget", "LazyTree", "save_metadata_in_place", "layer_meta", "apply_meta_to_layer"]

_ROLE_KEY, _PATH_KEY, _META_KEY, _AXES_KEY = "mlarray_role", "mlarray_path", "mlarray", "mlarray_axes"
_ERROR_STYLE = "color: #ff6b6b;"
_OK_STYLE = "color: #8fd18f;"


# ============================================================================ metadata <-> layers

def _kind(layer) -> str:
    """'image', 'labels', 'shapes', ... (napari deprecates ``Layer._type_string``)."""
    return type(layer).__name__.lower()


def _md(layer) -> dict:
    md = getattr(layer, "metadata", None)
    return md if isinstance(md, dict) else {}


def layer_path(layer) -> Optional[str]:
    p = _md(layer).get(_PATH_KEY)
    return str(p) if p else None


def layer_meta(layer) -> Meta:
    """The layer's MLArray metadata: its stored mapping, or one built from its data and transforms."""
    mapping = _md(layer).get(_META_KEY)
    if isinstance(mapping, dict):
        return Meta.from_mapping(mapping)
    return _meta_from_transforms(layer)


def _meta_from_transforms(layer) -> Meta:
    from ._mapping import meta_from_shapes, mlarray_from_layer

    data, state, ltype = layer.as_layer_data_tuple()
    if ltype == "shapes":
        meta = meta_from_shapes(list(data), state) if len(data) else Meta()
    elif ltype in ("image", "labels"):
        meta = mlarray_from_layer(data, state, ltype).meta
    else:
        meta = Meta()
    meta.writer = None
    return meta


def _base_ndim(meta: Meta, layer) -> int:
    if meta.spatial.shape:
        return len(meta.spatial.shape)
    if meta.spatial.axis_labels:
        return len(meta.spatial.axis_labels)
    return int(layer.ndim) - (1 if getattr(layer, "rgb", False) else 0)


def _layer_axes(meta: Meta, layer) -> list[int]:
    """Base array axis shown on each layer axis (the reader records it; identity otherwise)."""
    axes = _md(layer).get(_AXES_KEY)
    nd = int(layer.ndim) - (1 if getattr(layer, "rgb", False) else 0)
    if isinstance(axes, list) and len(axes) == nd:
        return [int(a) for a in axes]
    if _md(layer).get(_ROLE_KEY) == "boxes" or _kind(layer) == "shapes":
        base = _base_ndim(meta, layer)
        sp = spatial_axes_of(meta.spatial.axis_labels, base) if base else list(range(nd))
        return sp if len(sp) == nd else list(range(nd))
    return list(range(nd))


def layer_world_matrix(meta: Meta, layer) -> tuple[np.ndarray, Optional[list[str]], list[int]]:
    """``(M, world_labels, spatial_slots)``: the layer's data->world matrix implied by ``meta``.

    Follows the reader's convention: world axis ``k`` sits on the ``k``-th spatial layer axis;
    non-spatial axes keep an identity transform.
    """
    from ._mapping import napari_world_affine

    axes = _layer_axes(meta, layer)
    base = _base_ndim(meta, layer)
    spatial = spatial_axes_of(meta.spatial.axis_labels, base)
    s = len(spatial)
    sp = meta.spatial
    a = compose_affine_or_none(sp.spacing, sp.origin, sp.direction)
    if a is None or a.shape[0] != s + 1:
        a = np.eye(s + 1)
    w, labels = napari_world_affine(a, sp.coord_system)
    n = len(axes)
    slots = [i for i, ax in enumerate(axes) if ax in spatial]
    m = np.eye(n + 1)
    if len(slots) != s:  # layer does not show every spatial axis: leave its transform alone
        return m, None, []
    for i in slots:
        m[i, i] = 0.0
    for r, row in enumerate(slots):
        for i in slots:
            m[row, i] = w[r, spatial.index(axes[i])]
        m[row, n] = w[r, s]
    return m, labels, slots


def _split_matrix(m: np.ndarray) -> dict:
    """scale (signed), translate and a proper rotation from a scaled-orthogonal matrix."""
    n = m.shape[0] - 1
    lin = m[:n, :n]
    norms = np.linalg.norm(lin, axis=0)
    norms[norms == 0] = 1.0
    rot = lin / norms
    sign = np.where(np.diag(rot) < 0, -1.0, 1.0)
    rot = rot * sign[np.newaxis, :]
    if n and np.linalg.det(rot) < 0:
        j = int(np.argmin(np.abs(np.diag(rot))))
        sign[j] = -sign[j]
        rot[:, j] = -rot[:, j]
    if np.allclose(rot, np.eye(n), atol=1e-9):
        rot = np.eye(n)
    return {"scale": (norms * sign).tolist(), "translate": m[:n, n].tolist(), "rotate": rot}


def apply_meta_to_layer(layer, meta: Meta, *, geometry: bool = True, classes: bool = True,
                        boxes: bool = False) -> None:
    """Store ``meta`` on the layer and update what napari shows from it."""
    layer.metadata = {**_md(layer), _META_KEY: meta.to_mapping()}
    if geometry:
        m, labels, slots = layer_world_matrix(meta, layer)
        if slots:
            parts = _split_matrix(m)
            layer.affine = np.eye(m.shape[0])
            layer.shear = np.zeros(m.shape[0] - 1) if m.shape[0] == 3 else [0.0] * ((m.shape[0] - 1) * (m.shape[0] - 2) // 2)
            layer.rotate = parts["rotate"]
            layer.scale = parts["scale"]
            layer.translate = parts["translate"]
            if labels is not None and hasattr(layer, "axis_labels"):
                cur = list(layer.axis_labels)
                for r, slot in enumerate(slots):
                    cur[slot] = labels[r]
                if len(set(cur)) == len(cur):
                    layer.axis_labels = cur
    if classes and _kind(layer) == "labels" and meta.classes:
        from ._mapping import _labels_colormap

        layer.colormap = _labels_colormap(meta.classes)
        layer.features = {"index": [0] + [int(c["id"]) for c in meta.classes],
                          "name": ["background"] + [c["name"] for c in meta.classes]}
    if boxes and _kind(layer) == "shapes":
        _shapes_from_meta(layer, meta)


def _shapes_from_meta(layer, meta: Meta) -> None:
    """Rebuild a boxes layer's rectangles and features from ``meta.bbox`` (used by Revert)."""
    from ._mapping import _boxes_layer, _Geometry

    base = _base_ndim(meta, layer)
    spatial = spatial_axes_of(meta.spatial.axis_labels, base)
    geom = _Geometry(meta, base, spatial, layer.name, ("widget", id(layer)))
    tup = _boxes_layer(meta, geom, layer.name, dict(_md(layer)), max(1.0, float(np.max(layer.edge_width))
                                                                    if len(layer.data) else 1.0))
    layer.selected_data = set()
    if tup is None:
        layer.data = []
        return
    rects, kw, _ = tup
    layer.data = rects
    layer.shape_type = ["rectangle"] * len(rects)
    layer.features = kw["features"]
    layer.edge_color = kw["edge_color"]
    layer.text = kw["text"]


# ============================================================================ saving

def save_metadata_in_place(path: str, meta: Meta) -> None:
    """Write ``meta`` into the ``.mla`` file at ``path`` without touching its pixel data.

    The file is copied byte for byte to a hidden temporary beside it, the copy's metadata entry
    (JSON in the Blosc2 frame's variable-length metalayer) is replaced, the copy is fsync'd and
    renamed over the original. A crash leaves the old file intact; layers that memory-map the old
    file keep reading it (same pixels). Derived fields (layout, pyramid, shape) stay the file's.
    """
    from mlarray._atomic import atomic_output

    path = os.fspath(path)
    with atomic_output(path) as tmp:
        shutil.copyfile(path, tmp)
        img = MLArray.open(tmp, mmap_mode="r+")
        try:
            new = meta.copy()
            new.writer = img.meta.writer
            img.meta = new  # validates against the file's shape; keeps layout/pyramid/has_array
        except BaseException:
            img._store = None  # nothing to flush
            raise
        img.close()


# ============================================================================ lazy tree

def _is_container(v) -> bool:
    return isinstance(v, (dict, list, tuple)) and len(v) > 0


def _short(v, limit: int = 120) -> str:
    if isinstance(v, dict):
        return f"{{{len(v)} keys}}"
    if isinstance(v, (list, tuple)):
        if len(v) <= 8 and not any(isinstance(x, (dict, list, tuple)) for x in v):
            s = json.dumps(list(v), default=str)
            return s if len(s) <= limit else s[: limit - 1] + "…"
        return f"[{len(v)} items]"
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _children(v) -> list[tuple[str, Any]]:
    if isinstance(v, dict):
        return [(str(k), x) for k, x in v.items()]
    return [(f"[{i}]", x) for i, x in enumerate(v)]


class LazyTree(QWidget):
    """A read-only, searchable tree of a JSON value that builds items only when they are shown.

    Top-level keys are created at once (capped at ``page`` items with a "more" row); children are
    created when their parent is expanded. Typing in the search box (debounced) lists matching
    ``path = value`` rows — at most ``max_hits`` — instead of the tree.
    """

    MORE = "__more__"

    def __init__(self, parent=None, page: int = 500, max_hits: int = 300) -> None:
        super().__init__(parent)
        self.page, self.max_hits = page, max_hits
        self._value: Any = {}
        self._flat: Optional[list[tuple[str, str]]] = None
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("search keys and values…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["key", "value"])
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 170)
        self.info = QLabel(self)
        self.info.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search)
        lay.addWidget(self.tree)
        lay.addWidget(self.info)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.tree.itemExpanded.connect(self._on_expanded)
        self.tree.itemClicked.connect(self._on_clicked)
        self.last_build_ms = 0.0

    # -- public -------------------------------------------------------------
    def set_value(self, value: Any) -> None:
        t0 = time.perf_counter()
        self._value = value if value is not None else {}
        self._flat = None
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._show_tree()
        self.last_build_ms = (time.perf_counter() - t0) * 1000
        n = len(self._value) if isinstance(self._value, (dict, list)) else 0
        self.info.setText(f"{n} top-level entries" if n else "empty")

    def set_filter(self, text: str) -> None:
        """Set the search text and filter now (the search box debounces typing)."""
        self.search.setText(text)
        self._timer.stop()
        self._apply_filter()

    # -- tree ---------------------------------------------------------------
    def _show_tree(self) -> None:
        self.tree.clear()
        self.tree.setRootIsDecorated(True)
        if _is_container(self._value):
            self._add_children(self.tree.invisibleRootItem(), self._value, 0)

    def _make_item(self, parent, key: str, v) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [key, _short(v)])
        if _is_container(v):
            item.setData(0, Qt.ItemDataRole.UserRole, v)
            QTreeWidgetItem(item, ["…", ""])  # placeholder: makes the node expandable
        return item

    def _add_children(self, parent, v, start: int) -> None:
        kids = _children(v)
        stop = min(len(kids), start + self.page)
        self.tree.setUpdatesEnabled(False)
        try:
            for key, x in kids[start:stop]:
                self._make_item(parent, key, x)
            if stop < len(kids):
                more = QTreeWidgetItem(parent, [f"… {len(kids) - stop} more (click)", ""])
                more.setData(0, Qt.ItemDataRole.UserRole, (self.MORE, v, stop))
        finally:
            self.tree.setUpdatesEnabled(True)

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        v = item.data(0, Qt.ItemDataRole.UserRole)
        if v is None or item.childCount() != 1 or item.child(0).text(0) != "…":
            return
        item.takeChild(0)
        self._add_children(item, v, 0)

    def _on_clicked(self, item: QTreeWidgetItem, _col: int) -> None:
        d = item.data(0, Qt.ItemDataRole.UserRole)
        if isinstance(d, tuple) and len(d) == 3 and d[0] == self.MORE:
            parent = item.parent() or self.tree.invisibleRootItem()
            parent.removeChild(item)
            self._add_children(parent, d[1], d[2])

    # -- search -------------------------------------------------------------
    def _flatten(self) -> list[tuple[str, str]]:
        if self._flat is None:
            out: list[tuple[str, str]] = []
            stack: list[tuple[str, Any]] = [("", self._value)]
            while stack:
                prefix, v = stack.pop()
                if _is_container(v):
                    kids = _children(v)
                    for key, x in reversed(kids):
                        p = f"{prefix}{key}" if key.startswith("[") or not prefix else f"{prefix}.{key}"
                        stack.append((p, x))
                else:
                    out.append((prefix, _short(v, 400)))
            self._flat = out
        return self._flat

    def _apply_filter(self) -> None:
        text = self.search.text().strip().lower()
        if not text:
            self._show_tree()
            self.info.setText("")
            return
        hits, total = [], 0
        for path, val in self._flatten():
            if text in path.lower() or text in val.lower():
                total += 1
                if len(hits) < self.max_hits:
                    hits.append((path, val))
        self.tree.setUpdatesEnabled(False)
        try:
            self.tree.clear()
            self.tree.setRootIsDecorated(False)
            for path, val in hits:
                QTreeWidgetItem(self.tree, [path, val])
        finally:
            self.tree.setUpdatesEnabled(True)
        more = f" (showing {len(hits)})" if total > len(hits) else ""
        self.info.setText(f"{total} match{'es' if total != 1 else ''}{more}")

    def visible_rows(self) -> list[tuple[str, str]]:
        root = self.tree.invisibleRootItem()
        return [(root.child(i).text(0), root.child(i).text(1)) for i in range(root.childCount())]


# ============================================================================ parsing

def _parse_list(text: str, field: str, *, numbers: bool = True):
    """``"1, 2, 3"``, ``"1 2 3"`` or JSON ``[1, 2, 3]``; empty text means "not set" (None)."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise MetadataError(field, text, f"is not valid JSON ({exc.msg})", "write e.g. [1.0, 0.8, 0.8]") from None
    parts = [p for p in re.split(r"[,\s]+" if numbers else r"\s*,\s*", text) if p != ""]
    if not numbers:
        return parts
    out = []
    for p in parts:
        try:
            out.append(float(p))
        except ValueError:
            raise MetadataError(field, text, f"{p!r} is not a number", "write numbers separated by commas") from None
    return out


def _parse_matrix(text: str, field: str):
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        return _parse_list(text, field)
    return [_parse_list(row, field) for row in text.split(";") if row.strip()]


def _fmt_num(v) -> str:
    return format(float(v), ".6g")


def _fmt_list(v) -> str:
    return "" if v is None else ", ".join(_fmt_num(x) if isinstance(x, (int, float)) else str(x) for x in v)


def _fmt_matrix(m) -> str:
    return "" if m is None else "; ".join(_fmt_list(r) for r in m)


def _color_hex(c) -> str:
    if not c:
        return ""
    return "#" + "".join(f"{int(round(float(x) * 255)):02x}" for x in c)


# ============================================================================ the widget

_SPATIAL_FIELDS = ("spacing", "origin", "direction", "axis_labels", "axis_units", "coord_system")


class MetadataWidget(Container):
    """Dock widget showing and editing the MLArray metadata of the active layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        viewer = napari_viewer
        self.viewer = viewer
        self.layer = None
        self._updating = False
        self._shapes = None  # boxes layer currently synced with the box table
        self._box_groups: list[list[int]] = []
        self._saved: dict[str, str] = {}  # path -> metadata JSON as last read from / written to the file
        self._stats_worker = None

        self._title = MLabel(value="No layer selected")
        self._title.native.setWordWrap(True)
        self._message = MLabel(value="")
        self._message.native.setWordWrap(True)
        self._message.native.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.extend([self._title, self._message])

        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(True)
        self.tabs.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.native.layout().addWidget(self.tabs)

        # -- spatial
        self.spacing = LineEdit(label="spacing", tooltip="voxel size per spatial axis, e.g. 2.5, 0.8, 0.8")
        self.origin = LineEdit(label="origin", tooltip="world position of voxel (0, 0, 0)")
        self.direction = LineEdit(label="direction",
                                  tooltip="orthonormal matrix, rows separated by ';' (or JSON [[...], ...])")
        self.axis_labels = LineEdit(label="axis labels",
                                    tooltip="one per array axis: spatial, spatial_x/y/z, channel, temporal, ...")
        self.axis_units = LineEdit(label="units", tooltip="e.g. mm, mm, mm")
        self.coord_system = LineEdit(label="coord system", tooltip="RAS, LPS (any anatomical letters), unknown, other")
        self._spatial_info = MLabel(value="")
        self._spatial_info.native.setWordWrap(True)
        spatial = Container(widgets=[self.spacing, self.origin, self.direction, self.axis_labels,
                                     self.axis_units, self.coord_system, self._spatial_info])
        spatial.native.layout().addStretch(1)
        for w in (self.spacing, self.origin, self.direction, self.axis_labels, self.axis_units, self.coord_system):
            w.changed.connect(self._on_spatial_edit)
        self._add_tab(spatial, "Spatial")

        # -- stats
        self._stats_text = TextEdit(value="")
        self._stats_text.read_only = True
        self.recompute_button = PushButton(text="Recompute statistics")
        self.recompute_button.changed.connect(lambda *_: self.recompute_stats())
        self._add_tab(Container(widgets=[self._stats_text, self.recompute_button], labels=False), "Stats")

        # -- segmentation
        self.is_seg = CheckBox(text="is_seg (segmentation / labels)")
        self.is_seg.changed.connect(self._on_is_seg)
        self.class_table = Table(value=[], columns=["id", "name", "color"])
        self.class_table.changed.connect(self._on_class_edit)
        self.add_class_button = PushButton(text="Add class")
        self.add_class_button.changed.connect(lambda *_: self._add_class())
        self._add_tab(Container(widgets=[self.is_seg, self.class_table, self.add_class_button], labels=False),
                      "Classes")

        # -- boxes
        self.box_table = Table(value=[], columns=["label", "score", "extent (voxels)"])
        self.box_table.changed.connect(self._on_box_edit)
        self._box_info = MLabel(value="")
        self._box_info.native.setWordWrap(True)
        self._add_tab(Container(widgets=[self.box_table, self._box_info], labels=False), "Boxes")

        # -- source
        self.source_tree = LazyTree()
        self._source_format = QLabel()
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addWidget(self._source_format)
        lay.addWidget(self.source_tree)
        self.tabs.addTab(page, "Source")

        # -- extra
        self.extra = TextEdit(value="{}")
        self.apply_extra_button = PushButton(text="Apply extra")
        self.apply_extra_button.changed.connect(lambda *_: self.apply_extra())
        self._add_tab(Container(widgets=[self.extra, self.apply_extra_button], labels=False), "Extra")

        # -- layout + version (read-only)
        self.layout_tree = LazyTree()
        self.tabs.addTab(self.layout_tree, "Layout")
        self._version = TextEdit(value="")
        self._version.read_only = True
        self._add_tab(Container(widgets=[self._version], labels=False), "Version")

        # -- actions
        self.save_button = PushButton(text="Save")
        self.save_button.tooltip = "write the metadata into the layer's .mla file (pixels untouched)"
        self.revert_button = PushButton(text="Revert")
        self.revert_button.tooltip = "reload the metadata from the file"
        self.save_as_button = PushButton(text="Save as MLArray…")
        self.save_button.changed.connect(lambda *_: self.save())
        self.revert_button.changed.connect(lambda *_: self.revert())
        self.save_as_button.changed.connect(lambda *_: self.save_as())
        actions = Container(widgets=[self.save_button, self.revert_button, self.save_as_button],
                            layout="horizontal", labels=False)
        self.native.layout().addWidget(actions.native)
        self._actions = actions

        viewer.layers.selection.events.active.connect(self._on_active)
        viewer.layers.events.removed.connect(self._on_removed)
        self.set_layer(viewer.layers.selection.active)

    def _add_tab(self, container: Container, title: str) -> None:
        self.tabs.addTab(container.native, title)

    # ------------------------------------------------------------------ messages
    @property
    def error(self) -> str:
        """The message of the last refused edit ('' when the last action succeeded)."""
        return self._error_text

    _error_text = ""

    def _show_error(self, text: str) -> None:
        self._error_text = text
        self._message.value = text
        self._message.native.setStyleSheet(_ERROR_STYLE)

    def _show_info(self, text: str) -> None:
        self._error_text = ""
        self._message.value = text
        self._message.native.setStyleSheet(_OK_STYLE)

    # ------------------------------------------------------------------ layer tracking
    def _on_active(self, event=None) -> None:
        self.set_layer(self.viewer.layers.selection.active)

    def _on_removed(self, event) -> None:
        if event.value is self.layer:
            self.set_layer(self.viewer.layers.selection.active)
        if event.value is self._shapes:
            self._disconnect_shapes()

    def set_layer(self, layer) -> None:
        """Show ``layer``'s metadata (None clears the widget)."""
        self.layer = layer
        self._disconnect_shapes()
        self._show_info("")
        if layer is None:
            self._title.value = "No layer selected"
            self._set_enabled(False)
            return
        self._set_enabled(True)
        if not isinstance(_md(layer).get(_META_KEY), dict):
            try:
                meta = _meta_from_transforms(layer)
            except Exception as exc:  # unusual layer types/data: show, but never break the viewer
                self._show_error(f"Cannot describe this layer as MLArray: {exc}")
                meta = Meta()
            layer.metadata = {**_md(layer), _META_KEY: meta.to_mapping()}
        path = layer_path(layer)
        if path and path not in self._saved:
            self._remember_file(path)
        self._connect_shapes()
        self.refresh()

    def _set_enabled(self, on: bool) -> None:
        self.tabs.setEnabled(on)
        self._actions.enabled = on

    def _siblings(self, layer=None) -> list:
        """Layers read from the same file as ``layer`` (the layer itself when it has no file)."""
        layer = layer if layer is not None else self.layer
        path = layer_path(layer)
        if not path:
            return [layer]
        return [lay for lay in self.viewer.layers if layer_path(lay) == path]

    def _boxes_layer(self):
        if self.layer is None:
            return None
        if _kind(self.layer) == "shapes":
            return self.layer
        for lay in self._siblings():
            if _kind(lay) == "shapes" and _md(lay).get(_ROLE_KEY) == "boxes":
                return lay
        return None

    def _remember_file(self, path: str) -> None:
        try:
            ml = MLArray.open(path, mmap_mode="r")
            self._saved[path] = json.dumps(ml.meta.to_mapping(), sort_keys=True)
            ml.close()
        except (MLArrayError, OSError):
            self._saved.pop(path, None)

    @property
    def meta(self) -> Optional[Meta]:
        return None if self.layer is None else layer_meta(self.layer)

    @property
    def dirty(self) -> bool:
        path = layer_path(self.layer) if self.layer is not None else None
        if not path:
            return self.layer is not None
        return json.dumps(_md(self.layer).get(_META_KEY), sort_keys=True) != self._saved.get(path)

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        """Re-read the active layer's metadata into every tab."""
        if self.layer is None:
            return
        meta = layer_meta(self.layer)
        self._updating = True
        try:
            self._refresh_title()
            sp = meta.spatial
            self.spacing.value = _fmt_list(sp.spacing)
            self.origin.value = _fmt_list(sp.origin)
            self.direction.value = _fmt_matrix(sp.direction)
            self.axis_labels.value = "" if sp.axis_labels is None else ", ".join(sp.axis_labels)
            self.axis_units.value = "" if sp.axis_units is None else ", ".join(sp.axis_units)
            self.coord_system.value = sp.coord_system or ""
            self._spatial_info.value = self._spatial_summary(meta)
            self._stats_text.value = self._stats_summary(meta)
            self.is_seg.value = bool(meta.is_seg)
            self._set_class_rows(meta.classes or [])
            self._refresh_boxes(meta)
            self.source_tree.set_value(meta.source)
            self._source_format.setText(f"source_format: {meta.source_format or '—'}  "
                                        f"({len(meta.source)} top-level entries)")
            self.extra.value = json.dumps(meta.extra, indent=2, ensure_ascii=False)
            self.layout_tree.set_value({"blosc2": meta.blosc2.to_mapping(), "pyramid": meta.pyramid.to_mapping(),
                                        "shape": meta.spatial.shape})
            self._version.value = "\n".join([
                f"format_version: {meta.format_version}",
                f"writer: {meta.writer or '—'}",
                f"has_array: {meta.has_array}",
                f"file: {layer_path(self.layer) or '— (not saved as .mla)'}",
            ])
        finally:
            self._updating = False

    def _refresh_title(self) -> None:
        path = layer_path(self.layer)
        role = _md(self.layer).get(_ROLE_KEY) or _kind(self.layer)
        where = os.path.basename(path) if path else "not from a .mla file — use “Save as MLArray…”"
        star = " ● unsaved changes" if (path and self.dirty) else ""
        self._title.value = f"<b>{self.layer.name}</b> ({role}) — {where}{star}"
        self.save_button.enabled = bool(path)
        self.revert_button.enabled = bool(path)

    @staticmethod
    def _spatial_summary(meta: Meta) -> str:
        sp = meta.spatial
        parts = []
        if sp.shape:
            parts.append(f"shape: {list(sp.shape)}")
        aff = sp.affine
        if aff is not None:
            parts.append("affine: " + "; ".join(_fmt_list(r) for r in aff))
        return "\n".join(parts)

    @staticmethod
    def _stats_summary(meta: Meta) -> str:
        st = meta.stats.to_mapping()
        if not st:
            return "No statistics stored. Use “Recompute statistics”."
        lines = []
        for k in ("min", "max", "mean", "median", "std", "count", "nan_count", "exact"):
            if k in st:
                v = st[k]
                lines.append(f"{k}: {_fmt_num(v) if isinstance(v, float) else v}")
        for q, v in (st.get("percentiles") or {}).items():
            lines.append(f"p{q}: {'—' if v is None else _fmt_num(v)}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ committing edits
    def _commit(self, meta: Meta, *, geometry: bool = False, classes: bool = False) -> None:
        """Store a validated ``meta`` on the layer and its siblings and update what they show."""
        for lay in self._siblings():
            apply_meta_to_layer(lay, meta, geometry=geometry, classes=classes)
        self._refresh_title()

    def _validated(self, meta: Meta) -> Meta:
        meta.validate(_base_ndim(meta, self.layer) if meta.has_array or meta.spatial.shape else None)
        # the transform must be computable too (e.g. spacing and direction of the same size)
        compose_affine_or_none(meta.spatial.spacing, meta.spatial.origin, meta.spatial.direction)
        return meta

    # ------------------------------------------------------------------ spatial
    def _on_spatial_edit(self, *_):
        if self._updating or self.layer is None:
            return
        self.apply_spatial()

    def apply_spatial(self) -> bool:
        """Validate the spatial fields and apply them to the layer transforms (False if refused)."""
        meta = layer_meta(self.layer)
        sp = meta.spatial
        try:
            sp.spacing = _parse_list(self.spacing.value, "spatial.spacing")
            sp.origin = _parse_list(self.origin.value, "spatial.origin")
            sp.direction = _parse_matrix(self.direction.value, "spatial.direction")
            sp.axis_labels = _parse_list(self.axis_labels.value, "spatial.axis_labels", numbers=False)
            sp.axis_units = _parse_list(self.axis_units.value, "spatial.axis_units", numbers=False)
            sp.coord_system = self.coord_system.value.strip() or None
            base = _base_ndim(meta, self.layer)
            if sp.axis_labels is not None and meta.has_array and len(sp.axis_labels) != base:
                raise MetadataError("spatial.axis_labels", sp.axis_labels,
                                    f"must have one entry per array axis ({base})", "give one label per axis")
            old_spatial = spatial_axes_of(layer_meta(self.layer).spatial.axis_labels, base)
            if spatial_axes_of(sp.axis_labels, base) != old_spatial and _kind(self.layer) != "shapes":
                raise MetadataError("spatial.axis_labels", sp.axis_labels,
                                    "changes which axes are spatial, which needs the file to be re-read",
                                    "save, then re-open the file; or keep the spatial axes as they are")
            checked = MetaSpatial(spacing=sp.spacing, origin=sp.origin, direction=sp.direction)
            sp.spacing, sp.origin, sp.direction = checked.spacing, checked.origin, checked.direction
            self._validated(meta)
        except (MetadataError, ValueError, TypeError) as exc:
            self._show_error(f"Not applied — {exc}")
            return False
        self._commit(meta, geometry=True)
        self._spatial_info.value = self._spatial_summary(meta)
        self._show_info("Geometry applied.")
        return True

    # ------------------------------------------------------------------ stats
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

        def compute():
            from mlarray.stats import compute_stats

            return compute_stats(source)

        def done(stats: dict) -> None:
            self.recompute_button.enabled = True
            meta = layer_meta(layer)
            try:
                from mlarray.meta import MetaStatistics

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
        if _kind(layer) not in ("image", "labels"):
            return None
        data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        return getattr(data, "base", None) if hasattr(data, "order") else data

    # ------------------------------------------------------------------ classes
    def _set_class_rows(self, classes: list) -> None:
        rows = [[c["id"], c["name"], _color_hex(c.get("color"))] for c in classes]
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
                if r < len(previous) and previous[r] and c.lower() == _color_hex(previous[r]):
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
            self._show_error(f"Not applied — {exc}")
            return False
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
        ltype = _kind(layer)
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

        from ._mapping import _contrast_limits, _labels_colormap

        kw: dict[str, Any] = dict(name=layer.name, scale=layer.scale, translate=layer.translate,
                                  rotate=layer.rotate, shear=layer.shear, affine=layer.affine,
                                  opacity=layer.opacity, visible=layer.visible,
                                  metadata={**_md(layer), _ROLE_KEY: "labels" if new_type == "labels" else "image"},
                                  multiscale=getattr(layer, "multiscale", False))
        if new_type == "labels":
            if meta.classes:
                kw["colormap"] = _labels_colormap(meta.classes)
            new = Labels(layer.data, **kw)
        else:
            data = layer.data[0] if kw["multiscale"] else layer.data
            new = Image(layer.data, colormap="gray", contrast_limits=_contrast_limits(meta, data.dtype), **kw)
        idx = self.viewer.layers.index(layer)
        self.viewer.layers.remove(layer)
        self.viewer.layers.insert(idx, new)
        new.name = kw["name"]
        self.viewer.layers.selection.active = new

    # ------------------------------------------------------------------ boxes
    def _connect_shapes(self) -> None:
        shapes = self._boxes_layer()
        if shapes is None:
            return
        self._shapes = shapes
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
        from ._mapping import _group_boxes

        return [members for _g, members, _b in _group_boxes(list(shapes.data), shapes.features)]

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
                rows.append([_cell(lab), "" if _isnan(sc) else _fmt_num(sc), _extent(ext)])
            self._box_info.value = (f"{len(rows)} boxes in layer “{shapes.name}”. Edit label/score here; "
                                    "draw, move or delete rectangles in the layer.")
        else:
            self._box_groups = []
            bb = meta.bbox
            for k, box in enumerate(bb.bboxes or []):
                lab = bb.labels[k] if bb.labels else f"box {k}"
                sc = bb.scores[k] if bb.scores else None
                rows.append([_cell(lab), "" if sc is None else _fmt_num(sc), _extent(box)])
            self._box_info.value = f"{len(rows)} boxes in the metadata (no boxes layer open)."
        self.box_table.set_value({"data": rows, "columns": ["label", "score", "extent (voxels)"],
                                  "index": list(range(len(rows)))})

    def _bbox_from_shapes(self, shapes, meta: Meta):
        from ._mapping import bbox_from_shapes

        if not len(shapes.data):
            from mlarray.meta import MetaBbox

            return MetaBbox()
        axes = _layer_axes(meta, shapes)
        return bbox_from_shapes(list(shapes.data), {"features": shapes.features}, None, axes)

    def _on_shapes_changed(self, event=None) -> None:
        """Shapes layer edited (rectangles added/moved/removed, features changed): update table + meta."""
        if self._updating or self._shapes is None:
            return
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
                lay.metadata = {**_md(lay), _META_KEY: meta.to_mapping()}
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
            new["label"] = [f"box {int(b)}" if _isnan(v) or v is None else v
                            for v, b in zip(new["label"], new["box_id"])]
        shapes.features = new

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
                    feats["score"] = 1.0
                feats["score"] = feats["score"].astype(float)
                feats.loc[members, "score"] = score
            self._updating = True
            try:
                shapes.features = feats
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
                scores = list(bb.scores or [1.0] * n)
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
        from ._mapping import _box_colors

        if not len(shapes.data) or "label" not in shapes.features:
            return
        labels = list(shapes.features["label"])
        shapes.edge_color = np.asarray(_box_colors(labels, meta.classes), dtype=float).reshape(-1, 4)

    # ------------------------------------------------------------------ extra
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
            self._show_error(f"Not applied — {exc}")
            return False
        self._commit(meta)
        self._show_info("extra applied.")
        return True

    # ------------------------------------------------------------------ save / revert
    def save(self) -> bool:
        """Write the metadata into the layer's .mla file in place (atomically; pixels untouched)."""
        if self.layer is None:
            return False
        path = layer_path(self.layer)
        if not path:
            self._show_error("This layer did not come from a .mla file; use “Save as MLArray…”.")
            return False
        meta = layer_meta(self.layer)
        try:
            save_metadata_in_place(path, meta)
        except (MLArrayError, OSError, ValueError) as exc:
            self._show_error(f"Not saved — {exc}")
            return False
        self._remember_file(path)
        # the file may normalise fields (shape, writer); show what is stored
        try:
            ml = MLArray.open(path, mmap_mode="r")
            stored = ml.meta
            ml.close()
            for lay in self._siblings():
                lay.metadata = {**_md(lay), _META_KEY: stored.to_mapping()}
        except (MLArrayError, OSError):
            pass
        self._refresh_title()
        self._show_info(f"Saved metadata to {path}.")
        return True

    def revert(self) -> bool:
        """Reload the metadata from the layer's file and re-apply it to its layers."""
        if self.layer is None:
            return False
        path = layer_path(self.layer)
        if not path:
            self._show_error("This layer has no .mla file to revert to.")
            return False
        try:
            ml = MLArray.open(path, mmap_mode="r")
            meta = ml.meta
            ml.close()
        except (MLArrayError, OSError) as exc:
            self._show_error(f"Cannot revert — {exc}")
            return False
        self._disconnect_shapes()
        self._updating = True
        try:
            for lay in self._siblings():
                apply_meta_to_layer(lay, meta, geometry=True, classes=True, boxes=True)
        finally:
            self._updating = False
        self._saved[path] = json.dumps(meta.to_mapping(), sort_keys=True)
        self._connect_shapes()
        self.refresh()
        self._show_info(f"Reverted to the metadata in {os.path.basename(path)}.")
        return True

    def save_as(self):
        """Save the layer (with this metadata) as a new .mla file, through the plugin's writer."""
        if self.layer is None:
            return None
        try:  # the dialog lives in _menu (newer) or _writer
            from ._menu import save_as_dialog
        except ImportError:
            from ._writer import save_as_dialog

        sel = self.viewer.layers.selection
        if self.layer not in sel:
            sel.active = self.layer
        return save_as_dialog(self.viewer)


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _cell(v):
    if isinstance(v, np.generic):
        v = v.item()
    return "" if v is None or _isnan(v) else v


def _extent(box: Iterable) -> str:
    return " × ".join(f"{_fmt_num(lo)}–{_fmt_num(hi)}" for lo, hi in box)


def metadata_widget(viewer: "napari.viewer.Viewer") -> MetadataWidget:
    """npe2 widget command."""
    return MetadataWidget(viewer)
