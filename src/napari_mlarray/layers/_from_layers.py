"""Writer side: napari Image/Labels/Shapes layers -> MLArray (or metadata-only Meta).

Geometry is taken from the layer's *current* transform (``scale``, ``translate``, ``rotate``,
``shear``, ``affine``), undoing the world convention above (and the view's axis permutation, so a
file read and written back keeps its array orientation). ``layer.metadata["mlarray"]`` provides
the rest (source, extra, class table, coord_system, axis labels/units); statistics and the
pyramid are rebuilt by ``MLArray.save``.

"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from mlarray import MLArray
from mlarray._metadata.channels import (
    CHANNEL_COLORS,
    CHANNEL_LISTS,
    CHANNEL_NAMES,
    CHANNEL_VISIBLE,
    CHANNEL_WINDOWS,
    WINDOW,
    channel_axis_length,
    channel_list,
    display_window,
)
from mlarray.convert.formats._ngff import unit_from_ngff
from mlarray.meta import SPATIAL_AXIS_LABELS, Meta, MetaBlosc2, MetaPyramid, MetaStatistics

from ..boxes._layer import bbox_from_shapes
from ._geometry import data_to_world_matrix, file_affine_from_world, label_str, shown_file_affine, world_rows
from ._style import OPENED_WINDOW_KEY, colormap_hex
from ._views import AxisView

__all__ = ["axis_labels_from_layer", "base_of", "channel_fields_from_layers", "full_resolution", "finest_level",
           "fresh_meta", "layer_spatial", "meta_from_shapes", "mlarray_from_layer", "source_meta",
           "stack_channel_layers"]


def source_meta(state: dict) -> tuple[Meta, dict]:
    md = dict(state.get("metadata") or {})
    mapping = md.get("mlarray")
    meta = Meta.from_mapping(mapping) if isinstance(mapping, dict) else Meta()
    return meta, md


def fresh_meta(meta: Meta) -> Meta:
    """A copy without what a write recomputes (stats, pyramid, layout, writer, shape)."""
    m = meta.copy()

    m.stats, m.pyramid, m.blosc2 = MetaStatistics(), MetaPyramid(), MetaBlosc2()
    m.writer = None
    m.spatial.shape = None
    return m


def finest_level(data: Any) -> Any:
    """The full-resolution array of layer data: level 0 of a multiscale layer, else the data itself.

    napari hands writers a multiscale layer's data as its own ``MultiScaleData`` sequence (not a
    list), which cannot be sliced with a tuple; numpy arrays and our views are not Sequences.
    """
    return data[0] if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) else data


def base_of(data: Any) -> tuple[Any, list[int], dict[int, int]]:
    """(array to write, base axis of each layer axis, channel info) for layer data."""
    d = finest_level(data)
    if isinstance(d, AxisView):
        return d, list(d.order), dict(d.fixed)
    return d, list(range(len(d.shape))), {}


# napari axis labels a user gives (``viewer.add_image(..., axis_labels=("t", "z", "y", "x"))``) -> roles
_ROLES = {"t": "temporal", "time": "temporal", "c": "channel", "ch": "channel", "channel": "channel",
          "z": "spatial_z", "y": "spatial_y", "x": "spatial_x"}


def _spatial_names(n: int) -> list[str]:
    return {2: ["spatial_y", "spatial_x"], 3: ["spatial_z", "spatial_y", "spatial_x"]}.get(n, ["spatial"] * n)


def axis_labels_from_layer(state: dict, ndim: int, rgb: bool) -> Optional[list[str]]:
    """MLArray axis roles for a layer that did not come from a file (None: every axis spatial).

    An RGB layer stores its colour samples as a last ``channel`` axis (as RGB TIFFs convert). Named
    napari axes map to roles (``t``/``time`` -> temporal, ``c``/``channel`` -> channel, ``z``/``y``/``x``
    -> spatial, world-axis labels such as ``"A→P"`` -> spatial); napari's default numeric labels
    mean spatial, and other names are kept as custom non-spatial roles.
    """
    if rgb:
        return _spatial_names(ndim - 1) + ["channel"]
    labels = [str(v) for v in (state.get("axis_labels") or ())]
    if len(labels) != ndim:
        return None
    out = []
    for lab in labels:
        key = lab.strip().lower()
        if key in _ROLES:
            out.append(_ROLES[key])
        elif re.fullmatch(r"-?\d+", key) or "→" in key:
            out.append("spatial")
        else:
            out.append(lab)
    n_spatial = sum(v.startswith("spatial") for v in out)
    if n_spatial == 0 or all(v == "spatial" for v in out):
        return None
    if n_spatial in (2, 3) and all(v == "spatial" for v in out if v.startswith("spatial")):
        names = iter(_spatial_names(n_spatial))
        out = [next(names) if v == "spatial" else v for v in out]
    return out


def layer_spatial(meta: Meta, order: list[int], nbase: int, layer_ndim: int, rgb: bool) -> list[int]:
    """Positions (layer axes) of the spatial axes."""
    if meta.spatial.axis_labels is not None and len(meta.spatial.axis_labels) == nbase:
        sp = {a for a, lab in enumerate(meta.spatial.axis_labels) if label_str(lab) in SPATIAL_AXIS_LABELS}
        return [i for i, a in enumerate(order) if a in sp]
    n = layer_ndim - (1 if rgb else 0)
    return list(range(n))


def full_resolution(data: Any, state: dict) -> tuple[Any, dict]:
    """``(data, state)`` to save: a segmentation shown at a pyramid level in 3D saves its
    full-resolution data with its full-resolution transform (see ..viewer._labels3d)."""
    shown = finest_level(data)
    full = getattr(shown, "full", None)
    if full is None:
        return data, state
    return full, {**state, **shown.full_state}


def mlarray_from_layer(data: Any, state: dict, layer_type: str) -> MLArray:
    """An MLArray (backed lazily by the layer data) for an Image or Labels layer's data and state."""
    data, state = full_resolution(data, state)
    meta, md = source_meta(state)
    view, order, fixed = base_of(data)
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
    shown, simplified = shown_file_affine(meta.spatial)
    stored = meta.spatial.affine
    rows = world_rows(meta)  # as the reader listed this file's world axes (before anything changes them)
    meta = fresh_meta(meta)
    nout = len(arr.shape)
    if meta.spatial.axis_labels is not None and len(meta.spatial.axis_labels) != nout:
        meta.spatial.axis_labels = None
    if meta.spatial.axis_labels is None:
        meta.spatial.axis_labels = axis_labels_from_layer(state, nout, rgb)
        if rgb and "channel_names" not in meta.extra:
            meta.extra = {**meta.extra, "channel_names": list("RGBA"[: arr.shape[-1]])}
    if meta.spatial.axis_units is not None and len(meta.spatial.axis_units) not in (nout,):
        meta.spatial.axis_units = None if meta.spatial.axis_labels is None else meta.spatial.axis_units
    spatial_pos = layer_spatial(meta, order, nout, len(view.shape), rgb)
    m = data_to_world_matrix(state, layer_ndim)
    idx = spatial_pos + [layer_ndim]
    w = m[np.ix_(idx, idx)]
    file_aff = file_affine_from_world(w, meta.spatial.coord_system, md.get("mlarray_world"), rows)
    # columns are layer spatial axes; reorder them to the written array's spatial axis order
    layer_sp = [order[i] for i in spatial_pos]
    written_sorted = sorted(layer_sp)
    cols = [layer_sp.index(a) for a in written_sorted]
    s = len(spatial_pos)
    fa = np.eye(s + 1)
    fa[:s, :s] = file_aff[:s, :s][:, cols]
    fa[:s, s] = file_aff[:s, s]
    sp = meta.spatial
    if simplified and shown is not None and shown.shape == fa.shape and np.allclose(fa, shown, rtol=0, atol=1e-9):
        fa = np.asarray(stored, dtype=float)  # shown simplified and not moved: keep what was stored
    sp.affine = fa
    units = state.get("units")
    if units is not None and not sp.axis_units:
        # napari names units as pint does ("micrometer"); files spell them as the converters do ("µm")
        ustr = [str(u) if str(u) in ("pixel", "") else unit_from_ngff(str(u)) for u in units]
        sp_units = [ustr[i] for i in spatial_pos]
        if any(u not in ("pixel", "") for u in sp_units):
            sp.axis_units = [sp_units[layer_sp.index(a)] for a in written_sorted]
    n_channels = channel_axis_length(sp.axis_labels, arr.shape)
    meta.extra = _whole_channel_lists(meta.extra, n_channels)
    if layer_type == "image" and not rgb and n_channels is None:
        meta.extra = _with_window(meta.extra, state.get("contrast_limits"), md.get(OPENED_WINDOW_KEY))
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
    meta, md = source_meta(state)
    rows = world_rows(meta)
    meta = fresh_meta(meta)
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
    file_aff = file_affine_from_world(m, meta.spatial.coord_system, md.get("mlarray_world"), rows)
    cols = [axes.index(a) for a in sorted(axes)]
    fa = np.eye(nd + 1)
    fa[:nd, :nd] = file_aff[:nd, :nd][:, cols]
    fa[:nd, nd] = file_aff[:nd, nd]
    meta.spatial.affine = fa
    meta.spatial.axis_labels = None
    meta.is_seg = None if meta.is_seg is None else meta.is_seg
    meta.has_array = False
    return meta


class _Stacked:
    """Arrays of one shape and dtype stacked along a new first axis, read lazily slab by slab."""

    def __init__(self, arrays: list) -> None:
        self.arrays = arrays
        self.shape = (len(arrays), *arrays[0].shape)
        self.dtype = np.dtype(arrays[0].dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        first, rest = key[0], key[1:]
        if isinstance(first, (int, np.integer)):
            return np.asarray(self.arrays[int(first)][rest])
        return np.stack([np.asarray(a[rest]) for a in self.arrays[first]])


def stack_channel_layers(images: list) -> Optional[MLArray]:
    """Image layers of one shape, dtype and transform (e.g. napari's ``channel_axis`` split) as one
    file with a leading ``channel`` axis named after the layers; None when they do not match."""
    arrays = [finest_level(data) for data, _state, _kind in images]
    states = [state for _data, state, _kind in images]
    if any(st.get("rgb") for st in states) or len({(tuple(a.shape), np.dtype(a.dtype)) for a in arrays}) != 1:
        return None
    nd = len(arrays[0].shape)
    mats = [data_to_world_matrix(st, nd) for st in states]
    if any(not np.allclose(m, mats[0]) for m in mats[1:]):
        return None
    first = mlarray_from_layer(arrays[0], states[0], "image")
    meta = fresh_meta(first.meta)  # a copy not tied to the 3D layer's shape: it gains the channel axis
    sp = meta.spatial
    labels = sp.axis_labels or _spatial_names(nd)
    sp.axis_labels = ["channel", *labels]
    if sp.axis_units is not None and len(sp.axis_units) == nd:
        sp.axis_units = ["", *sp.axis_units]
    # each channel's window is in the channel lists: the first layer's single-image window does not apply
    extra = {k: v for k, v in meta.extra.items() if k != WINDOW}
    meta.extra = {**extra, **channel_fields_from_layers(states)}
    return MLArray(_Stacked(arrays), meta=meta)


def _whole_channel_lists(extra: Mapping[str, Any], n: Optional[int]) -> dict:
    """``extra`` without channel lists that do not describe the written channel axis (e.g. one
    channel layer saved alone: no channel axis is left for the file's names and colours)."""
    return {k: v for k, v in extra.items() if k not in CHANNEL_LISTS or channel_list(extra, k, n) is not None}


def _with_window(extra: Mapping[str, Any], limits: Any, opened: Any) -> dict:
    """``extra`` with the layer's contrast limits as the image's display window when the user changed them
    from the window the layer opened with (``opened``; None for a layer not opened from a file), so the file
    reopens as it was left and an untouched file saves its ``extra`` as it was."""
    window = display_window({WINDOW: list(limits)}) if limits is not None and len(limits) == 2 else None
    if window is None or (opened is not None and len(opened) == 2
                          and np.allclose(window, [float(v) for v in opened], rtol=1e-9, atol=1e-9)):
        return dict(extra)
    return {**extra, WINDOW: window}


def _channel_name(state: dict, index: int) -> str:
    name = str(state.get("name") or f"c{index}")
    found = re.fullmatch(r".* \[(.+)\]", name)  # the reader names channel layers "<file> [<channel>]"
    return found.group(1) if found else name


def channel_fields_from_layers(states: list) -> dict:
    """The channel lists of ``extra`` as the channel layers (in channel order) show them: names,
    colours, display windows, and visibility when a channel is hidden."""
    out: dict = {CHANNEL_NAMES: [_channel_name(st, i) for i, st in enumerate(states)]}
    colors = [colormap_hex(st.get("colormap")) for st in states]
    if all(colors):
        out[CHANNEL_COLORS] = colors
    try:
        windows = [[float(v) for v in st["contrast_limits"]] for st in states]
    except (KeyError, TypeError, ValueError):
        windows = []
    if windows and all(len(w) == 2 and w[0] < w[1] for w in windows):
        out[CHANNEL_WINDOWS] = windows
    visible = [bool(st.get("visible", True)) for st in states]
    if not all(visible):
        out[CHANNEL_VISIBLE] = visible
    return out
