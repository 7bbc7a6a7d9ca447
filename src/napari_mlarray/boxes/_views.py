"""3D boxes in every napari view: the boxes layer holds the shapes that suit the view it is in.

napari Shapes cannot draw one 3D box well in both kinds of view. A 2D view shows a shape only if
the min and max of its non-displayed coordinates lie within 0.5 of the slice, so a box needs one
planar rectangle per slice. A 3D view shows every shape, so those rectangles form solid walls.
A boxes layer therefore holds one *representation* at a time:

* 2D view, slicing layer axis ``a``: for each box, one rectangle on every slice it spans along
  ``a``. These rectangles are planar in ``a``, so axial, coronal and sagittal slicing
  (``viewer.dims.order`` rolled or transposed) each get their own stack;
* 3D view: for each box, one ``path`` tracing its 12 edges (16 vertices, so 3 edges are drawn
  twice). The path never turns back on itself, which gives a clean wireframe, one text label
  and one selectable shape per box.

Switching views: readers return layer data tuples, so there is no layer to hook while reading.
:func:`napari_mlarray.viewer._watch.watch_viewers` (called when a file is read) listens for layers
inserted into every open viewer and :func:`attach`\\ es boxes layers. Scripts can call
:func:`attach` themselves. An attached layer rebuilds its shapes from ``set_data`` (emitted after each
re-slice) when the view changes (2D <-> 3D, or another slicing axis). The check is a tuple
comparison, so moving the slider costs nothing. Unattached layers keep the representation the
reader built (2D, axis 0).

Not chosen: keeping every representation in the layer and hiding the unused ones. napari has no
per-shape visibility, so this would mean patching ShapeList's private display logic, or using
alpha-0 colours, which stay pickable, change the saved colours and cost ~5x the shapes.
A companion Vectors or Surface layer would not follow 2D edits, would trip the multi-layer
writer, and Surface wireframes show the face diagonals.

Boxes come back from any representation through :func:`._shapes.group_boxes`: the union of the
shapes sharing a ``box_id``, with ``+-0.5`` voxel edges removed on axes where the shapes are not
planar. Integer boxes (inclusive voxel indices, the format's convention) come back exactly.
Edits in a 2D view (see :func:`_on_data`): moving or resizing one slice's rectangle moves or
resizes the box on every slice it spans, so the union is the edited box; a rectangle drawn while
a box is selected extends that box, one drawn with nothing selected is a new box. The next view
change redraws the box in that view. Layers built by scripts and not attached keep the plain
union. Known limit: a fractional bound along the slicing axis snaps to the slices whose centres
it covers.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Optional

import numpy as np

from ..layers._roles import ROLE_BOXES
from ._shapes import VIEW_3D, box_shapes, group_boxes

__all__ = ["attach", "rebuild", "rebuilding", "replace_shapes", "set_features", "view_of"]

# layer -> {"view": representation key, "busy": bool, "attached": bool}; weak, closed layers drop out.
_STATE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------- views

def view_of(layer) -> Optional[int]:
    """Representation key for the view ``layer`` is sliced in (None: nothing to switch)."""
    si = getattr(layer, "_slice_input", None)  # napari has no public per-layer view state
    if si is None or getattr(layer, "ndim", 0) != 3:
        return None
    if si.ndisplay >= 3:
        return VIEW_3D
    nd = tuple(si.not_displayed)
    return int(nd[0]) if len(nd) == 1 else None


def _infer_view(layer) -> Optional[int]:
    """Representation the layer's shapes are in now (from its first shape), None if unknown."""
    if not len(layer.data):
        return None
    v = np.asarray(layer.data[0], dtype=float)
    planar = [a for a in range(v.shape[1]) if np.ptp(v[:, a]) == 0]
    if not planar:
        return VIEW_3D
    return planar[0] if len(planar) == 1 else None


def _is_boxes_layer(layer) -> bool:
    md = getattr(layer, "metadata", None) or {}
    return type(layer).__name__ == "Shapes" and md.get("mlarray_role") == ROLE_BOXES and layer.ndim == 3


def rebuilding(layer) -> bool:
    """True while :func:`replace_shapes` swaps the layer's shapes (its events are transient)."""
    st = _STATE.get(layer)
    return bool(st and st["busy"])


@contextlib.contextmanager
def _busy(layer):
    st = _STATE.setdefault(layer, {"view": None, "busy": False})
    was, st["busy"] = st["busy"], True
    try:
        yield st
    finally:
        st["busy"] = was


def set_features(layer, features) -> None:
    """Set ``layer.features`` but keep its ``feature_defaults``.

    napari resets the defaults from the new table, so a rectangle drawn later would copy the last
    row's ``box_id`` and join that box instead of starting a new one (default ``box_id`` -1).
    """
    defaults = layer.feature_defaults
    layer.features = features
    merged = {k: layer.feature_defaults[k].iloc[0] for k in layer.features.columns}
    merged.update({k: defaults[k].iloc[0] for k in defaults.columns if k in merged})
    if merged:
        layer.feature_defaults = merged


def replace_shapes(layer, data: list, types: list, features, edge_color, face_color=None,
                   edge_width=None, view: Optional[int] = None) -> None:
    """Swap all shapes of ``layer`` at once.

    Listeners that check :func:`rebuilding` skip the intermediate events (the data setter
    trims or pads features with defaults before the real ones are set). One ``features`` event
    afterwards tells them that the shapes changed.
    """
    with _busy(layer) as st:
        st["view"] = view
        layer.selected_data = set()
        layer.data = list(zip(data, types))
        set_features(layer, features)
        if len(data):
            layer.edge_color = np.asarray(edge_color, dtype=float).reshape(-1, 4)
            if face_color is not None:
                layer.face_color = np.asarray(face_color, dtype=float).reshape(-1, 4)
            if edge_width is not None:
                layer.edge_width = [float(w) for w in edge_width]
        st["snapshot"] = _snapshot(layer)
    layer.events.features()


def rebuild(layer, view: int) -> None:
    """Redraw the layer's boxes (as they are now, edits included) in the representation for ``view``."""
    feats = layer.features
    groups = group_boxes(list(layer.data), feats)
    used = [g for g, _m, _b in groups if isinstance(g, int)]
    next_id = max(used) + 1 if used else 0
    selected = set(layer.selected_data)
    boxes, firsts, ids, picked = [], [], [], set()
    for k, (g, members, box) in enumerate(groups):
        if selected.intersection(members):
            picked.add(k)
        boxes.append(box)
        firsts.append(members[0])  # a box keeps the features and colours of its first shape
        if isinstance(g, int):
            ids.append(g)
        else:  # user-drawn shape without a box id: its own new box
            ids.append(next_id)
            next_id += 1
    data, types, owner = box_shapes(np.asarray(boxes).reshape(len(boxes), 3, 2), view)
    rows = np.asarray(firsts, dtype=int)[owner] if len(owner) else np.zeros(0, int)
    new_feats = feats.iloc[rows].reset_index(drop=True)
    new_feats["box_id"] = np.asarray(ids, dtype=int)[owner] if len(owner) else np.zeros(0, int)
    ew = np.asarray(layer.edge_width, dtype=float)
    replace_shapes(layer, data, types, new_feats, np.asarray(layer.edge_color)[rows],
                   np.asarray(layer.face_color)[rows], ew[rows] if ew.size else None, view)
    if picked:  # a box selected in one view stays selected in the next
        layer.selected_data = {i for i, o in enumerate(owner) if int(o) in picked}


# ----------------------------------------------------------------------------- edits

def _snapshot(layer) -> list:
    return [np.array(d, dtype=float) for d in layer.data]


def _action(event) -> str:
    a = getattr(event, "action", "")
    return str(getattr(a, "value", a))


def _on_data(event) -> None:
    """After an edit: one rectangle of a box moved or resized in a 2D view moves or resizes the box.

    A 3D box is one rectangle per slice in 2D views, and napari edits one rectangle at a time. The
    edited rectangles' in-plane bounds become the box's on every slice it spans (its extent along
    the slicing axis stays), so the box moves or changes size rather than growing into the union
    of old and new positions. Rectangles added to a selected box (napari copies its ``box_id``)
    extend it; removed ones shrink it.
    """
    layer = event.source
    st = _STATE.get(layer)
    if st is None or st["busy"] or not st.get("attached"):
        return
    if _action(event) == "changed":
        _apply_edit(layer, st, getattr(event, "data_indices", None))
    if _action(event) == "removed":
        _new_box_defaults(layer)
    if _action(event) in ("changed", "added", "removed"):
        st["snapshot"] = _snapshot(layer)


def _new_box_defaults(layer) -> None:
    """After shapes are removed, a rectangle drawn with nothing selected is a new box again.

    napari 0.6 sets the feature defaults to a removed shape's row, so the next rectangle drawn
    would join the deleted box (and take its label) instead of starting a new one.
    """
    defaults = layer.feature_defaults
    if "box_id" not in defaults or len(defaults) == 0 or int(defaults["box_id"].iloc[0]) < 0:
        return
    fresh = {"label": "box", "score": float("nan"), "box_id": -1, "caption": "box"}
    layer.feature_defaults = {k: fresh.get(k, defaults[k].iloc[0]) for k in defaults.columns}


def _edited(layer, st, indices) -> list[int]:
    data = layer.data
    idx = range(len(data)) if indices is None else [i for i in indices if 0 <= int(i) < len(data)]
    snap = st.get("snapshot")
    if snap is None or len(snap) != len(data):
        return [int(i) for i in idx]
    return [int(i) for i in idx if np.shape(data[i]) != snap[i].shape or not np.allclose(data[i], snap[i])]


def _apply_edit(layer, st, indices) -> None:
    view = st["view"]
    if view is None or view == VIEW_3D or "box_id" not in layer.features:
        return
    edited = _edited(layer, st, indices)
    ids = np.asarray(layer.features["box_id"].to_numpy(dtype=float, na_value=np.nan))
    data = [np.array(d, dtype=float) for d in layer.data]
    plane = [a for a in range(3) if a != view]
    changed = False
    for g in sorted({ids[i] for i in edited if ids[i] >= 0}):
        members = np.flatnonzero(ids == g)
        if len(members) < 2:
            continue  # a one-rectangle box is its own rectangle
        verts = np.concatenate([data[i] for i in edited if ids[i] == g])
        lo, hi = verts[:, plane].min(axis=0), verts[:, plane].max(axis=0)
        for i in members:
            rect = np.empty((4, 3))
            rect[:, view] = data[i][0, view]
            rect[:, plane[0]] = [lo[0], lo[0], hi[0], hi[0]]
            rect[:, plane[1]] = [lo[1], hi[1], hi[1], lo[1]]
            changed = changed or rect.shape != data[i].shape or not np.allclose(rect, data[i])
            data[i] = rect
    if not changed:
        return
    selected = set(layer.selected_data)
    ew = np.asarray(layer.edge_width, dtype=float)
    replace_shapes(layer, data, list(layer.shape_type), layer.features, np.asarray(layer.edge_color),
                   np.asarray(layer.face_color), ew if ew.size else None, view)
    layer.selected_data = selected


# ----------------------------------------------------------------------------- hooks

def _sync(layer) -> None:
    st = _STATE.get(layer)
    if st is None or st["busy"]:
        return
    view = view_of(layer)
    if view is None or view == st["view"]:
        return
    rebuild(layer, view)


def _on_set_data(event) -> None:
    _sync(event.source)


def attach(layer) -> bool:
    """Make a 3D boxes Shapes layer redraw its boxes for 2D/3D views; False if it is not one."""
    if not _is_boxes_layer(layer):
        return False
    st = _STATE.get(layer)
    if st is not None and st.get("attached"):
        return True
    _STATE[layer] = {"view": _infer_view(layer), "busy": False, "attached": True, "snapshot": _snapshot(layer)}
    layer.events.set_data.connect(_on_set_data)
    layer.events.data.connect(_on_data)
    _sync(layer)  # the viewer may already be in 3D, or sliced along another axis
    return True
