"""Saving the metadata widget's edits: in-place metadata rewrite of a ``.mla`` file, Save/Revert."""

from __future__ import annotations

import json
import os
from typing import Optional

from mlarray import MLArray, MLArrayError
from mlarray.meta import Meta

from ..hooks._menu import save_as_dialog
from ._layers import META_KEY, apply_meta_to_layer, layer_md, layer_meta, layer_path

__all__ = ["save_metadata_in_place"]


def save_metadata_in_place(path: str, meta: Meta) -> None:
    """Write ``meta`` into the ``.mla`` file at ``path`` atomically, without touching its pixel data.

    A crash leaves the old file intact; layers that memory-map the old file keep reading it (same
    pixels). Derived fields (layout, pyramid, shape) stay the file's (``MLArray.write_metadata``)."""
    MLArray.write_metadata(os.fspath(path), meta)


class _SaveActions:
    """Save / Revert / Save as… and the file state they compare against (mixin of the widget)."""

    def _remember_file(self, path: str) -> None:
        try:
            ml = MLArray.open(path, mmap_mode="r")
            self._saved[path] = json.dumps(ml.meta.to_mapping(), sort_keys=True)
            ml.close()
        except (MLArrayError, OSError):
            self._saved.pop(path, None)

    @property
    def dirty(self) -> bool:
        path = layer_path(self.layer) if self.layer is not None else None
        if not path:
            return self.layer is not None
        return json.dumps(layer_md(self.layer).get(META_KEY), sort_keys=True) != self._saved.get(path)

    def _layer_file(self, missing: str) -> Optional[str]:
        """The active layer's ``.mla`` path, or None (showing ``missing`` if a layer has no file)."""
        if self.layer is None:
            return None
        path = layer_path(self.layer)
        if not path:
            self._show_error(missing)
            return None
        return path

    def save(self) -> bool:
        """Write the metadata into the layer's .mla file in place (atomically; pixels untouched)."""
        path = self._layer_file("This layer did not come from a .mla file; use “Save as MLArray…”.")
        if path is None:
            return False
        if self.pending_refusal():
            self._show_error(self.pending_refusal())
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
                lay.metadata = {**layer_md(lay), META_KEY: stored.to_mapping()}
        except (MLArrayError, OSError):
            pass
        self._refresh_title()
        self._show_info(f"Saved metadata to {path}.")
        return True

    def revert(self) -> bool:
        """Reload the metadata from the layer's file and re-apply it to its layers."""
        path = self._layer_file("This layer has no .mla file to revert to.")
        if path is None:
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
        if self.pending_refusal():
            self._show_error(self.pending_refusal())
            return None

        sel = self.viewer.layers.selection
        if self.layer not in sel:
            sel.active = self.layer
        out = save_as_dialog(self.viewer)
        self.last_saved = list(out or [])
        if out:
            self._show_info(f"Saved {', '.join(os.path.basename(p) for p in out)}.")
        return out
