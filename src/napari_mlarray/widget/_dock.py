"""The "MLArray metadata" dock widget: tabs, messages, following the active layer, refreshing.

The tab editors are mixins: :mod:`._widget_tabs` (Spatial, Stats, Classes, Extra),
:mod:`._widget_boxes` (Boxes) and :mod:`._widget_save` (Save / Revert / Save as…).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Optional

from magicgui.widgets import CheckBox, Container, LineEdit, PushButton, Table, TextEdit
from magicgui.widgets import Label as MLabel
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QSizePolicy, QTabWidget, QVBoxLayout, QWidget

from mlarray.meta import Meta, compose_affine_or_none

from ._boxes import _BoxesTab
from ._layers import (
    META_KEY,
    ROLE_KEY,
    apply_meta_to_layer,
    base_ndim,
    layer_kind,
    layer_md,
    layer_meta,
    layer_path,
    meta_from_transforms,
)
from ._save import _SaveActions
from ._tabs import _ClassesTab, _ExtraTab, _SpatialTab, _StatsTab
from ._text import fmt_list, fmt_matrix
from ._tree import LazyTree

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["MetadataWidget", "metadata_widget"]

_ERROR_STYLE = "color: #ff6b6b;"
_OK_STYLE = "color: #8fd18f;"

_SPATIAL_FIELDS = ("spacing", "origin", "direction", "axis_labels", "axis_units", "coord_system")



class MetadataWidget(_SpatialTab, _StatsTab, _ClassesTab, _BoxesTab, _ExtraTab, _SaveActions, Container):
    """Dock widget showing and editing the MLArray metadata of the active layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        # napari hands plugin widgets its viewer inside a PublicOnlyProxy, and every layer and array read
        # through it comes back wrapped too: ``type(layer)`` is the proxy, and the file's views lose their
        # identity (two channel layers no longer share one base). The widget uses napari's public API
        # only, so it works on the objects themselves.
        viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)
        self.viewer = viewer
        self.layer = None
        self._updating = False
        self._shapes = None  # boxes layer currently synced with the box table
        self._box_groups: list[list[int]] = []
        self._saved: dict[str, str] = {}  # path -> metadata JSON as last read from / written to the file
        self._stats_worker = None
        self.last_saved: list[str] = []  # files written by the last "Save as MLArray…"
        self._refused: dict[str, str] = {}  # tab -> message of its refused text

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
        for w in (self.spacing, self.origin, self.direction, self.axis_labels, self.axis_units):
            w.changed.connect(self._on_spatial_edit)
        # A code is applied once typed out (Enter or leaving the field): typing "RAS" over "LPS" passes
        # through "R" and "RA", which are not coordinate systems.
        self.coord_system.native.editingFinished.connect(self._on_spatial_edit)
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
        self.set_layer(self._layer_to_show())

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

    # A tab whose text was refused keeps the text (so it can be fixed) but not in the metadata; until
    # it is fixed or reverted, Save and Save as refuse, rather than saving the last valid value.
    _REFUSED_STYLE = "border: 1px solid #ff6b6b;"

    def _refuse(self, tab: str, text: str) -> None:
        self._refused[tab] = text
        for w in self._tab_fields(tab):
            w.native.setStyleSheet(self._REFUSED_STYLE)
        self._show_error(text)

    def _accept(self, tab: str) -> None:
        self._refused.pop(tab, None)
        for w in self._tab_fields(tab):
            w.native.setStyleSheet("")

    def _tab_fields(self, tab: str) -> list:
        return {"spatial": [self.spacing, self.origin, self.direction, self.axis_labels, self.axis_units,
                            self.coord_system],
                "extra": [self.extra], "classes": [self.class_table]}.get(tab, [])

    def pending_refusal(self) -> str:
        """Why the widget's fields cannot be saved now ('' when every field was applied)."""
        if not self._refused:
            return ""
        tabs = ", ".join(sorted(self._refused))
        return (f"Not saved — the {tabs} field{'s' if len(self._refused) > 1 else ''} hold text that was refused "
                f"({next(iter(self._refused.values()))}). Fix it, or press Revert to reload the file's values.")

    def _show_info(self, text: str) -> None:
        self._error_text = ""
        self._message.value = text
        self._message.native.setStyleSheet(_OK_STYLE)

    # ------------------------------------------------------------------ layer tracking
    def _layer_to_show(self):
        sel = self.viewer.layers.selection
        if sel.active is not None or not len(sel):
            return sel.active
        # Several layers selected (napari then has no active layer): keep showing the one shown if it
        # is still selected, so "Save as MLArray…" can save the whole selection from here.
        return self.layer if self.layer in sel else next(lay for lay in self.viewer.layers if lay in sel)

    def _on_active(self, event=None) -> None:
        layer = self._layer_to_show()
        if layer is not self.layer:
            self.set_layer(layer)

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
        if not isinstance(layer_md(layer).get(META_KEY), dict):
            try:
                meta = meta_from_transforms(layer)
            except Exception as exc:  # unusual layer types/data: show, but never break the viewer
                self._show_error(f"Cannot describe this layer as MLArray: {exc}")
                meta = Meta()
            layer.metadata = {**layer_md(layer), META_KEY: meta.to_mapping()}
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


    @property
    def meta(self) -> Optional[Meta]:
        return None if self.layer is None else layer_meta(self.layer)


    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        """Re-read the active layer's metadata into every tab."""
        if self.layer is None:
            return
        meta = layer_meta(self.layer)
        for tab in list(self._refused):  # the fields are reloaded from the metadata
            self._accept(tab)
        self._updating = True
        try:
            self._refresh_title()
            sp = meta.spatial
            self.spacing.value = fmt_list(sp.spacing)
            self.origin.value = fmt_list(sp.origin)
            self.direction.value = fmt_matrix(sp.direction)
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
        role = layer_md(self.layer).get(ROLE_KEY) or layer_kind(self.layer)
        where = os.path.basename(path) if path else "not from a .mla file — use “Save as MLArray…”"
        star = " ● unsaved changes" if (path and self.dirty) else ""
        self._title.value = f"<b>{self.layer.name}</b> ({role}) — {where}{star}"
        self.save_button.enabled = bool(path)
        self.revert_button.enabled = bool(path)

    # ------------------------------------------------------------------ committing edits
    def _commit(self, meta: Meta, *, geometry: bool = False, classes: bool = False) -> None:
        """Store a validated ``meta`` on the layer and its siblings and update what they show."""
        for lay in self._siblings():
            apply_meta_to_layer(lay, meta, geometry=geometry, classes=classes)
        self._refresh_title()

    def _validated(self, meta: Meta) -> Meta:
        meta.validate(base_ndim(meta, self.layer) if meta.has_array or meta.spatial.shape else None)
        # the transform must be computable too (e.g. spacing and direction of the same size)
        compose_affine_or_none(meta.spatial.spacing, meta.spatial.origin, meta.spatial.direction)
        return meta


def metadata_widget(viewer: "napari.viewer.Viewer") -> MetadataWidget:
    """npe2 widget command."""
    return MetadataWidget(viewer)
