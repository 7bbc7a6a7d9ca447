"""Units: the file's units (e.g. millimetres) on MLArray layers, without "inconsistent units" toasts.

The file's ``axis_units`` let napari's scale bar read in millimetres. A layer without units
(napari's default ``pixel``: a NIfTI added with its nibabel affine, most other readers) has a
different dimensionality on the same world axes, and napari then warns "Inconsistent units
across layers" and drops units anyway. napari checks units while it draws, and its canvas draws
inside its own "inserted" handler, which always runs before a plugin's. So MLArray layers are
made with ``pixel`` units (the file's are in ``metadata["mlarray_units"]``), go back to ``pixel``
when any layer is about to be inserted, and get the file's units after each insertion or removal
when every layer in the viewer agrees with them. Their world coordinates are millimetres either
way; only napari's unit label changes.
"""

from __future__ import annotations

from ..layers._roles import UNITS_KEY

__all__ = ["before_insert", "reconcile_units"]


def _own_units(layer):
    md = getattr(layer, "metadata", None)
    units = md.get(UNITS_KEY) if isinstance(md, dict) else None
    return tuple(units) if units and hasattr(layer, "units") and len(units) == len(layer.units) else None


def _dimensionality(units) -> tuple:
    from napari.utils.transforms._units import get_units_from_name

    return tuple(str(u.dimensionality) for u in get_units_from_name(tuple(map(str, units))))


def _clash(a, b) -> bool:
    """napari's rule: units of the right-aligned axes two layers share must have one dimensionality."""
    return any(x != y for x, y in zip(reversed(_dimensionality(a)), reversed(_dimensionality(b))))


def _set(layer, units) -> None:
    if tuple(map(str, layer.units)) != tuple(map(str, units)):
        layer.units = units
        # napari (0.9.2) keeps the inverse of the layer's cached data-to-world transform with the
        # old units, so slicing would convert the dims point by the ratio of the two (mm/pixel =
        # 1/1000) and a Shapes layer would draw the boxes of another slice. Setting the translate
        # (to the same value) clears that cache.
        layer.translate = layer.translate


def before_insert(viewer) -> None:
    """A layer is about to be inserted: MLArray layers fall back to ``pixel`` (see the module docstring)."""
    for ly in viewer.layers:
        own = _own_units(ly)
        if own is not None:
            _set(ly, tuple("pixel" for _ in own))


def reconcile_units(viewer) -> None:
    """Give MLArray layers their file's units when every layer in the viewer agrees with them."""
    layers = [ly for ly in viewer.layers if hasattr(ly, "units")]
    ours = {id(ly): _own_units(ly) for ly in layers if _own_units(ly) is not None}
    if not ours:
        return
    units = [ours.get(id(ly)) or tuple(ly.units) for ly in layers]
    clash = any(_clash(a, b) for i, a in enumerate(units) for b in units[i + 1:])
    for ly in layers:
        own = ours.get(id(ly))
        if own is not None:
            _set(ly, tuple("pixel" for _ in own) if clash else own)
