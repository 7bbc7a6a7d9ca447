"""npe2 writer hooks and the "Save as MLArray…" command (the work is in :mod:`..layers._from_layers`).

Multi-layer writes: an ``.mla`` file holds one array, so ``write_layers(path, layers)`` writes

* the image layer to ``path`` — several image layers only as channels: the channel layers of
  one channel file stacked back, or layers of one shape, dtype and transform (napari's
  ``channel_axis`` split) on a new ``channel`` axis named after the layers — with the boxes of
  every Shapes layer stored as its ``bbox``;
* a Labels layer to ``<stem>_seg.mla`` next to it (to ``path`` itself when there is no image);
  with several Labels layers, the others to ``<stem>_seg<i>.mla``. The boxes of a save land in
  the main file only, so a segmentation saved beside it keeps no stale copy of them;
* Shapes layers alone to ``path`` as a metadata-only file (boxes + geometry).

An RGB(A) layer is stored with its colour samples as a last ``channel`` axis (``channel_names``
R, G, B) and opens as RGB again. A refusal raises :class:`LayerSaveError` with the reason.

Every write is atomic (``MLArray.save`` writes a temporary file and renames it), so saving over
the file a layer was read from is safe: the layer's memory-mapped data keeps reading the old
(unlinked) file until the layer is closed.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from mlarray import MLArray, MLArrayError
from mlarray._metadata.channels import CHANNEL_LISTS
from mlarray.meta import MetaBbox

from ..boxes._layer import bbox_from_shapes
from ..layers._from_layers import (
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
from ..layers._geometry import data_to_world_matrix
from ..layers._measurements import split_measurements, store_measurements
from ..layers._views import AxisView

__all__ = ["LayerSaveError", "write_image", "write_labels", "write_shapes", "write_layers", "save_layers"]


class LayerSaveError(MLArrayError):
    """The selected layers cannot be saved as MLArray; the message says why and what to do.

    Not a ``ValueError`` on purpose: napari turns a writer's ``ValueError`` into "Given plugin
    'mlarray' is not a valid writer", which hides the reason from the user.
    """


def _reported(hook):
    """Re-raise a refusal from inside a writer (ValueError, MetadataError) as :class:`LayerSaveError`."""

    @functools.wraps(hook)
    def run(*args, **kwargs):
        try:
            return hook(*args, **kwargs)
        except ValueError as exc:
            raise LayerSaveError(f"Cannot save as MLArray: {exc}") from exc

    return run


def _mla_path(path) -> str:
    p = os.fspath(path)
    return p if p.lower().endswith(".mla") else p + ".mla"


def _progress_cb(label: str):
    """A ``progress(i, n)`` callback driving a napari progress bar (no-op without napari)."""
    try:
        from napari.utils import progress
    except Exception:  # pragma: no cover - napari missing
        return None, lambda: None
    state: dict[str, Any] = {"bar": None}

    def cb(i: int, n: int) -> None:
        bar = state["bar"]
        if bar is None or bar.total != n:
            if bar is not None:
                bar.close()
            bar = state["bar"] = progress(total=n, desc=label)
        bar.n = i
        bar.refresh()

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return cb, close


def _save(ml, path: str, label: str) -> None:
    cb, close = _progress_cb(label)
    try:
        ml.save(path, progress=cb)
    finally:
        close()


@_reported
def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for Image layers."""

    path = _mla_path(path)
    _save(mlarray_from_layer(data, meta, "image"), path, f"Saving {Path(path).name}")
    return [path]


@_reported
def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for Labels layers (``is_seg`` files)."""

    path = _mla_path(path)
    _save(mlarray_from_layer(data, meta, "labels"), path, f"Saving {Path(path).name}")
    return [path]


@_reported
def write_shapes(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for Shapes layers: a metadata-only file holding the boxes."""


    path = _mla_path(path)
    MLArray(meta=meta_from_shapes(list(data), meta)).save(path)
    return [path]


def _stack_channels(images: list) -> Optional[tuple]:
    """Channel layers of one file (same source, same base array) -> one layer tuple, else None."""

    views, chans = [], []
    for data, meta, _ in images:
        d = finest_level(data)
        ch = (meta.get("metadata") or {}).get("mlarray_channel")
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
    order = views[0].order
    # Write the whole base array (all channels) with the first channel layer's transform.
    return AxisView(base, list(range(len(base.shape)))), order, images[0][1]


@_reported
def write_layers(path: str, layer_data: list) -> list[str]:
    """npe2 multi-layer writer (see the module docstring for what goes where)."""


    path = _mla_path(path)
    layer_data, measured = split_measurements(layer_data)  # measuring layers: kept in extra, not as boxes
    images = [ld for ld in layer_data if ld[2] == "image"]
    labels = [ld for ld in layer_data if ld[2] == "labels"]
    shapes = [ld for ld in layer_data if ld[2] == "shapes"]
    other = [ld[2] for ld in layer_data if ld[2] not in ("image", "labels", "shapes")]
    if other:
        raise ValueError(f"MLArray files hold image, labels and shapes layers, not {', '.join(sorted(set(other)))}; "
                         "leave those out of the selection")
    written: list[str] = []
    main = None
    if len(images) > 1:
        main = (_stacked_image(images), images[0])
    elif images:
        main = (mlarray_from_layer(images[0][0], images[0][1], "image"), images[0])
    if main is None and labels:
        main = (mlarray_from_layer(labels[0][0], labels[0][1], "labels"), labels[0])
        labels = labels[1:]
    stem = path[: -len(".mla")]
    seg_targets = [(f"{stem}_seg{'' if i == 0 else i}.mla", lab) for i, lab in enumerate(labels)]
    if main is not None:
        ml, (data, state, _) = main
        store_measurements(ml, measured, state)  # see ..layers._measurements
        if shapes:
            ml.meta.bbox = _merge_boxes([_boxes_for_target(s, data, state) for s in shapes])
        _save(ml, path, f"Saving {Path(path).name}")
        written.append(path)
    elif shapes:
        meta = meta_from_shapes(list(shapes[0][0]), shapes[0][1])
        if len(shapes) > 1:
            meta.bbox = _merge_boxes([bbox_from_shapes(list(s[0]), s[1]) for s in shapes])
        MLArray(meta=meta).save(path)
        written.append(path)
    for target, (data, state, _) in seg_targets:
        seg = mlarray_from_layer(data, state, "labels")
        if shapes:  # the boxes saved in this selection live in the main file only: no stale second copy
            seg.meta.bbox = MetaBbox()
        _save(seg, target, f"Saving {Path(target).name}")
        written.append(target)
    return written


def _stacked_image(images: list):
    """Several image layers as one channel file: the channel layers of one .mla file restacked, or
    layers of one shape and transform (napari's ``channel_axis`` split) stacked on a new axis."""


    ours = _stack_channels(images)
    if ours is not None:
        full, _order, state = ours
        ml = mlarray_from_layer(images[0][0], state, "image")
        meta = _with_channel_geometry(ml, full, state)
        # what each channel layer shows now (renamed, recoloured, windowed, hidden), in channel order
        by_channel = sorted(images, key=lambda ld: ld[1]["metadata"]["mlarray_channel"][1])
        meta.extra = {**{k: v for k, v in meta.extra.items() if k not in CHANNEL_LISTS},
                      **channel_fields_from_layers([st for _d, st, _k in by_channel])}
        return MLArray(full.base, meta=meta, compressed=False)
    stacked = stack_channel_layers(images)
    if stacked is None:
        raise ValueError("an .mla file holds one image, and these image layers differ in shape, dtype or "
                         "transform; save them one at a time (or select all channel layers of one file)")
    return stacked


def _with_channel_geometry(ml, full, state):
    """Meta for the restacked channel array: geometry from the channel layer, labels of the file."""

    src, _ = source_meta(state)
    meta = fresh_meta(src)
    meta.spatial.spacing, meta.spatial.origin, meta.spatial.direction = (
        ml.meta.spatial.spacing, ml.meta.spatial.origin, ml.meta.spatial.direction)
    return meta


def _boxes_for_target(shape_ld, image_data, image_state):
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


def _merge_boxes(boxes):

    bb, lab, sc = [], [], []
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


# --------------------------------------------------------------------------- File > Save as MLArray…

def save_layers(layers, path: str) -> list[str]:
    """Save napari layers to ``path`` (one layer: its own writer; several: :func:`write_layers`)."""
    layers = list(layers)
    if not layers:
        raise LayerSaveError("Cannot save as MLArray: no layers selected; select the layers to save first")
    tuples = [layer.as_layer_data_tuple() for layer in layers]
    if len(tuples) == 1:
        data, state, kind = tuples[0]
        hook = {"image": write_image, "labels": write_labels, "shapes": write_shapes}.get(kind)
        if hook is None:
            raise LayerSaveError(f"Cannot save as MLArray: a {kind} layer has no MLArray form; "
                                 "select image, labels or shapes layers")
        return hook(path, data, state)
    return write_layers(path, tuples)
