"""Metadata <-> layers for the metadata widget: read a layer's Meta, apply a Meta to a layer.

A layer's working copy of the metadata is ``layer.metadata["mlarray"]``; geometry edits are
turned into layer transforms with the reader's world convention (:mod:`._geometry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from mlarray.meta import Meta, compose_affine_or_none, spatial_axes_of

from ..boxes._layer import boxes_layer
from ..boxes._views import attach, replace_shapes, view_of
from ..layers._from_layers import meta_from_shapes, mlarray_from_layer
from ..layers._geometry import Geometry, napari_world_affine, signed_rotation, world_rows
from ..layers._style import labels_colormap
from ..layers._views import AxisView, EditableAxisView

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer

__all__ = ["AXES_KEY", "META_KEY", "PATH_KEY", "ROLE_KEY", "apply_meta_to_layer", "base_ndim", "layer_axes",
           "layer_kind", "layer_md", "layer_meta", "layer_path", "layer_world_matrix", "meta_from_transforms"]

ROLE_KEY, PATH_KEY, META_KEY, AXES_KEY = "mlarray_role", "mlarray_path", "mlarray", "mlarray_axes"
WORLD_KEY = "mlarray_world"  # the world frame the layer was read in (..layers._geometry.world_frame)


def layer_kind(layer: Layer) -> str:
    """'image', 'labels', 'shapes', ... (napari deprecates ``Layer._type_string``)."""
    return layer.__class__.__name__.lower()  # __class__: the layer's own class, also through a proxy


def layer_md(layer: Layer) -> dict:
    md = getattr(layer, "metadata", None)
    return md if isinstance(md, dict) else {}


def layer_path(layer: Layer) -> Optional[str]:
    p = layer_md(layer).get(PATH_KEY)
    return str(p) if p else None


def layer_meta(layer: Layer) -> Meta:
    """The layer's MLArray metadata: its stored mapping, or one built from its data and transforms."""
    mapping = layer_md(layer).get(META_KEY)
    if isinstance(mapping, dict):
        return Meta.from_mapping(mapping)
    return meta_from_transforms(layer)


def meta_from_transforms(layer: Layer) -> Meta:

    data, state, ltype = layer.as_layer_data_tuple()
    if ltype == "shapes":
        meta = meta_from_shapes(list(data), state) if len(data) else Meta()
    elif ltype in ("image", "labels"):
        meta = mlarray_from_layer(data, state, ltype).meta
    else:
        meta = Meta()
    meta.writer = None
    return meta


def base_ndim(meta: Meta, layer: Layer) -> int:
    if meta.spatial.shape:
        return len(meta.spatial.shape)
    if meta.spatial.axis_labels:
        return len(meta.spatial.axis_labels)
    return int(layer.ndim) - (1 if getattr(layer, "rgb", False) else 0)


def layer_axes(meta: Meta, layer: Layer) -> list[int]:
    """Base array axis shown on each layer axis (the reader records it; identity otherwise)."""
    axes = layer_md(layer).get(AXES_KEY)
    nd = int(layer.ndim) - (1 if getattr(layer, "rgb", False) else 0)
    if isinstance(axes, list) and len(axes) == nd:
        return [int(a) for a in axes]
    if layer_md(layer).get(ROLE_KEY) == "boxes" or layer_kind(layer) == "shapes":
        base = base_ndim(meta, layer)
        sp = spatial_axes_of(meta.spatial.axis_labels, base) if base else list(range(nd))
        return sp if len(sp) == nd else list(range(nd))
    return list(range(nd))


def layer_world_matrix(meta: Meta, layer: Layer) -> tuple[np.ndarray, Optional[list[str]], list[int]]:
    """``(M, world_labels, spatial_slots)``: the layer's data->world matrix implied by ``meta``.

    Follows the reader's convention: world axis ``k`` sits on the ``k``-th spatial layer axis;
    non-spatial axes keep an identity transform.
    """

    axes = layer_axes(meta, layer)
    base = base_ndim(meta, layer)
    spatial = spatial_axes_of(meta.spatial.axis_labels, base)
    s = len(spatial)
    sp = meta.spatial
    a = compose_affine_or_none(sp.spacing, sp.origin, sp.direction)
    if a is None or a.shape[0] != s + 1:
        a = np.eye(s + 1)
    w, labels = napari_world_affine(a, sp.coord_system, layer_md(layer).get(WORLD_KEY), world_rows(meta))
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
    sign, rot = signed_rotation(lin / norms)
    if np.allclose(rot, np.eye(n), atol=1e-9):
        rot = np.eye(n)
    return {"scale": (norms * sign).tolist(), "translate": m[:n, n].tolist(), "rotate": rot}


def apply_meta_to_layer(layer: Layer, meta: Meta, *, geometry: bool = True, classes: bool = True,
                        boxes: bool = False) -> None:
    """Store ``meta`` on the layer and update what napari shows from it."""
    layer.metadata = {**layer_md(layer), META_KEY: meta.to_mapping()}
    if geometry and not _follow_reader_layout(layer, meta):
        m, labels, slots = layer_world_matrix(meta, layer)
        if slots:
            parts = _split_matrix(m)
            layer.affine = np.eye(m.shape[0])
            n = m.shape[0] - 1  # no shear: as many zeros as napari keeps for n spatial dims
            layer.shear = np.zeros(n) if n == 2 else [0.0] * (n * (n - 1) // 2)
            layer.rotate = parts["rotate"]
            layer.scale = parts["scale"]
            layer.translate = parts["translate"]
            if labels is not None and hasattr(layer, "axis_labels"):
                cur = list(layer.axis_labels)
                for r, slot in enumerate(slots):
                    cur[slot] = labels[r]
                if len(set(cur)) == len(cur):
                    layer.axis_labels = cur
    if classes and layer_kind(layer) == "labels" and meta.classes:

        layer.colormap = labels_colormap(meta.classes)
        layer.features = {"index": [0] + [int(c["id"]) for c in meta.classes],
                          "name": ["background"] + [c["name"] for c in meta.classes]}
    if boxes and layer_kind(layer) == "shapes":
        _shapes_from_meta(layer, meta)


def _file_views(layer: Layer) -> Optional[list]:
    """The reader's views of a file that ``layer`` shows (one per level), or None for other data."""
    if layer_kind(layer) not in ("image", "labels"):
        return None
    data = layer.data
    if isinstance(data, np.ndarray):
        # A layer made in napari: a view over its own array in its own axis order (what its metadata
        # describes) can be re-ordered like a file's; painting goes on into the same array.
        return [(EditableAxisView if layer_kind(layer) == "labels" else AxisView)(data, range(data.ndim))]
    levels = list(data) if getattr(layer, "multiscale", False) else [data]
    if not levels or not all(type(v) in (AxisView, EditableAxisView) and v.is_full for v in levels):
        return None  # e.g. a 3D view of a pyramid level (..viewer._labels3d) or data a script replaced
    return levels


def _follow_reader_layout(layer: Layer, meta: Meta) -> bool:
    """Lay ``layer`` out as the reader would for ``meta`` (axis order, transform, labels); False when
    the layer does not show a file's views (then only its transform can follow the metadata).

    A new ``coord_system`` (or direction) can change which array axis napari shows along each world
    axis. Expressing that as a rotation of the old layout would be a 90° turn between a shown and a
    sliced axis, which napari cannot invert in 2D; re-ordering the views' axes is what opening the
    file again would give, and keeps painted labels (the new view shares their in-memory array).
    """
    if layer_kind(layer) == "shapes":
        return _follow_reader_layout_boxes(layer, meta)
    levels = _file_views(layer)
    if levels is None:
        return False
    first = levels[0]
    nbase = len(first.base.shape)
    spatial = spatial_axes_of(meta.spatial.axis_labels, nbase)
    geom = Geometry(meta, nbase, spatial, layer.name, ("widget", id(layer)), layer_md(layer).get(WORLD_KEY))
    rgb = bool(getattr(layer, "rgb", False))
    if rgb:
        colour = first.order[-1]
        order = geom.layer_axes(nbase, [colour, *first.fixed]) + [colour]
        kw = geom.transform_kwargs(order[:-1])
    else:
        order = geom.layer_axes(nbase, list(first.fixed))
        kw = geom.transform_kwargs(order)
    if list(order) != list(first.order):
        views = [type(v)(v.base, order, v.fixed) for v in levels]
        if isinstance(first, EditableAxisView):
            views[0].levels = first.levels
        layer.data = views if getattr(layer, "multiscale", False) else views[0]
    _set_transform(layer, kw)
    # napari's units are left as the reader set them: a shown layer's units never change (see ..viewer._units)
    layer.metadata = {**layer_md(layer), AXES_KEY: list(order)}
    return True


def _follow_reader_layout_boxes(layer: Layer, meta: Meta) -> bool:
    """The boxes Shapes layer of a file: redrawn from ``meta.bbox`` with the reader's layout."""
    md = layer_md(layer)
    if md.get(ROLE_KEY) != "boxes" or not meta.has_array or not meta.spatial.shape:
        return False
    nbase = len(meta.spatial.shape)
    spatial = spatial_axes_of(meta.spatial.axis_labels, nbase)
    geom = Geometry(meta, nbase, spatial, layer.name, ("widget", id(layer)), md.get(WORLD_KEY))
    axes = [spatial[p] for p in geom.perm]
    if axes != md.get(AXES_KEY):
        layer.metadata = {**md, AXES_KEY: axes}
        _shapes_from_meta(layer, meta)
    kw = geom.transform_kwargs(None)
    _set_transform(layer, kw)
    return True


def _set_transform(layer: Layer, kw: dict) -> None:
    """Scale and translate first, the rotation last, each state on the way invertible."""
    n = len(kw["scale"])
    layer.affine = np.eye(n + 1)
    layer.shear = [0.0] * (n * (n - 1) // 2)
    layer.rotate = np.eye(n)
    layer.scale = kw["scale"]
    layer.translate = kw["translate"]
    if "rotate" in kw:
        layer.rotate = kw["rotate"]
    if hasattr(layer, "axis_labels") and len(set(kw["axis_labels"])) == n:
        layer.axis_labels = kw["axis_labels"]


def _shapes_from_meta(layer: Layer, meta: Meta) -> None:
    """Rebuild a boxes layer's shapes and features from ``meta.bbox`` (used by Revert)."""

    base = base_ndim(meta, layer)
    spatial = spatial_axes_of(meta.spatial.axis_labels, base)
    geom = Geometry(meta, base, spatial, layer.name, ("widget", id(layer)), layer_md(layer).get(WORLD_KEY))
    view = view_of(layer)  # draw for the view the layer is in (2D slicing axis or 3D)
    tup = boxes_layer(meta, geom, layer.name, dict(layer_md(layer)), max(1.0, float(np.max(layer.edge_width))
                                                                    if len(layer.data) else 1.0),
                       view=0 if view is None else view)
    layer.selected_data = set()
    if tup is None:
        layer.data = []
        return
    shapes, kw, _ = tup
    replace_shapes(layer, shapes, kw["shape_type"], kw["features"], kw["edge_color"], view=view)
    layer.text = kw["text"]
    attach(layer)
