"""The "MLArray metadata" dock widget: its tabs, the message line, following the active layer, Save/Revert.

The editing tabs are containers of their own (:mod:`._tabs`, :mod:`._boxes`), each given the
:class:`._session.EditSession` the dock owns; the dock shows a layer by loading its metadata into them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

from magicgui.widgets import Container, PushButton, TextEdit
from magicgui.widgets import Label as MLabel
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QSizePolicy, QTabWidget, QVBoxLayout, QWidget

from mlarray import MLArrayError
from mlarray.meta import Meta

from ..hooks._menu import save_as_dialog
from ..viewer._open import unwrapped
from ._boxes import BoxesTab
from ._layers import (
    META_KEY,
    ROLE_KEY,
    apply_meta_to_layer,
    layer_kind,
    layer_md,
    layer_meta,
    layer_path,
    meta_from_transforms,
)
from ._save import SavedFiles, read_metadata, save_metadata_in_place
from ._session import EditSession
from ._tab import Tab
from ._tabs import ClassesTab, ExtraTab, SpatialTab, StatsTab
from ._tree import LazyTree

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer
    from napari.viewer import Viewer

__all__ = ["MetadataWidget", "metadata_widget"]

_ERROR_STYLE = "color: #ff6b6b;"
_OK_STYLE = "color: #8fd18f;"


class MetadataWidget(Container):
    """Dock widget showing and editing the MLArray metadata of the active layer."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=False)
        # napari hands plugin widgets its viewer inside a PublicOnlyProxy, and every layer and array read
        # through it comes back wrapped too: ``type(layer)`` is the proxy, and the file's views lose their
        # identity (two channel layers no longer share one base). The widget uses napari's public API
        # only, so it works on the objects themselves.
        viewer = unwrapped(napari_viewer)
        self.viewer = viewer
        self.session = EditSession(viewer, self._show_message, self._refresh_title)
        self.files = SavedFiles()
        self.last_saved: list[str] = []  # files written by the last "Save as MLArray…"

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

        self.spatial = SpatialTab(self.session)
        self.stats = StatsTab(self.session)
        self.classes = ClassesTab(self.session)
        self.boxes = BoxesTab(self.session)
        self.extra = ExtraTab(self.session)
        self.source_tree = LazyTree()  # source (DICOM/NIfTI headers can hold thousands of entries)
        self._source_format = QLabel()
        source = QWidget()
        lay = QVBoxLayout(source)
        lay.addWidget(self._source_format)
        lay.addWidget(self.source_tree)
        self.layout_tree = LazyTree()
        self._version = TextEdit(value="")
        self._version.read_only = True
        self._version_page = Container(widgets=[self._version], labels=False)
        for title, page in (("Spatial", self.spatial.native), ("Stats", self.stats.native),
                            ("Classes", self.classes.native), ("Boxes", self.boxes.native), ("Source", source),
                            ("Extra", self.extra.native), ("Layout", self.layout_tree),
                            ("Version", self._version_page.native)):
            self.tabs.addTab(page, title)

        self.save_button = PushButton(text="Save")
        self.save_button.tooltip = "write the metadata into the layer's .mla file (pixels untouched)"
        self.revert_button = PushButton(text="Revert")
        self.revert_button.tooltip = "reload the metadata from the file"
        self.save_as_button = PushButton(text="Save as MLArray…")
        self.save_button.changed.connect(lambda *_: self.save())
        self.revert_button.changed.connect(lambda *_: self.revert())
        self.save_as_button.changed.connect(lambda *_: self.save_as())
        self._actions = Container(widgets=[self.save_button, self.revert_button, self.save_as_button],
                                  layout="horizontal", labels=False)
        self.native.layout().addWidget(self._actions.native)

        viewer.layers.selection.events.active.connect(self._on_active)
        viewer.layers.events.removed.connect(self._on_removed)
        self.set_layer(self._layer_to_show())

    @property
    def _editors(self) -> list[Tab]:
        return [self.spatial, self.stats, self.classes, self.boxes, self.extra]

    # ------------------------------------------------------------------ messages
    @property
    def error(self) -> str:
        """The message of the last refused edit ('' when the last action succeeded)."""
        return self.session.error

    def _show_message(self, text: str, is_error: bool) -> None:
        self._message.value = text
        self._message.native.setStyleSheet(_ERROR_STYLE if is_error else _OK_STYLE)

    def pending_refusal(self) -> str:
        """Why the widget's fields cannot be saved now ('' when every field was applied)."""
        return self.session.pending_refusal()

    # ------------------------------------------------------------------ layer tracking
    @property
    def layer(self) -> Optional[Layer]:
        """The layer shown."""
        return self.session.layer

    @property
    def meta(self) -> Optional[Meta]:
        return None if self.layer is None else layer_meta(self.layer)

    def _layer_to_show(self) -> Optional[Layer]:
        sel = self.viewer.layers.selection
        if sel.active is not None or not len(sel):
            return sel.active
        # Several layers selected (napari then has no active layer): keep showing the one shown if it
        # is still selected, so "Save as MLArray…" can save the whole selection from here.
        return self.layer if self.layer in sel else next(lay for lay in self.viewer.layers if lay in sel)

    def _on_active(self, event: Any = None) -> None:
        layer = self._layer_to_show()
        if layer is not self.layer:
            self.set_layer(layer)

    def _on_removed(self, event: Any) -> None:
        if event.value is self.layer:
            self.set_layer(self.viewer.layers.selection.active)
        if event.value is self.boxes.shapes:
            self.boxes.unfollow()

    def set_layer(self, layer: Optional[Layer]) -> None:
        """Show ``layer``'s metadata (None clears the widget)."""
        self.session.layer = layer
        self.boxes.unfollow()
        self.session.show_info("")
        if layer is None:
            self._title.value = "No layer selected"
            self._set_enabled(False)
            return
        self._set_enabled(True)
        if not isinstance(layer_md(layer).get(META_KEY), dict):
            try:
                meta = meta_from_transforms(layer)
            except Exception as exc:  # unusual layer types/data: show, but never break the viewer
                self.session.show_error(f"Cannot describe this layer as MLArray: {exc}")
                meta = Meta()
            layer.metadata = {**layer_md(layer), META_KEY: meta.to_mapping()}
        path = layer_path(layer)
        if path and path not in self.files:
            self.files.remember(path)
        self.boxes.follow()
        self.refresh()

    def _set_enabled(self, on: bool) -> None:
        self.tabs.setEnabled(on)
        self._actions.enabled = on

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        """Re-read the active layer's metadata into every tab."""
        if self.layer is None:
            return
        meta = layer_meta(self.layer)
        self.session.clear_refusals()  # the fields are reloaded from the metadata
        self._refresh_title()
        for tab in self._editors:
            tab.load(meta)
        self.source_tree.set_value(meta.source)
        self._source_format.setText(f"source_format: {meta.source_format or '—'}  "
                                    f"({len(meta.source)} top-level entries)")
        self.layout_tree.set_value({"blosc2": meta.blosc2.to_mapping(), "pyramid": meta.pyramid.to_mapping(),
                                    "shape": meta.spatial.shape})
        self._version.value = "\n".join([
            f"format_version: {meta.format_version}",
            f"writer: {meta.writer or '—'}",
            f"has_array: {meta.has_array}",
            f"file: {layer_path(self.layer) or '— (not saved as .mla)'}",
        ])

    def _refresh_title(self) -> None:
        if self.layer is None:
            return
        path = layer_path(self.layer)
        role = layer_md(self.layer).get(ROLE_KEY) or layer_kind(self.layer)
        where = os.path.basename(path) if path else "not from a .mla file — use “Save as MLArray…”"
        star = " ● unsaved changes" if (path and self.dirty) else ""
        self._title.value = f"<b>{self.layer.name}</b> ({role}) — {where}{star}"
        self.save_button.enabled = bool(path)
        self.revert_button.enabled = bool(path)

    # ------------------------------------------------------------------ Save / Revert / Save as
    @property
    def dirty(self) -> bool:
        """Whether the shown layer's metadata differs from its file's (a layer without a file: always)."""
        if self.layer is None:
            return False
        path = layer_path(self.layer)
        if not path:
            return True
        return self.files.differs(path, layer_md(self.layer).get(META_KEY))

    def _layer_file(self, missing: str) -> Optional[str]:
        """The shown layer's ``.mla`` path, or None (showing ``missing`` if the layer has no file)."""
        if self.layer is None:
            return None
        path = layer_path(self.layer)
        if not path:
            self.session.show_error(missing)
            return None
        return path

    def save(self) -> bool:
        """Write the metadata into the layer's .mla file in place (atomically; pixels untouched)."""
        path = self._layer_file("This layer did not come from a .mla file; use “Save as MLArray…”.")
        if path is None or self.layer is None:
            return False
        if self.pending_refusal():
            self.session.show_error(self.pending_refusal())
            return False
        try:
            save_metadata_in_place(path, layer_meta(self.layer))
        except (MLArrayError, OSError, ValueError) as exc:
            self.session.show_error(f"Not saved — {exc}")
            return False
        stored = self.files.remember(path)
        if stored is not None:  # the file may normalise fields (shape, writer); show what is stored
            for lay in self.session.siblings(self.layer):
                lay.metadata = {**layer_md(lay), META_KEY: stored.to_mapping()}
        self._refresh_title()
        self.session.show_info(f"Saved metadata to {path}.")
        return True

    def revert(self) -> bool:
        """Reload the metadata from the layer's file and re-apply it to its layers."""
        path = self._layer_file("This layer has no .mla file to revert to.")
        if path is None or self.layer is None:
            return False
        try:
            meta = read_metadata(path)
        except (MLArrayError, OSError) as exc:
            self.session.show_error(f"Cannot revert — {exc}")
            return False
        self.boxes.unfollow()  # the boxes are redrawn from the file: not an edit to store
        for lay in self.session.siblings(self.layer):
            apply_meta_to_layer(lay, meta, geometry=True, classes=True, boxes=True)
        self.files.remember(path, meta)
        self.boxes.follow()
        self.refresh()
        self.session.show_info(f"Reverted to the metadata in {os.path.basename(path)}.")
        return True

    def save_as(self) -> Optional[list[str]]:
        """Save the layer (with this metadata) as a new .mla file, through the plugin's writer."""
        if self.layer is None:
            return None
        if self.pending_refusal():
            self.session.show_error(self.pending_refusal())
            return None
        sel = self.viewer.layers.selection
        if self.layer not in sel:
            sel.active = self.layer
        out = save_as_dialog(self.viewer)
        self.last_saved = list(out or [])
        if out:
            self.session.show_info(f"Saved {', '.join(os.path.basename(p) for p in out)}.")
        return out


def metadata_widget(viewer: Viewer) -> MetadataWidget:
    """npe2 widget command."""
    return MetadataWidget(viewer)
