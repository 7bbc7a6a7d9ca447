"""Reader side: an opened MLArray -> napari layer data tuples (image/labels per channel, boxes)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from mlarray import MLArray
from mlarray.meta import Meta

from ..boxes._layer import boxes_layer
from ._frame import frame_beside_open_layers
from ._geometry import Geometry, world_frame
from ._measurements import measurements_layer
from ._roles import ROLE_IMAGE, ROLE_LABELS
from ._style import OPENED_WINDOW_KEY, RANGE_KEY, image_display, labels_colormap
from ._views import AxisView, EditableAxisView

__all__ = ["layer_data_from_path", "layers_from_mlarray"]


def layers_from_mlarray(ml: MLArray, path: Optional[str] = None, name: Optional[str] = None) -> list[tuple]:
    """napari layer data tuples ``(data, kwargs, layer_type)`` for an opened MLArray."""
    meta = ml.meta
    path = path if path is not None else ml.filepath
    name = name or (Path(path).name[: -len(".mla")] if path and str(path).endswith(".mla")
                    else (Path(path).stem if path else "mlarray"))
    mapping = meta.to_mapping()
    shown_in = frame_beside_open_layers(meta, name, path)
    if shown_in is not None:  # an unframed file on an open anatomical image's grid (see ._frame)
        mapping = {**mapping, "spatial": {**mapping["spatial"], "coord_system": shown_in}}
        meta = Meta.from_mapping(mapping)
    base_md: dict[str, Any] = {"mlarray": mapping, "mlarray_path": None if path is None else str(path),
               "mlarray_world": world_frame()}
    key = str(path) if path is not None else id(ml)
    out: list[tuple] = []
    if not meta.has_array:
        s = meta.spatial.spatial_ndim or (len(meta.bbox.bboxes[0]) if meta.bbox.bboxes else 0)
        geom = Geometry(meta, None, list(range(s)), name, key)
        extent = np.asarray(meta.bbox.bboxes, dtype=float) if meta.bbox.bboxes else np.zeros((1, 1, 2))
        width = max(1.0, 0.004 * float(np.ptp(extent)) if extent.size else 1.0)
        shp = boxes_layer(meta, geom, name, {**base_md, "mlarray_axes": list(range(s))}, width)
        return [shp] if shp is not None else []

    shape, dtype = ml.shape, ml.dtype
    if shape is None or dtype is None:  # pragma: no cover - a file with an array has both
        return out
    ndim = len(shape)
    spatial = list(ml.spatial_axes)
    geom = Geometry(meta, ndim, spatial, name, key)
    labels_in = geom.labels_in
    channel_axis = next((a for a, lab in enumerate(labels_in) if lab == "channel"), None)
    levels = ml.levels
    is_seg = bool(meta.is_seg)
    rgb = not is_seg and _is_rgb(meta, ml, channel_axis)
    drop = [channel_axis] if channel_axis is not None else []
    order = geom.layer_axes(ndim, drop)
    tkw = geom.transform_kwargs(order)
    if rgb and channel_axis is not None:  # one RGB(A) layer: napari wants the colour samples as the last data axis
        order, channel_axis = order + [channel_axis], None
    role = ROLE_LABELS if is_seg else ROLE_IMAGE
    channels: list[Optional[int]] = [None] if channel_axis is None else list(range(shape[channel_axis]))
    ch_names = meta.extra.get("channel_names") if isinstance(meta.extra, dict) else None
    if not (isinstance(ch_names, list) and len(ch_names) == len(channels)
            and all(isinstance(c, str) for c in ch_names)):
        ch_names = None
    for ci, ch in enumerate(channels):
        fixed = {} if ch is None or channel_axis is None else {channel_axis: ch}
        data: list[AxisView]
        if is_seg and _paintable(levels[0]):
            # napari paints only single-scale Labels: the base level alone, editable in memory.
            editable = EditableAxisView(levels[0], order, fixed)
            editable.levels = levels  # a 3D view shows the coarsest one (..viewer._labels3d)
            data = [editable]
        else:
            data = [AxisView(lv, order, fixed) for lv in levels]
        md: dict[str, Any] = {**base_md, "mlarray_role": role, "mlarray_axes": order}
        if ch is not None:
            md["mlarray_channel"] = [channel_axis, ch]
        if ch is None:
            lname = name
        else:
            lname = f"{name} [{ch_names[ci]}]" if ch_names else f"{name} [c{ch}]"
        kwargs: dict[str, Any] = dict(tkw)  # with the file's units from the start (see ..viewer._units)
        kwargs.update(name=lname, metadata=md, multiscale=len(data) > 1)
        if is_seg:
            if meta.classes:
                kwargs["colormap"] = labels_colormap(meta.classes)
                kwargs["features"] = {
                    "index": [0] + [int(c["id"]) for c in meta.classes],
                    "name": ["background"] + [c["name"] for c in meta.classes],
                }
            if np.dtype(ml.dtype).kind not in "iub":
                warnings.warn(f"{name}: is_seg is set but the dtype is {ml.dtype}; shown as an image",
                              UserWarning, stacklevel=2)
                is_seg = False
        if rgb:
            kwargs.update(rgb=True)
        elif not is_seg:
            display, md[RANGE_KEY] = image_display(meta, dtype, ch, len(channels) if ch is not None else None)
            md[OPENED_WINDOW_KEY] = [float(v) for v in display["contrast_limits"]]
            kwargs.update(display, rgb=False)
        out.append((data if len(data) > 1 else data[0], kwargs, "labels" if is_seg else "image"))
    sp_shape = [shape[a] for a in spatial]
    width = max(1.0, 0.004 * max(sp_shape)) if sp_shape else 1.0
    shp = boxes_layer(meta, geom, name, {**base_md, "mlarray_axes": [spatial[p] for p in geom.perm]}, width)
    if shp is not None:  # the spatial axes are the image's last axes, so napari lines the two up
        out.append(shp)
    measured = measurements_layer(meta, geom.layer_axes(ndim, drop), tkw, out[0][1]["name"],
                                  {"mlarray_path": base_md["mlarray_path"], "mlarray_world": base_md["mlarray_world"]})
    if measured is not None:
        out.append(measured)
    return out


_RGB_NAMES = (["R", "G", "B"], ["R", "G", "B", "A"])


def _is_rgb(meta: Meta, ml: MLArray, channel_axis: Optional[int]) -> bool:
    """A photo/slide: the last axis is a 3- or 4-sample 8-bit ``channel`` axis (RGB TIFFs convert so)
    not named as anything but R, G, B(, A). napari shows it as colour instead of three layers."""
    shape = ml.shape
    if channel_axis is None or shape is None or channel_axis != len(shape) - 1 or shape[-1] not in (3, 4):
        return False
    if np.dtype(ml.dtype) != np.uint8 or len(ml.spatial_axes) < 2:
        return False
    names = meta.extra.get("channel_names") if isinstance(meta.extra, dict) else None
    return names is None or [str(n).upper() for n in names] in _RGB_NAMES


# Segmentations up to this size open as one editable level (512 x 512 x 1000 uint8 fits). napari
# cannot paint multiscale Labels, and a single-scale 3D view uploads the whole array, so larger
# ones keep their pyramid and open read-only.
PAINTABLE_LABELS_MAX_BYTES = 256 * 2**20


def _paintable(level: Any) -> bool:
    return int(np.prod(level.shape, dtype=np.int64)) * np.dtype(level.dtype).itemsize <= PAINTABLE_LABELS_MAX_BYTES


def layer_data_from_path(path: str | os.PathLike[str]) -> list[tuple]:
    """Open ``path`` lazily (header + at most the smallest pyramid level) and map it to layers."""
    ml = MLArray.open(path, mmap_mode="r")
    return layers_from_mlarray(ml, str(path))

