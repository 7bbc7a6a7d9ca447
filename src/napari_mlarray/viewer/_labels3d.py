"""3D views of paintable segmentations show a pyramid level, as images do.

A segmentation small enough to paint opens as one editable full-resolution level (napari paints
only single-scale Labels). In a 3D view napari would read that whole level, convert it to float
and upload it: ~12 s with the UI frozen for a 512 x 512 x 1000 mask. napari cannot switch a layer
between single- and multiscale, so while the layer is sliced in 3D it shows the file's coarsest
level instead (switched as napari slices it, :func:`_switch_before_slicing`) — the level napari's
3D view uses for multiscale images — with its scale and
translate widened to cover the same world extent (the level's voxel ``j`` is the block of base
voxels starting at ``j * f``). After painting, the shown level is the painted array strided by the
same factors (nearest voxel, no file read). Back in 2D the layer gets its editable full-resolution
data back, edits included. Painting is off in 3D (it would land in the shown level), and napari
clears the undo history when painting turns off.

Saving while in 3D writes the full-resolution data with its own transform: the shown level
carries both (:class:`Shown3D`; see :func:`..layers._from_layers.full_resolution`).
"""

from __future__ import annotations

import weakref

import numpy as np

from ..layers._views import AxisView, EditableAxisView

__all__ = ["Shown3D", "attach_labels_3d"]

_ATTACHED: weakref.WeakSet = weakref.WeakSet()  # layers whose slicing switches levels


class Shown3D(AxisView):
    """A pyramid level shown in 3D in place of ``full`` (the editable view), with the full-resolution
    transform (``full_state``: scale, translate) to save with."""

    def __init__(self, base, order, fixed, *, full, full_state: dict) -> None:
        super().__init__(base, order, fixed)
        self.full, self.full_state = full, full_state


def _levels(view: EditableAxisView) -> list:
    return list(getattr(view, "levels", None) or [])


def _shown_level(view: EditableAxisView) -> tuple:
    """``(array in base axis order, per-base-axis factors, centred)`` of the level to show in 3D."""
    coarse = _levels(view)[-1]
    factors = [max(1, int(round(f))) for f in coarse.scale]
    if view.in_memory:  # painted: stride the painted array (no file read, nearest voxel)
        return view.base[tuple(slice(None, None, f) for f in factors)], factors, False
    return coarse, factors, True


def _offset(layer, delta: np.ndarray) -> np.ndarray:
    """World shift of moving ``delta`` data voxels, before the layer's ``affine`` (i.e. in translate)."""
    from napari.utils.transforms import Affine

    lin = Affine(scale=layer.scale, rotate=layer.rotate, shear=layer.shear, ndim=layer.ndim).affine_matrix
    return lin[:-1, :-1] @ delta


def _to_3d(layer) -> None:
    full = layer.data
    arr, factors, centred = _shown_level(full)
    f = np.array([factors[a] for a in full.order], dtype=float)  # per layer axis
    scale, translate = np.asarray(layer.scale, float), np.asarray(layer.translate, float)
    state = {"scale": scale.tolist(), "translate": translate.tolist()}
    shown = Shown3D(arr, full.order, full.fixed, full=full, full_state=state)
    new_translate = translate + (_offset(layer, (f - 1) / 2) if centred else 0.0)
    from napari.utils import progress

    with progress(total=0, desc=f"Preparing {layer.name} for 3D"):
        layer.data = shown
        layer.scale = scale * f
        layer.translate = new_translate
        layer.editable = False  # painting would land in the shown level


def _to_2d(layer) -> None:
    shown = layer.data
    layer.data = shown.full
    layer.scale = shown.full_state["scale"]
    layer.translate = shown.full_state["translate"]


def _requested_ndisplay(args, kwargs):
    """The ndisplay a ``Layer._slice_dims`` call slices for: ``(dims, ...)`` in napari >= 0.5,
    ``(point, ndisplay, order)`` before."""
    dims = args[0] if args else kwargs.get("dims")
    if hasattr(dims, "ndisplay"):
        return int(dims.ndisplay)
    if "ndisplay" in kwargs:
        return int(kwargs["ndisplay"])
    return int(args[1]) if len(args) > 1 and isinstance(args[1], (int, np.integer)) else None


def _switch_before_slicing(layer) -> None:
    """Switch the layer's data when napari is about to slice it for another ndisplay.

    napari slices every layer for a new ndisplay in its own dims handler, which runs before any
    plugin's (even one connected with ``position="first"``, checked on napari 0.9.2), so a handler on
    ``dims.events.ndisplay`` would switch only after napari had read the whole full-resolution level.
    napari has no earlier public hook, and it paints only single-resolution Labels (napari/napari#1587,
    open), so the layer cannot simply hold the pyramid. This therefore wraps the layer's private
    ``_slice_dims`` (the method napari calls to slice it) to switch first: the one place the plugin
    patches napari's private state, kept until napari offers a pre-slice hook or paintable multiscale
    Labels.
    """
    ref = weakref.ref(layer)
    unbound = type(layer)._slice_dims  # no bound method: the wrapper must not keep the layer alive

    def _slice_dims(*args, **kwargs):
        lay = ref()
        nd = _requested_ndisplay(args, kwargs)
        if lay is not None and nd == 3 and isinstance(lay.data, EditableAxisView):
            _to_3d(lay)
        elif lay is not None and nd == 2 and isinstance(lay.data, Shown3D):
            _to_2d(lay)
        return unbound(lay, *args, **kwargs)

    layer._slice_dims = _slice_dims


def attach_labels_3d(viewer, layer) -> None:
    """Show a paintable segmentation with a pyramid at its coarsest level while it is sliced in 3D."""
    data = getattr(layer, "data", None)
    if not isinstance(data, EditableAxisView) or len(_levels(data)) < 2 or layer in _ATTACHED:
        return
    _ATTACHED.add(layer)
    _switch_before_slicing(layer)
    if viewer.dims.ndisplay == 3:
        _to_3d(layer)
        layer.refresh()
