"""Boxes: ``bbox`` metadata <-> napari Shapes (both directions).

``bbox`` boxes are ``[min, max]`` *inclusive* voxel indices of the base array (as produced by
``mlarray.samples.phantom_boxes``). They are drawn around the voxels: shape edges sit at
``min - 0.5`` and ``max + 0.5`` in data coordinates. A 2D box is one rectangle. A 3D box is drawn
as the view needs it (see :mod:`._views`): one rectangle per slice it spans along the slicing
axis in a 2D view (axis 0 as built by the reader; the other axes after the dims order changes),
and a 12-edge wireframe path in 3D view. All shapes of one box share a ``box_id`` feature; the
writer turns each ``box_id`` group (or each user-drawn shape without one) back into one box, so
any representation, and 2D edits of it, give the boxes back. Features ``label``, ``score`` and
``box_id`` travel with every shape, and the text shows ``label score``.

"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Optional

import numpy as np

from mlarray.meta import Meta, MetaBbox

from ..layers._geometry import Geometry, data_to_world_matrix
from ..layers._roles import ROLE_BOXES
from ..layers._style import box_colors
from ._shapes import box_shapes, group_boxes

__all__ = ["bbox_from_shapes", "boxes_layer", "caption"]


def caption(label, score) -> str:
    """The text drawn on a box: its label, and its score when it has one."""
    if isinstance(label, np.generic):
        label = label.item()
    ok = score is not None and not (isinstance(score, float) and math.isnan(score))
    return f"{label} {float(score):.2f}" if ok else f"{label}"


def boxes_layer(meta: Meta, geom: Geometry, name: str, metadata: dict,
                 edge_width: float, view: int = 0) -> Optional[tuple]:
    """Shapes layer data tuple for ``meta.bbox``, drawn for ``view`` (see :func:`._shapes.box_shapes`)."""
    bb = meta.bbox
    if not bb.bboxes:
        return None
    boxes = np.asarray(bb.bboxes, dtype=float)  # [N][s][2], array (spatial) axis order
    n, s = boxes.shape[0], boxes.shape[1]
    if s != len(geom.spatial_axes):
        warnings.warn(f"{name}: boxes have {s} axes but the image has {len(geom.spatial_axes)} spatial axes; "
                      "boxes are not shown", UserWarning, stacklevel=3)
        return None
    if s not in (2, 3):
        warnings.warn(f"{name}: {s}-D boxes cannot be drawn by napari Shapes; they are kept in the "
                      "metadata only", UserWarning, stacklevel=3)
        return None
    boxes = boxes[:, geom.perm, :]  # layer (world) axis order
    labels = list(bb.labels) if bb.labels is not None else [f"box {i}" for i in range(n)]
    scores = list(bb.scores) if bb.scores is not None else [float("nan")] * n
    colors = box_colors(labels, meta.classes)
    shapes, types, ids_arr = box_shapes(boxes, view)
    scores = [float("nan") if v is None else float(v) for v in scores]  # None: a box without a score
    features = {
        "label": np.asarray([labels[i] for i in ids_arr], dtype=object),
        "score": np.asarray([scores[i] for i in ids_arr], dtype=float),
        "box_id": ids_arr,
        "caption": np.asarray([caption(labels[i], scores[i]) for i in ids_arr], dtype=object),
    }
    kwargs = dict(geom.transform_kwargs(None))  # with the file's units, as the image layers
    kwargs.update(
        name=f"{name} boxes",
        shape_type=types,
        edge_color=np.asarray([colors[i] for i in ids_arr], dtype=float).reshape(-1, 4),
        face_color="transparent",
        edge_width=edge_width,
        opacity=1.0,
        features=features,
        # A shape drawn with nothing selected is a new box (box_id -1); napari copies the selected
        # shape's features into new shapes, so one drawn while a box is selected extends that box.
        feature_defaults={"label": "box", "score": float("nan"), "box_id": -1, "caption": "box"},
        text={"string": "{caption}", "color": "white", "size": 9, "anchor": "upper_left"},
        metadata={**metadata, "mlarray_role": ROLE_BOXES},
    )
    return (shapes, kwargs, "shapes")


def bbox_from_shapes(shapes: list, state: dict, target_world: Optional[np.ndarray] = None,
                     target_axes: Optional[list[int]] = None) -> MetaBbox:
    """Boxes from a Shapes layer.

    Box coordinates are mapped from the shapes layer's data space through world into the target
    (image) index space given by ``target_world`` (index->napari world affine over the spatial
    layer axes) and then reordered to the stored array axis order (``target_axes``: base spatial
    axis of each layer axis). Without a target, the shapes layer's own data space is used.
    """
    feats = state.get("features")
    groups = group_boxes(shapes, feats)
    if not groups:
        return MetaBbox()
    nd = groups[0][2].shape[0]
    m = data_to_world_matrix(state, nd)
    t = np.linalg.inv(target_world) @ m if target_world is not None else np.eye(nd + 1)
    axes = target_axes if target_axes is not None else list(range(nd))
    sorted_axes = sorted(axes)
    cols = [axes.index(a) for a in sorted_axes]
    boxes, labels, scores = [], [], []
    has_label = feats is not None and "label" in feats
    has_score = feats is not None and "score" in feats
    any_score = False
    for g, members, box in groups:
        corners = np.array(list(itertools.product(*box)))  # 2^nd corners
        hom = np.c_[corners, np.ones(len(corners))] @ t.T
        pts = hom[:, :nd]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        b = np.stack([lo, hi], axis=1)[cols]
        boxes.append([[_clean(v) for v in pair] for pair in b])
        i0 = members[0]
        lab = list(feats["label"])[i0] if has_label else None
        if lab is None or (isinstance(lab, float) and math.isnan(lab)):
            lab = f"box {len(labels)}"
        if isinstance(lab, np.generic):
            lab = lab.item()
        labels.append(lab)
        sc = float(list(feats["score"])[i0]) if has_score else float("nan")
        any_score = any_score or not math.isnan(sc)
        scores.append(sc)
    if any_score:  # a box without a score (e.g. drawn by hand) keeps none: no made-up 1.0
        return MetaBbox(bboxes=boxes, labels=labels, scores=[None if math.isnan(s) else s for s in scores])
    return MetaBbox(bboxes=boxes, labels=labels)


def _clean(v: float):
    """An integer when ``v`` is one up to float32 noise (napari keeps edited shapes in float32)."""
    v = float(v)
    r = round(v)
    return r if abs(v - r) <= 8 * np.finfo(np.float32).eps * max(1.0, abs(v)) else v

