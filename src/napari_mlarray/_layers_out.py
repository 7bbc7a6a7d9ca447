"""Writer side: napari Image/Labels/Shapes layers -> MLArray (or metadata-only Meta).

Geometry is taken from the layer's *current* transform (``scale``, ``translate``, ``rotate``,
``shear``, ``affine``), undoing the world convention above (and the view's axis permutation, so a
file read and written back keeps its array orientation). ``layer.metadata["mlarray"]`` provides
the rest (source, extra, class table, coord_system, axis labels/units); statistics and the
pyramid are rebuilt by ``MLArray.save``.

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from mlarray import MLArray
from mlarray.meta import SPATIAL_AXIS_LABELS, Meta

from ._boxes import bbox_from_shapes
from ._geometry import _label_str, data_to_world_matrix, file_affine_from_world
from ._views import AxisView

__all__ = ["finest_level", "meta_from_shapes", "mlarray_from_layer"]


def _source_meta(state: dict) -> tuple[Meta, dict]:
    md = dict(state.get("metadata") or {})
    mapping = md.get("mlarray")
    meta = Meta.from_mapping(mapping) if isinstance(mapping, dict) else Meta()
    return meta, md


def _fresh_meta(meta: Meta) -> Meta:
    """A copy without what a write recomputes (stats, pyramid, layout, writer, shape)."""
    m = meta.copy()
    from mlarray.meta import MetaBlosc2, MetaPyramid, MetaStatistics

    m.stats, m.pyramid, m.blosc2 = MetaStatistics(), MetaPyramid(), MetaBlosc2()
    m.writer = None
    m.spatial.shape = None
    return m


def finest_level(data):
    """The full-resolution array of layer data: level 0 of a multiscale layer, else the data itself.

    napari hands writers a multiscale layer's data as its own ``MultiScaleData`` sequence (not a
    list), which cannot be sliced with a tuple; numpy arrays and our views are not Sequences.
    """
    return data[0] if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) else data


def _base_of(data):
    """(array to write, base axis of each layer axis, channel info) for layer data."""
    d = finest_level(data)
    if isinstance(d, AxisView):
        return d, list(d.order), dict(d.fixed)
    return d, list(range(len(d.shape))), {}


def _layer_spatial(meta: Meta, order: list[int], nbase: int, layer_ndim: int, rgb: bool) -> list[int]:
    """Positions (layer axes) of the spatial axes."""
    if meta.spatial.axis_labels is not None and len(meta.spatial.axis_labels) == nbase:
        sp = {a for a, lab in enumerate(meta.spatial.axis_labels) if _label_str(lab) in SPATIAL_AXIS_LABELS}
        return [i for i, a in enumerate(order) if a in sp]
    n = layer_ndim - (1 if rgb else 0)
    return list(range(n))


def mlarray_from_layer(data, state: dict, layer_type: str) -> MLArray:
    """An MLArray (backed lazily by the layer data) for an Image or Labels layer's data and state."""
    meta, md = _source_meta(state)
    view, order, fixed = _base_of(data)
    rgb = bool(state.get("rgb", False))
    layer_ndim = len(view.shape) - (1 if rgb else 0)
    if isinstance(view, AxisView) and view.is_full and md.get("mlarray_axes") == order:
        # Our own view: write the underlying array in its stored axis order (minus a picked channel).
        kept = sorted(order)
        arr = view.base if not fixed else AxisView(view.base, kept, fixed)
        nbase = len(view.base.shape)
        sp = meta.spatial
        if fixed:
            if sp.axis_labels is not None and len(sp.axis_labels) == nbase:
                sp.axis_labels = [sp.axis_labels[a] for a in kept]
            if sp.axis_units is not None and len(sp.axis_units) == nbase:
                sp.axis_units = [sp.axis_units[a] for a in kept]
        # layer axis i shows base axis order[i], which is written as axis kept.index(order[i])
        order = [kept.index(a) for a in order]
    else:
        arr = view
        order = list(range(len(view.shape)))
        if md.get("mlarray_axes") is not None and not isinstance(view, AxisView):
            # Data replaced by the user: keep the metadata but not a layout that no longer applies.
            if meta.spatial.axis_labels is not None and len(meta.spatial.axis_labels) != len(view.shape):
                meta.spatial.axis_labels = None
    meta = _fresh_meta(meta)
    nout = len(arr.shape)
    if meta.spatial.axis_labels is not None and len(meta.spatial.axis_labels) != nout:
        meta.spatial.axis_labels = None
    if meta.spatial.axis_units is not None and len(meta.spatial.axis_units) not in (nout,):
        meta.spatial.axis_units = None if meta.spatial.axis_labels is None else meta.spatial.axis_units
    spatial_pos = _layer_spatial(meta, order, nout, len(view.shape), rgb)
    m = data_to_world_matrix(state, layer_ndim)
    idx = spatial_pos + [layer_ndim]
    w = m[np.ix_(idx, idx)]
    file_aff = file_affine_from_world(w, meta.spatial.coord_system)
    # columns are layer spatial axes; reorder them to the written array's spatial axis order
    layer_sp = [order[i] for i in spatial_pos]
    written_sorted = sorted(layer_sp)
    cols = [layer_sp.index(a) for a in written_sorted]
    s = len(spatial_pos)
    fa = np.eye(s + 1)
    fa[:s, :s] = file_aff[:s, :s][:, cols]
    fa[:s, s] = file_aff[:s, s]
    sp = meta.spatial
    sp.affine = fa
    units = state.get("units")
    if units is not None and not sp.axis_units:
        ustr = [str(u) for u in units]
        sp_units = [ustr[i] for i in spatial_pos]
        if any(u not in ("pixel", "") for u in sp_units):
            sp.axis_units = [sp_units[layer_sp.index(a)] for a in written_sorted]
    if layer_type == "labels":
        meta.is_seg = True
        if meta.classes is None:
            meta.classes = _classes_from_state(state)
    elif meta.is_seg and layer_type == "image":
        meta.is_seg = False
    return MLArray(arr, meta=meta, compressed=False)


def _classes_from_state(state: dict) -> Optional[list]:
    feats = state.get("features")
    try:
        if feats is not None and "index" in feats and "name" in feats:
            out = [{"id": int(i), "name": str(n)} for i, n in zip(feats["index"], feats["name"]) if int(i) != 0]
            return out or None
    except (TypeError, ValueError):
        return None
    return None


def meta_from_shapes(shapes: list, state: dict) -> Meta:
    """A metadata-only Meta (boxes + geometry of the shapes layer) from a Shapes layer."""
    meta, md = _source_meta(state)
    meta = _fresh_meta(meta)
    nd = len(state.get("scale") or []) or (np.asarray(shapes[0]).shape[1] if len(shapes) else 0)
    axes = md.get("mlarray_axes")
    src_has_array = meta.has_array
    if not (isinstance(axes, list) and sorted(axes) == list(range(len(axes))) and len(axes) == nd):
        axes = list(range(nd))
    if src_has_array:
        # Boxes of an image file: keep them in that image's index space (spatial axes only).
        pass
    meta.bbox = bbox_from_shapes(shapes, state, None, axes)
    m = data_to_world_matrix(state, nd)
    file_aff = file_affine_from_world(m, meta.spatial.coord_system)
    cols = [axes.index(a) for a in sorted(axes)]
    fa = np.eye(nd + 1)
    fa[:nd, :nd] = file_aff[:nd, :nd][:, cols]
    fa[:nd, nd] = file_aff[:nd, nd]
    meta.spatial.affine = fa
    meta.spatial.axis_labels = None
    meta.is_seg = None if meta.is_seg is None else meta.is_seg
    meta.has_array = False
    return meta
