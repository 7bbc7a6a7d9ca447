"""A single slice is shown in its own plane.

napari's 2D view shows the last two world axes. A one-slice file whose slice is not across the
first world axis (a sagittal or coronal DICOM slice in the (S, P, L) world, an XZ microscopy plane)
is one voxel thick along a shown axis, so napari draws a one-pixel strip with a slider running
through the slice. When an MLArray layer lands in a viewer whose dims are still in napari's default
order, such a thin shown axis is swapped with the nearest slider axis that has extent, and the view
is fitted to the new plane; :mod:`._anatomy` then keeps an anatomical plane upright.
"""

from __future__ import annotations

__all__ = ["show_thin_plane"]


def show_thin_plane(viewer) -> None:
    """Show the plane the layers span when a shown axis is one voxel thick (see the module docstring)."""
    dims = viewer.dims
    order = [int(a) for a in dims.order]
    if dims.ndisplay != 2 or len(order) < 3 or order != list(range(len(order))):
        return  # a 3D view, a 2D image, or an order chosen by the user (or set here before)
    nsteps = dims.nsteps
    shown = order[-2:]
    thin = [a for a in shown if nsteps[a] <= 1]
    wide = [a for a in order[:-2] if nsteps[a] > 1]
    if len(thin) != 1 or not wide:
        return
    kept = next(a for a in shown if a != thin[0])
    into = wide[-1]  # the slider axis nearest the shown ones (a spatial axis before time)
    rest = [a for a in order[:-2] if a != into]
    dims.order = tuple(rest + thin + sorted([into, kept]))
    viewer.reset_view()
