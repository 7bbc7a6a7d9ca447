"""What the metadata widget's tabs share, handed to each tab explicitly: :class:`EditSession`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from mlarray.meta import Meta, compose_affine_or_none

from ._layers import META_KEY, ROLE_KEY, apply_meta_to_layer, base_ndim, layer_kind, layer_md, layer_path

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer
    from napari.viewer import Viewer

__all__ = ["EditSession"]


class EditSession:
    """The viewer, the layer the widget shows, its message line and the fields whose text was refused.

    ``show(text, is_error)`` writes the message line; ``changed()`` runs after the layer's metadata
    changed (the dock's title then says whether it differs from the file).
    """

    def __init__(self, viewer: Viewer, show: Callable[[str, bool], None], changed: Callable[[], None]) -> None:
        self.viewer = viewer
        self.layer: Optional[Layer] = None
        self.error = ""  # the message of the last refused edit ('' when the last action succeeded)
        self._show = show
        self._changed = changed
        self._refused: dict[str, str] = {}  # tab -> message of its refused text

    # ------------------------------------------------------------------ the layer and its file
    def siblings(self, layer: Layer) -> list[Layer]:
        """Layers read from the same file as ``layer`` (the layer itself when it has no file)."""
        path = layer_path(layer)
        if not path:
            return [layer]
        return [lay for lay in self.viewer.layers if layer_path(lay) == path]

    def boxes_layer(self) -> Optional[Layer]:
        """The Shapes layer holding the shown file's boxes (the shown layer itself if it is a Shapes layer)."""
        if self.layer is None:
            return None
        if layer_kind(self.layer) == "shapes":
            return self.layer
        for lay in self.siblings(self.layer):
            if layer_kind(lay) == "shapes" and layer_md(lay).get(ROLE_KEY) == "boxes":
                return lay
        return None

    @staticmethod
    def validated(meta: Meta, layer: Layer) -> Meta:
        """``meta`` checked against ``layer``; raises ``MetadataError`` (field, value, remedy)."""
        meta.validate(base_ndim(meta, layer) if meta.has_array or meta.spatial.shape else None)
        # the transform must be computable too (e.g. spacing and direction of the same size)
        compose_affine_or_none(meta.spatial.spacing, meta.spatial.origin, meta.spatial.direction)
        return meta

    def commit(self, meta: Meta, layer: Layer, *, geometry: bool = False, classes: bool = False) -> None:
        """Store a validated ``meta`` on ``layer`` and the layers of its file, and update what they show."""
        for lay in self.siblings(layer):
            apply_meta_to_layer(lay, meta, geometry=geometry, classes=classes)
        self._changed()

    def store(self, meta: Meta, layer: Layer) -> None:
        """Store ``meta`` on ``layer`` and the layers of its file without touching what they show."""
        for lay in self.siblings(layer):
            lay.metadata = {**layer_md(lay), META_KEY: meta.to_mapping()}
        self._changed()

    # ------------------------------------------------------------------ messages
    def show_error(self, text: str) -> None:
        self.error = text
        self._show(text, True)

    def show_info(self, text: str) -> None:
        self.error = ""
        self._show(text, False)

    # A tab whose text was refused keeps the text (so it can be fixed) but not in the metadata; until
    # it is fixed or reverted, Save and Save as refuse, rather than saving the last valid value.
    def refuse(self, tab: str, text: str) -> None:
        self._refused[tab] = text
        self.show_error(text)

    def accept(self, tab: str) -> None:
        self._refused.pop(tab, None)

    def clear_refusals(self) -> None:
        self._refused.clear()

    def pending_refusal(self) -> str:
        """Why the widget's fields cannot be saved now ('' when every field was applied)."""
        if not self._refused:
            return ""
        tabs = ", ".join(sorted(self._refused))
        return (f"Not saved — the {tabs} field{'s' if len(self._refused) > 1 else ''} hold text that was refused "
                f"({next(iter(self._refused.values()))}). Fix it, or press Revert to reload the file's values.")
