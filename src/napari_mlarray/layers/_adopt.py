"""Labels layers begun in napari over an MLArray image take that image's grid and frame.

napari's "New labels layer" button (and a script's ``add_labels`` with the image's transform)
makes a numpy array in the image layer's *layer* axis order, which for an anatomical file is the
world order (S, P, L), not the file's. Saved as is, the segmentation would land on a transposed
grid without a coordinate system, and no training tool would pair it with its image. So when such
a layer is inserted, it becomes what the reader makes of a segmentation file: an editable view
(:class:`._views.EditableAxisView`) over an array in the image's stored axis order, carrying the
image's geometry (spacing, origin, direction, coord_system, axis labels and units). The writer
then saves it on the image's grid like a segmentation read from a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from mlarray.meta import Meta, MetaSpatial

from ._from_layers import finest_level
from ._geometry import data_to_world_matrix
from ._roles import ROLE_IMAGE, ROLE_LABELS
from ._views import AxisView, EditableAxisView

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer
    from napari.viewer import Viewer

__all__ = ["adopt_new_labels"]


def _image_grid(image: Layer, shape: tuple) -> Optional[tuple[AxisView, list[int]]]:
    """``(view, order)`` of an MLArray image layer whose shown grid has ``shape``, else None."""
    md = image.metadata if isinstance(image.metadata, dict) else {}
    if md.get("mlarray_role") not in (ROLE_IMAGE, ROLE_LABELS) or not isinstance(md.get("mlarray"), dict):
        return None
    view = finest_level(image.data)
    if not isinstance(view, AxisView) or not view.is_full:
        return None
    order = list(view.order)
    if getattr(image, "rgb", False):
        order = order[:-1]  # the colour samples are not a grid axis
    if tuple(view.shape[: len(order)]) != tuple(shape):
        return None
    return view, order


def _world_matrix(layer: Layer, ndim: int) -> np.ndarray:
    state = {k: getattr(layer, k) for k in ("scale", "translate", "rotate", "shear")}
    return data_to_world_matrix({**state, "affine": layer.affine.affine_matrix}, ndim)


def _flips_onto(labels: Layer, image: Layer, ndim: int, shape: tuple) -> Optional[list[bool]]:
    """Which labels axes run against the image's when both place the same voxels, else None.

    napari 0.9's button copies the image's transform (no flips); older napari spans the world
    extent with positive steps, which flips the axes where the image's scale is negative.
    """
    f = np.linalg.inv(_world_matrix(image, ndim)) @ _world_matrix(labels, ndim)  # labels index -> image index
    lin, off = f[:ndim, :ndim], f[:ndim, ndim]
    if not np.allclose(np.abs(lin), np.eye(ndim), atol=1e-9):
        return None
    flips = [bool(v < 0) for v in np.diag(lin)]
    if not np.allclose(off, [n - 1 if fl else 0 for n, fl in zip(shape, flips)], atol=1e-6):
        return None
    return flips


def _grid_meta(source: Meta, kept: list[int], nbase: int) -> Meta:
    """The image's geometry restricted to the ``kept`` base axes (a channel axis left out), as a segmentation."""
    sp = source.spatial
    labels = [sp.axis_labels[a] for a in kept] if sp.axis_labels is not None else None
    units = sp.axis_units
    if units is not None and len(units) == nbase:
        units = [units[a] for a in kept]
    spatial = MetaSpatial(spacing=sp.spacing, origin=sp.origin, direction=sp.direction, axis_labels=labels,
                          axis_units=units, coord_system=sp.coord_system)
    return Meta(spatial=spatial, is_seg=True)


def adopt_new_labels(viewer: Viewer, layer: Layer) -> bool:
    """Put a just-inserted Labels layer that lies on an MLArray image's grid onto that grid (see the
    module docstring). Returns whether it did; layers that carry MLArray metadata are left alone."""
    if type(layer).__name__ != "Labels" or not isinstance(layer.data, np.ndarray):
        return False
    if isinstance(layer.metadata, dict) and "mlarray" in layer.metadata:
        return False
    ndim = layer.data.ndim
    active = viewer.layers.selection.active
    candidates = [active] + [ly for ly in viewer.layers if ly is not active]
    for image in candidates:
        if image is None or image is layer:
            continue
        grid = _image_grid(image, layer.data.shape)
        flips = None if grid is None else _flips_onto(layer, image, ndim, layer.data.shape)
        if grid is None or flips is None:
            continue
        view, order = grid
        data = layer.data[tuple(slice(None, None, -1) if fl else slice(None) for fl in flips)]
        kept = sorted(order)
        new_order = [kept.index(a) for a in order]  # layer axis i shows array axis new_order[i]
        # the array in the image's stored axis order: layer axis new_order.index(j) is array axis j
        base = np.ascontiguousarray(data.transpose([new_order.index(j) for j in range(ndim)]))
        image_md = image.metadata
        meta = _grid_meta(Meta.from_mapping(image_md["mlarray"]), kept, len(view.base.shape))
        if any(flips):  # the image's own transform, so the flipped data lands where it was
            layer.affine = image.affine.affine_matrix
            layer.shear, layer.rotate = image.shear, np.eye(ndim)
            layer.scale, layer.translate = image.scale, image.translate
            layer.rotate = image.rotate
        layer.data = EditableAxisView(base, new_order)
        layer.metadata = {**(layer.metadata or {}), "mlarray": meta.to_mapping(), "mlarray_role": ROLE_LABELS,
                          "mlarray_axes": new_order, "mlarray_world": image_md.get("mlarray_world")}
        return True
    return False
