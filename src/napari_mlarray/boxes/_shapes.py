"""Box geometry: boxes -> the napari shapes that draw them in a view, and shapes -> boxes.

A box is ``[s][2]`` inclusive voxel bounds along the layer's axes; its shapes put their edges on
the voxel borders (``min - 0.5``, ``max + 0.5``). :func:`box_shapes` draws boxes for a view (see
:mod:`._views` for why a 3D box needs one rectangle per slice in 2D and a wireframe in 3D);
:func:`group_boxes` turns the shapes back into boxes, one per ``box_id``. Pure numpy: no napari.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["VIEW_3D", "box_shapes", "group_boxes"]

VIEW_3D = -1  # a view key: the slicing layer axis of a 2D view, or VIEW_3D


def _rect_2d(box: np.ndarray) -> np.ndarray:
    (y0, y1), (x0, x1) = box[-2] + (-0.5, 0.5), box[-1] + (-0.5, 0.5)
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])


def _slices(lo: float, hi: float) -> np.ndarray:
    """Slices whose centres lie in ``[lo, hi]``; the nearest one for a box thinner than a slice."""
    zs = np.arange(math.ceil(lo), math.floor(hi) + 1, dtype=float)
    return zs if zs.size else np.array([round((lo + hi) / 2)], dtype=float)


def _rect_stack(box: np.ndarray, axis: int) -> np.ndarray:
    """``[k][4][3]``: one rectangle per slice along ``axis``, edges on the voxel borders."""
    b, c = [a for a in range(3) if a != axis]
    (b0, b1), (c0, c1) = box[b] + (-0.5, 0.5), box[c] + (-0.5, 0.5)
    zs = _slices(*box[axis])
    out = np.empty((zs.size, 4, 3))
    out[:, :, axis] = zs[:, None]
    out[:, :, b] = [b0, b0, b1, b1]
    out[:, :, c] = [c0, c1, c1, c0]
    return out


def _wireframe(box: np.ndarray) -> np.ndarray:
    """``[16][3]``: a path over the 12 edges of the box, with no segment reversing the previous one."""
    (z0, z1), (y0, y1), (x0, x1) = box + (-0.5, 0.5)
    a, b, c, d = (y0, x0), (y0, x1), (y1, x1), (y1, x0)
    bottom = [(z0, *p) for p in (a, b, c, d, a)]
    top = [(z1, *p) for p in (a, b, c, d, a)]
    # From the top A: top B (repeat), down B, bottom C (repeat), up C, top D (repeat), down D.
    rest = [(z1, *b), (z0, *b), (z0, *c), (z1, *c), (z1, *d), (z0, *d)]
    return np.array(bottom + top + rest, dtype=float)


def box_shapes(boxes: np.ndarray, view: int = 0) -> tuple[list, list, np.ndarray]:
    """Shapes drawing ``boxes`` (``[N][s][2]`` inclusive voxel bounds, layer axis order) in ``view``.

    Returns ``(vertices, shape_types, owner)``, where ``owner[k]`` is the box that shape ``k``
    belongs to. 2D boxes are always one rectangle each.
    """
    data: list = []
    types: list = []
    owner: list = []
    for i, box in enumerate(np.asarray(boxes, dtype=float).reshape(len(boxes), -1, 2) if len(boxes) else []):
        if box.shape[0] == 2:
            parts, kind = [_rect_2d(box)], "rectangle"
        elif view == VIEW_3D:
            parts, kind = [_wireframe(box)], "path"
        else:
            parts, kind = list(_rect_stack(box, view)), "rectangle"
        data.extend(parts)
        types.extend([kind] * len(parts))
        owner.extend([i] * len(parts))
    return data, types, np.asarray(owner, dtype=int)



def group_boxes(shapes: list, features) -> list[np.ndarray]:
    """Per box: ``[s][2]`` inclusive voxel bounds in shapes-layer data coordinates."""
    ids = None
    if features is not None and "box_id" in features:
        ids = [None if (v is None or (isinstance(v, float) and math.isnan(v)) or int(v) < 0) else int(v)
               for v in list(features["box_id"])]
    groups: dict = {}
    order: list = []
    for i, verts in enumerate(shapes):
        g = ids[i] if ids is not None and i < len(ids) and ids[i] is not None else ("new", i)
        if g not in groups:
            groups[g] = []
            order.append(g)
        groups[g].append((i, np.asarray(verts, dtype=float)))
    out = []
    for g in order:
        members = groups[g]
        verts = np.concatenate([v for _, v in members])
        nd = verts.shape[1]
        box = np.zeros((nd, 2))
        for a in range(nd):
            planar = all(np.ptp(v[:, a]) == 0 for _, v in members)
            lo, hi = verts[:, a].min(), verts[:, a].max()
            if not planar:
                lo, hi = lo + 0.5, hi - 0.5
                if hi < lo:
                    lo = hi = (lo + hi) / 2
            box[a] = (lo, hi)
        out.append((g, [i for i, _ in members], box))
    return out
