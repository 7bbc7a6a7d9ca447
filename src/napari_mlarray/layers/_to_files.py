"""A selection of napari layers -> the ``.mla`` files it is saved as (pure mapping; nothing is written here).

An ``.mla`` file holds one array, so :func:`files_from_layers` maps a selection saved to ``path`` to

* the image layer at ``path`` — several image layers only as channels: the channel layers of
  one channel file stacked back, or layers of one shape, dtype and transform (napari's
  ``channel_axis`` split) on a new ``channel`` axis named after the layers — with the boxes of
  every Shapes layer stored as its ``bbox``;
* a Labels layer at ``<stem>_seg.mla`` next to it (at ``path`` itself when there is no image);
  with several Labels layers, the others at ``<stem>_seg<i>.mla``. The boxes of a save land in
  the main file only, so a segmentation saved beside it keeps no stale copy of them;
* Shapes layers alone at ``path`` as a metadata-only file (boxes + geometry).

An RGB(A) layer is stored with its colour samples as a last ``channel`` axis (``channel_names``
R, G, B) and opens as RGB again. A selection that has no MLArray form raises :class:`LayerSaveError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from mlarray import MLArray, MLArrayError
from mlarray._metadata.channels import CHANNEL_LISTS
from mlarray.meta import Meta, MetaBbox

from ..boxes._layer import bbox_from_shapes
from ._from_layers import (
    base_of,
    channel_fields_from_layers,
    finest_level,
    fresh_meta,
    full_resolution,
    layer_spatial,
    meta_from_shapes,
    mlarray_from_layer,
    source_meta,
    stack_channel_layers,
)
from ._geometry import data_to_world_matrix
from ._measurements import split_measurements, store_measurements
from ._views import AxisView

__all__ = ["LayerData", "LayerSaveError", "files_from_layers"]

LayerData = tuple[Any, dict, str]  # napari's layer data tuple: (data, state, layer type)


class LayerSaveError(MLArrayError):
    """The selected layers cannot be saved as MLArray; the message says why and what to do.

    Not a ``ValueError`` on purpose: napari turns a writer's ``ValueError`` into "Given plugin
    'mlarray' is not a valid writer", which hides the reason from the user.
    """


def files_from_layers(path: str, layer_data: Sequence[LayerData]) -> list[tuple[str, MLArray]]:
    """``(target path, MLArray)`` for each file a selection saved to ``path`` (an ``.mla`` path) becomes."""
    layer_data, measured = split_measurements(list(layer_data))  # measuring layers: kept in extra, not as boxes
    images = [ld for ld in layer_data if ld[2] == "image"]
    labels = [ld for ld in layer_data if ld[2] == "labels"]
    shapes = [ld for ld in layer_data if ld[2] == "shapes"]
    other = [ld[2] for ld in layer_data if ld[2] not in ("image", "labels", "shapes")]
    if other:
        raise LayerSaveError(f"Cannot save as MLArray: MLArray files hold image, labels and shapes layers, not "
                             f"{', '.join(sorted(set(other)))}; leave those out of the selection")
    main: Optional[tuple[MLArray, LayerData]] = None
    if len(images) > 1:
        main = (_stacked_image(images), images[0])
    elif images:
        main = (mlarray_from_layer(images[0][0], images[0][1], "image"), images[0])
    if main is None and labels:
        main = (mlarray_from_layer(labels[0][0], labels[0][1], "labels"), labels[0])
        labels = labels[1:]
    out: list[tuple[str, MLArray]] = []
    if main is not None:
        ml, (data, state, _) = main
        store_measurements(ml, measured, state)  # see ._measurements
        if shapes:
            ml.meta.bbox = _merge_boxes([_boxes_for_target(s, data, state) for s in shapes])
        out.append((path, ml))
    elif shapes:
        meta = meta_from_shapes(list(shapes[0][0]), shapes[0][1])
        if len(shapes) > 1:
            meta.bbox = _merge_boxes([bbox_from_shapes(list(s[0]), s[1]) for s in shapes])
        out.append((path, MLArray(meta=meta)))
    stem = path[: -len(".mla")]
    # A segmentation saved beside its image is on the image's grid: a labels layer that declares no units
    # (napari 0.6 has no world units to give it) takes the image's, as napari >= 0.7 shows it.
    main_units = main[0].meta.spatial.axis_units if main is not None and images else None
    for i, (data, state, _) in enumerate(labels):
        seg = mlarray_from_layer(data, state, "labels")
        sp = seg.meta.spatial
        if main_units and not sp.axis_units and sp.spacing is not None and len(main_units) == len(sp.spacing):
            sp.axis_units = list(main_units)
        if shapes:  # the boxes saved in this selection live in the main file only: no stale second copy
            seg.meta.bbox = MetaBbox()
        out.append((f"{stem}_seg{'' if i == 0 else i}.mla", seg))
    return out


def _stack_channels(images: list[LayerData]) -> Optional[tuple[AxisView, dict]]:
    """Channel layers of one file (same source, same base array) -> (the whole base array, the first
    channel layer's state), else None."""
    views, chans = [], []
    for data, state, _ in images:
        d = finest_level(data)
        ch = (state.get("metadata") or {}).get("mlarray_channel")
        if not isinstance(d, AxisView) or not ch or not d.fixed:
            return None
        views.append(d)
        chans.append(tuple(ch))
    base = views[0].base
    axis = chans[0][0]
    if any(v.base is not base or c[0] != axis for v, c in zip(views, chans)):
        return None
    if sorted(c[1] for c in chans) != list(range(base.shape[axis])):
        return None
    # Write the whole base array (all channels) with the first channel layer's transform.
    return AxisView(base, list(range(len(base.shape)))), images[0][1]


def _stacked_image(images: list[LayerData]) -> MLArray:
    """Several image layers as one channel file: the channel layers of one .mla file restacked, or
    layers of one shape and transform (napari's ``channel_axis`` split) stacked on a new axis."""
    ours = _stack_channels(images)
    if ours is not None:
        full, state = ours
        ml = mlarray_from_layer(images[0][0], state, "image")
        meta = _with_channel_geometry(ml, state)
        # what each channel layer shows now (renamed, recoloured, windowed, hidden), in channel order
        by_channel = sorted(images, key=lambda ld: ld[1]["metadata"]["mlarray_channel"][1])
        meta.extra = {**{k: v for k, v in meta.extra.items() if k not in CHANNEL_LISTS},
                      **channel_fields_from_layers([st for _d, st, _k in by_channel])}
        return MLArray(full.base, meta=meta, compressed=False)
    stacked = stack_channel_layers(images)
    if stacked is None:
        raise LayerSaveError("Cannot save as MLArray: an .mla file holds one image, and these image layers differ "
                             "in shape, dtype or transform; save them one at a time (or select all channel layers "
                             "of one file)")
    return stacked


def _with_channel_geometry(ml: MLArray, state: dict) -> Meta:
    """Meta for the restacked channel array: geometry from the channel layer, labels of the file."""
    src, _ = source_meta(state)
    meta = fresh_meta(src)
    meta.spatial.spacing, meta.spatial.origin, meta.spatial.direction = (
        ml.meta.spatial.spacing, ml.meta.spatial.origin, ml.meta.spatial.direction)
    return meta


def _boxes_for_target(shape_ld: LayerData, image_data: Any, image_state: dict) -> MetaBbox:
    """Boxes of a Shapes layer in the index space of the image layer they are saved with."""
    image_data, image_state = full_resolution(image_data, image_state)
    view, order, _fixed = base_of(image_data)
    meta, _ = source_meta(image_state)
    layer_ndim = len(view.shape)
    spatial_pos = layer_spatial(meta, order, len(getattr(view, "base", view).shape), layer_ndim, False) \
        if meta.spatial.axis_labels is not None else list(range(layer_ndim))
    m = data_to_world_matrix(image_state, layer_ndim)
    idx = spatial_pos + [layer_ndim]
    w = m[np.ix_(idx, idx)]
    base_axes = [order[i] for i in spatial_pos]
    # rank of each base spatial axis among the base spatial axes (bbox axis order)
    ranks = {a: r for r, a in enumerate(sorted(base_axes))}
    return bbox_from_shapes(list(shape_ld[0]), shape_ld[1], w, [ranks[a] for a in base_axes])


def _merge_boxes(boxes: list[MetaBbox]) -> MetaBbox:
    """The boxes of several Shapes layers as one ``bbox`` (scores kept only when some layer has them)."""
    bb: list = []
    lab: list = []
    sc: list = []
    any_scores = any(b.scores is not None for b in boxes)
    for b in boxes:
        if not b.bboxes:
            continue
        bb.extend(b.bboxes)
        lab.extend(b.labels if b.labels is not None else [f"box {i}" for i in range(len(b.bboxes))])
        sc.extend(b.scores if b.scores is not None else [None] * len(b.bboxes))  # no made-up scores
    if not bb:
        return MetaBbox()
    return MetaBbox(bboxes=bb, labels=lab, scores=sc if any_scores else None)
