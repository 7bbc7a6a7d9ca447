"""Units: MLArray layers carry their file's units (e.g. millimetres) from the start; layers without
units beside them take those units, so napari never warns "Inconsistent units across layers".

napari (after 0.6; 0.9 here) keeps one set of world units per viewer. A layer that declares none has napari's
default ``pixel`` on every axis — points added with ``viewer.add_points``, a labels layer from the
"New labels layer" button with nothing selected, a NIfTI added with its nibabel affine. ``pixel``
and millimetres have different dimensionalities, so napari would drop units and warn on every
draw. Such a layer's world coordinates already are the viewer's (it was placed in them), so in a
viewer holding MLArray layers every layer that declares no units gets the units of the layers that
do (right-aligned, as napari compares axes), provided those agree.

napari's canvas draws (and warns) inside its own handler of the layer list's ``inserted`` event,
which runs before any plugin's. Before that, napari's viewer model sets ``dims.units`` from the
layers, to None when they clash: :func:`watch_units` listens to that change, so the new layer gets
its units before napari slices it for the first time and before the canvas draws.

Changing a layer's units after napari sliced it leaves the slice computed for the old units (napari
converts the dims point by the ratio of the dims' units recorded at the last slice and the layer's:
mm after ``pixel`` asks for index 1000 × the right one, so nothing is drawn until a slider moves).
So MLArray layers never change units once shown, and a layer given units here is sliced again
from the viewer's dims: napari's own ``reload`` event records the dims' slice input and units on the
layer, but with napari's default (synchronous) slicing that forced slice does not compute the slice
(napari 0.9.2 only re-emits the old one), and napari's later slice of an inserted layer then finds
the input unchanged and skips it — a labels file without units opened beside a micrometre image
stayed empty until a slider moved. ``refresh()`` computes the slice from the recorded input.
"""

from __future__ import annotations

import weakref

__all__ = ["adopt_units", "watch_units"]


def _names(layer) -> tuple:
    return tuple(str(u) for u in getattr(layer, "units", ()) or ())


def _declares(layer) -> bool:
    """Whether a layer declares units (napari gives a layer that declares none ``pixel`` on every axis)."""
    return any(u != "pixel" for u in _names(layer))


def _dimensionality(units) -> tuple:
    from napari.utils.transforms._units import get_units_from_name

    return tuple(str(u.dimensionality) for u in get_units_from_name(tuple(units)))


def _agree(a, b) -> bool:
    """napari's rule: the right-aligned axes two layers share have units of one dimensionality."""
    return all(x == y for x, y in zip(reversed(_dimensionality(a)), reversed(_dimensionality(b))))


def _is_mlarray(layer) -> bool:
    md = getattr(layer, "metadata", None)
    return isinstance(md, dict) and "mlarray_role" in md


def adopt_units(viewer) -> None:
    """Give the layers of ``viewer`` that declare no units the units of those that do (see above).

    Only in viewers holding an MLArray layer, and only when the declared units agree (else napari's
    warning is the truth). napari 0.6 has no world units: nothing to do.
    """
    layers = [ly for ly in viewer.layers if hasattr(ly, "units")]
    if not any(_is_mlarray(ly) for ly in layers) or not hasattr(getattr(viewer, "dims", None), "units"):
        return
    declared = [_names(ly) for ly in layers if _declares(ly)]
    if not declared or any(not _agree(a, b) for i, a in enumerate(declared) for b in declared[i + 1:]):
        return
    world = max(declared, key=len)  # every declared tuple agrees with it on the axes they share
    for ly in layers:
        if _declares(ly) or len(ly.units) == 0:
            continue
        n = min(len(ly.units), len(world))
        ly.units = ("pixel",) * (len(ly.units) - n) + world[len(world) - n:]
        # napari sliced the layer with its old units: take the viewer's dims and units, then slice
        # (see the module docstring: reload alone leaves the old slice on the canvas)
        ly.events.reload(layer=ly)
        ly.refresh()


def watch_units(viewer) -> None:
    """Adopt units as soon as napari finds the viewer's layers' units clashing (see the module docstring)."""
    emitter = getattr(getattr(getattr(viewer, "dims", None), "events", None), "units", None)
    if emitter is None:  # napari 0.6: no world units
        return
    ref = weakref.ref(viewer)

    def on_units(event=None) -> None:
        v = ref()
        if v is not None and v.dims.units is None:
            adopt_units(v)

    emitter.connect(on_units)
