"""MLArray files <-> napari layer data: pure mapping code (no Qt; napari only for colormap classes).

World convention
----------------
napari has one world space shared by all layers; this module decides how an ``.mla`` file's
geometry (``world = origin + direction @ (spacing * index)`` in ``spatial.coord_system``) lands
in it:

* **Anatomical coordinate systems** (``RAS``, ``LPS``, ``LAS``, ... any three of R/L, A/P, S/I):
  the affine is converted to LPS and the world axis order is *reversed*, so napari's world
  dimensions are ``(S, P, L)``. In the default 2D view of a 3D image the slider runs
  inferior→superior, rows go anterior→posterior (anterior at the top) and columns run
  right→left (the patient's right on the left of the screen: the radiological convention).
  Layers get ``axis_labels`` ``("I→S", "A→P", "R→L")`` which napari shows on the dims sliders
  and axes overlay. Files stored in different array orientations therefore agree in napari
  world coordinates voxel for voxel.
* **Other coordinate systems** (``unknown``, ``other``, custom names, 2D slides): the affine is
  used as is; the world axes keep the array's (spatial) axis order.
* **Non-spatial axes**: a ``channel`` axis is split into one layer per channel (each a lazy view
  picking that channel; napari's own ``channel_axis`` would materialise every level with
  ``np.take``); every other non-spatial axis (time, ...) stays a dims slider with an identity
  transform.

napari slices each layer along its *data* axes, so the data handed over is an
:class:`~napari_mlarray._views.AxisView` of the file's lazy level arrays with the spatial axes
permuted to follow the world axes. What remains of the geometry is a per-axis ``scale`` (negative
for flipped axes), a ``translate`` and, for oblique images only, a ``rotate`` matrix. Image,
Labels and Shapes layers from one file get exactly the same transform. napari cannot slice
oblique data along world planes; in that case a warning says so (once per file).

Boxes
-----
``bbox`` boxes are ``[min, max]`` *inclusive* voxel indices of the base array (as produced by
``mlarray.samples.phantom_boxes``). They are drawn around the voxels: rectangle edges sit at
``min - 0.5`` and ``max + 0.5`` in data coordinates. napari shapes are planar and a 2D view only
shows shapes lying in the current slice, so a 3D box becomes one rectangle per slice it spans
along the first spatial layer axis (the slider axis of the default view). In 2D view the box is
therefore visible on exactly the slices it covers; in 3D view the stacked rectangles draw the
box's walls. The cost is one shape per spanned slice (about 0.3 ms each to build in napari).
Rectangles of one box share a ``box_id`` feature; the writer turns each ``box_id`` group (or
each user-drawn shape without one) back into one box. Features ``label``, ``score`` and
``box_id`` travel with every rectangle; the text shows ``label score``.

Writing (layers -> MLArray)
---------------------------
Geometry is taken from the layer's *current* transform (``scale``, ``translate``, ``rotate``,
``shear``, ``affine``), undoing the world convention above (and the view's axis permutation, so a
file read and written back keeps its array orientation). ``layer.metadata["mlarray"]`` provides
the rest (source, extra, class table, coord_system, axis labels/units); statistics and the
pyramid are rebuilt by ``MLArray.save``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from mlarray import MLArray
from mlarray.affines import convert_coord_system
from mlarray.meta import SPATIAL_AXIS_LABELS, Meta, MetaBbox, compose_affine_or_none

from ._views import AxisView

__all__ = [
    "layers_from_mlarray",
    "layer_data_from_path",
    "napari_world_affine",
    "file_affine_from_world",
    "mlarray_from_layer",
    "bbox_from_shapes",
    "meta_from_shapes",
    "data_to_world_matrix",
    "ROLE_IMAGE",
    "ROLE_LABELS",
    "ROLE_BOXES",
]

ROLE_IMAGE, ROLE_LABELS, ROLE_BOXES = "image", "labels", "boxes"
_AXIS_CLASS = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
_OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
_LPS_LETTER = {0: "L", 1: "P", 2: "S"}
# Colours for boxes whose label is not in the class table, and for channels.
_PALETTE = [(0.0, 1.0, 0.0, 1.0), (1.0, 0.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.0, 1.0),
            (1.0, 0.5, 0.0, 1.0), (0.5, 0.5, 1.0, 1.0), (1.0, 0.3, 0.3, 1.0), (0.6, 1.0, 0.6, 1.0)]
_CHANNEL_COLORMAPS = ["magenta", "green", "cyan", "yellow", "red", "blue", "gray"]
_OBLIQUE_TOL = 1e-6
_warned: set = set()


# --------------------------------------------------------------------------- world convention

def _anatomical_letters(coord_system, n: int) -> Optional[str]:
    """The coord_system letters when it is an anatomical system over ``n`` distinct axes."""
    if not isinstance(coord_system, str):
        return None
    letters = coord_system.upper().rstrip("+")
    if len(letters) != n or any(c not in _AXIS_CLASS for c in letters):
        return None
    if len({_AXIS_CLASS[c] for c in letters}) != n:
        return None
    return letters


def _napari_letters(letters: str) -> str:
    """The napari world axes for an anatomical system: LPS letters of its axes, reversed (S, P, L)."""
    classes = sorted({_AXIS_CLASS[c] for c in letters})
    return "".join(_LPS_LETTER[c] for c in reversed(classes))


def napari_world_affine(affine, coord_system) -> tuple[np.ndarray, Optional[list[str]]]:
    """``(W, labels)``: the index->napari-world affine over the spatial axes, and world axis labels.

    ``labels`` is ``["I→S", "A→P", "R→L"]``-style for anatomical systems, else None.
    """
    a = np.asarray(affine, dtype=float)
    n = a.shape[0] - 1
    letters = _anatomical_letters(coord_system, n)
    if letters is None:
        return a.copy(), None
    target = _napari_letters(letters)
    w = convert_coord_system(a, letters, target)
    return w, [f"{_OPPOSITE[c]}→{c}" for c in target]


def file_affine_from_world(world_affine, coord_system) -> np.ndarray:
    """Inverse of :func:`napari_world_affine`: napari-world affine -> affine in ``coord_system``."""
    w = np.asarray(world_affine, dtype=float)
    n = w.shape[0] - 1
    letters = _anatomical_letters(coord_system, n)
    if letters is None:
        return w.copy()
    return convert_coord_system(w, _napari_letters(letters), letters)


def _align(world_affine) -> dict:
    """Split an index->world affine into a permutation of the array axes plus scale/translate/rotate.

    ``perm[k]`` is the (spatial) array axis shown as world axis ``k``. ``scale`` is signed,
    ``rotate`` the remaining proper rotation (identity unless the image is oblique).
    """
    w = np.asarray(world_affine, dtype=float)
    n = w.shape[0] - 1
    lin = w[:n, :n]
    norms = np.linalg.norm(lin, axis=0)
    norms[norms == 0] = 1.0
    d = lin / norms
    if n <= 6:
        perm = max(itertools.permutations(range(n)),
                   key=lambda p: sum(abs(d[k, p[k]]) for k in range(n)))
    else:  # pragma: no cover - more than 6 spatial axes
        perm, free = [], set(range(n))
        for k in range(n):
            j = max(free, key=lambda j: abs(d[k, j]))
            perm.append(j)
            free.remove(j)
    perm = list(perm)
    dp = d[:, perm]
    sign = np.where(np.diag(dp) < 0, -1.0, 1.0)
    rot = dp * sign[np.newaxis, :]
    if n and np.linalg.det(rot) < 0:
        j = int(np.argmin(np.abs(np.diag(rot))))
        sign[j] = -sign[j]
        rot[:, j] = -rot[:, j]
    off = np.abs(rot - np.eye(n)).max() if n else 0.0
    oblique = off > _OBLIQUE_TOL
    angle = 0.0
    if oblique:
        angle = math.degrees(math.acos(float(np.clip(np.diag(rot).min(), -1.0, 1.0))))
    else:
        rot = np.eye(n)
    return {"perm": perm, "scale": (norms[perm] * sign).tolist(), "translate": w[:n, n].tolist(),
            "rotate": rot, "oblique": oblique, "angle": angle}


def _warn_once(key, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, UserWarning, stacklevel=3)


# --------------------------------------------------------------------------- file -> layers

def _label_str(v) -> str:
    return getattr(v, "value", v)


def _valid_unit(u) -> bool:
    try:
        from napari.utils.transforms._units import get_units_from_name
    except ImportError:  # pragma: no cover - napari without unit support
        return False
    try:
        get_units_from_name(u)
    except Exception:
        return False
    return True


class _Geometry:
    """How one file's axes become layer axes, shared by all layers made from it."""

    def __init__(self, meta: Meta, ndim: Optional[int], spatial_axes: list[int], name: str, key) -> None:
        sp = meta.spatial
        self.spatial_axes = spatial_axes
        s = len(spatial_axes)
        affine = compose_affine_or_none(sp.spacing, sp.origin, sp.direction)
        if affine is None or affine.shape[0] != s + 1:
            affine = np.eye(s + 1)
        world, labels = napari_world_affine(affine, sp.coord_system)
        al = _align(world)
        self.perm, self.scale, self.translate = al["perm"], al["scale"], al["translate"]
        self.rotate, self.oblique = al["rotate"], al["oblique"]
        if self.oblique:
            _warn_once(("oblique", key),
                       f"{name}: the image axes are oblique to the world axes (up to {al['angle']:.1f}°). "
                       "napari shows it as a rotated layer but slices along the image's own axes, so 2D "
                       "slices are not world planes and other layers overlay it exactly only in 3D view.")
        labels_in = [_label_str(v) for v in (sp.axis_labels or [])]
        if labels is None:
            labels = []
            for k in range(s):
                j = spatial_axes[self.perm[k]]
                lab = labels_in[j] if j < len(labels_in) else "spatial"
                labels.append(lab[len("spatial_"):] if lab.startswith("spatial_") else f"axis {j}")
        self.spatial_labels = labels
        self.labels_in = labels_in
        # units per spatial world axis
        units = sp.axis_units
        self.spatial_units: Optional[list[str]] = None
        self.all_units: Optional[list[str]] = None
        if units:
            if ndim is not None and len(units) == ndim and len(units) != s:
                self.all_units = list(units)
                per_spatial = [units[a] for a in spatial_axes]
            else:
                per_spatial = list(units)
            if len(per_spatial) == s:
                cand = [per_spatial[self.perm[k]] for k in range(s)]
                if all(_valid_unit(u) for u in cand):
                    self.spatial_units = cand

    def layer_axes(self, ndim: int, drop: Sequence[int] = ()) -> list[int]:
        """Base array axes in layer order: spatial slots follow the world axes."""
        kept = [a for a in range(ndim) if a not in drop]
        spatial_set = set(self.spatial_axes)
        order, k = [], 0
        for a in kept:
            if a in spatial_set:
                order.append(self.spatial_axes[self.perm[k]])
                k += 1
            else:
                order.append(a)
        return order

    def transform_kwargs(self, order: Optional[list[int]] = None) -> dict:
        """scale/translate/rotate/axis_labels/units for layer axes ``order`` (None: spatial only)."""
        s = len(self.spatial_axes)
        if order is None:
            slots = [("s", k) for k in range(s)]
        else:
            spatial_set, k, slots = set(self.spatial_axes), 0, []
            for a in order:
                if a in spatial_set:
                    slots.append(("s", k))
                    k += 1
                else:
                    slots.append(("n", a))
        d = len(slots)
        scale, translate, labels, units = [], [], [], []
        rot = np.eye(d)
        sp_pos = [i for i, (kind, _) in enumerate(slots) if kind == "s"]
        for i, (kind, v) in enumerate(slots):
            if kind == "s":
                scale.append(self.scale[v])
                translate.append(self.translate[v])
                labels.append(self.spatial_labels[v])
                units.append(self.spatial_units[v] if self.spatial_units else None)
            else:
                scale.append(1.0)
                translate.append(0.0)
                lab = self.labels_in[v] if v < len(self.labels_in) else f"axis {v}"
                labels.append({"temporal": "time", "non_spatial": f"axis {v}"}.get(lab, lab))
                u = self.all_units[v] if self.all_units else None
                units.append(u if u and _valid_unit(u) else None)
        if self.oblique:
            rot[np.ix_(sp_pos, sp_pos)] = self.rotate
        # axis labels must be unique
        seen: dict = {}
        for i, lab in enumerate(labels):
            if lab in seen:
                labels[i] = f"{lab} {i}"
            seen[lab] = i
        out: dict[str, Any] = {"scale": scale, "translate": translate, "axis_labels": labels}
        if any(u is not None for u in units):
            out["units"] = [u if u is not None else "pixel" for u in units]
        if self.oblique:
            out["rotate"] = rot
        return out


def _contrast_limits(meta: Meta, dtype) -> tuple[float, float]:
    st = meta.stats
    lo, hi = st.percentile(0.5), st.percentile(99.5)
    if lo is None or hi is None or not hi > lo:
        lo, hi = st.min, st.max
    if lo is None or hi is None:
        dt = np.dtype(dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            lo, hi = info.min, info.max
        elif dt.kind == "b":
            lo, hi = 0, 1
        else:
            lo, hi = 0.0, 1.0
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _labels_colormap(classes):
    from napari.utils.colormaps import DirectLabelColormap

    colors: dict = {None: np.array([0.6, 0.6, 0.6, 1.0]), 0: np.zeros(4)}
    for i, c in enumerate(classes):
        col = c.get("color") or _PALETTE[i % len(_PALETTE)]
        colors[int(c["id"])] = np.asarray(col, dtype=float)
    return DirectLabelColormap(color_dict=colors)


def _box_colors(labels: list, classes) -> list:
    by_id = {c["id"]: c.get("color") for c in classes or []}
    by_name = {c["name"]: c.get("color") for c in classes or []}
    fallback: dict = {}
    out = []
    for lab in labels:
        col = None
        if isinstance(lab, str):
            col = by_name.get(lab)
        elif isinstance(lab, (int, float)) and float(lab).is_integer():
            col = by_id.get(int(lab))
        if col is None:
            key = repr(lab)
            if key not in fallback:
                fallback[key] = _PALETTE[len(fallback) % len(_PALETTE)]
            col = fallback[key]
        out.append(list(col))
    return out


def _boxes_layer(meta: Meta, geom: _Geometry, name: str, metadata: dict,
                 edge_width: float) -> Optional[tuple]:
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
    colors = _box_colors(labels, meta.classes)
    rects, ids = [], []
    for i, box in enumerate(boxes):
        (y0, y1), (x0, x1) = box[-2] + (-0.5, 0.5), box[-1] + (-0.5, 0.5)
        corners = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])
        if s == 2:
            rects.append(corners)
            ids.append(i)
            continue
        lo, hi = box[0]
        zs = np.arange(math.ceil(lo), math.floor(hi) + 1, dtype=float)
        if zs.size == 0:
            zs = np.array([round((lo + hi) / 2)], dtype=float)
        r = np.empty((zs.size, 4, 3))
        r[:, :, 0] = zs[:, None]
        r[:, :, 1:] = corners[None]
        rects.extend(r)
        ids.extend([i] * zs.size)
    ids_arr = np.asarray(ids, dtype=int)
    features = {
        "label": np.asarray([labels[i] for i in ids_arr], dtype=object),
        "score": np.asarray([scores[i] for i in ids_arr], dtype=float),
        "box_id": ids_arr,
    }
    has_scores = bb.scores is not None
    kwargs = dict(geom.transform_kwargs(None))
    kwargs.update(
        name=f"{name} boxes",
        shape_type="rectangle",
        edge_color=np.asarray([colors[i] for i in ids_arr], dtype=float).reshape(-1, 4),
        face_color="transparent",
        edge_width=edge_width,
        opacity=1.0,
        features=features,
        # A shape drawn with nothing selected is a new box (box_id -1); napari copies the selected
        # shape's features into new shapes, so one drawn while a box is selected extends that box.
        feature_defaults={"label": "box", "score": float("nan"), "box_id": -1},
        text={"string": "{label} {score:.2f}" if has_scores else "{label}", "color": "white",
              "size": 9, "anchor": "upper_left"},
        metadata={**metadata, "mlarray_role": ROLE_BOXES},
    )
    return (list(rects), kwargs, "shapes")


def layers_from_mlarray(ml: MLArray, path: Optional[str] = None, name: Optional[str] = None) -> list[tuple]:
    """napari layer data tuples ``(data, kwargs, layer_type)`` for an opened MLArray."""
    meta = ml.meta
    path = path if path is not None else ml.filepath
    name = name or (Path(path).name[: -len(".mla")] if path and str(path).endswith(".mla")
                    else (Path(path).stem if path else "mlarray"))
    mapping = meta.to_mapping()
    base_md = {"mlarray": mapping, "mlarray_path": None if path is None else str(path)}
    key = str(path) if path is not None else id(ml)
    out: list[tuple] = []
    if not meta.has_array:
        s = meta.spatial.spatial_ndim or (len(meta.bbox.bboxes[0]) if meta.bbox.bboxes else 0)
        geom = _Geometry(meta, None, list(range(s)), name, key)
        extent = np.asarray(meta.bbox.bboxes, dtype=float) if meta.bbox.bboxes else np.zeros((1, 1, 2))
        width = max(1.0, 0.004 * float(np.ptp(extent)) if extent.size else 1.0)
        shp = _boxes_layer(meta, geom, name, {**base_md, "mlarray_axes": list(range(s))}, width)
        return [shp] if shp is not None else []

    ndim = ml.ndim
    spatial = list(ml.spatial_axes)
    geom = _Geometry(meta, ndim, spatial, name, key)
    labels_in = geom.labels_in
    channel_axis = next((a for a, lab in enumerate(labels_in) if lab == "channel"), None)
    levels = ml.levels
    shape = ml.shape
    is_seg = bool(meta.is_seg)
    drop = [channel_axis] if channel_axis is not None else []
    order = geom.layer_axes(ndim, drop)
    tkw = geom.transform_kwargs(order)
    role = ROLE_LABELS if is_seg else ROLE_IMAGE
    channels: list[Optional[int]] = [None] if channel_axis is None else list(range(shape[channel_axis]))
    ch_names = meta.extra.get("channel_names") if isinstance(meta.extra, dict) else None
    if not (isinstance(ch_names, list) and len(ch_names) == len(channels)
            and all(isinstance(c, str) for c in ch_names)):
        ch_names = None
    for ci, ch in enumerate(channels):
        fixed = {} if ch is None else {channel_axis: ch}
        data = [AxisView(lv, order, fixed) for lv in levels]
        md = {**base_md, "mlarray_role": role, "mlarray_axes": order}
        if ch is not None:
            md["mlarray_channel"] = [channel_axis, ch]
        if ch is None:
            lname = name
        else:
            lname = f"{name} [{ch_names[ci]}]" if ch_names else f"{name} [c{ch}]"
        kwargs: dict[str, Any] = dict(tkw)
        kwargs.update(name=lname, metadata=md, multiscale=len(data) > 1)
        if is_seg:
            if meta.classes:
                kwargs["colormap"] = _labels_colormap(meta.classes)
                kwargs["features"] = {
                    "index": [0] + [int(c["id"]) for c in meta.classes],
                    "name": ["background"] + [c["name"] for c in meta.classes],
                }
            if np.dtype(ml.dtype).kind not in "iub":
                warnings.warn(f"{name}: is_seg is set but the dtype is {ml.dtype}; shown as an image",
                              UserWarning, stacklevel=2)
                is_seg = False
        if not is_seg:
            kwargs.update(contrast_limits=_contrast_limits(meta, ml.dtype), rgb=False)
            if ch is not None:
                kwargs.update(colormap=_CHANNEL_COLORMAPS[ci % len(_CHANNEL_COLORMAPS)], blending="additive")
            else:
                kwargs.update(colormap="gray")
        out.append((data if len(data) > 1 else data[0], kwargs, "labels" if is_seg else "image"))
    sp_shape = [shape[a] for a in spatial]
    width = max(1.0, 0.004 * max(sp_shape)) if sp_shape else 1.0
    shp = _boxes_layer(meta, geom, name, {**base_md, "mlarray_axes": [spatial[p] for p in geom.perm]}, width)
    if shp is not None:
        tr = tkw
        if order[-len(spatial):] != [spatial[p] for p in geom.perm]:
            warnings.warn(f"{name}: the spatial axes are not the last axes, so the boxes layer (which has "
                          "only the spatial axes) does not line up with the image", UserWarning, stacklevel=2)
        del tr
        out.append(shp)
    return out


def layer_data_from_path(path) -> list[tuple]:
    """Open ``path`` lazily (header + at most the smallest pyramid level) and map it to layers."""
    ml = MLArray.open(path, mmap_mode="r")
    return layers_from_mlarray(ml, str(path))


# --------------------------------------------------------------------------- layers -> file

def data_to_world_matrix(state: dict, ndim: int) -> np.ndarray:
    """The layer's full data->world affine from its state (scale/translate/rotate/shear/affine)."""
    from napari.utils.transforms import Affine

    def arr(key, default):
        v = state.get(key)
        return default if v is None else v

    phys = Affine(scale=arr("scale", [1.0] * ndim), translate=arr("translate", [0.0] * ndim),
                  rotate=arr("rotate", np.eye(ndim)), shear=arr("shear", [0.0] * (ndim * (ndim - 1) // 2)),
                  ndim=ndim)
    aff = state.get("affine")
    m = np.asarray(phys.affine_matrix, dtype=float)
    if aff is not None:
        a = np.asarray(getattr(aff, "affine_matrix", aff), dtype=float)
        m = a @ m
    return m


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


def _base_of(data):
    """(array to write, base axis of each layer axis, channel info) for layer data."""
    d = data[0] if isinstance(data, (list, tuple)) else data
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
    return MLArray(arr, meta=meta)


def _classes_from_state(state: dict) -> Optional[list]:
    feats = state.get("features")
    try:
        if feats is not None and "index" in feats and "name" in feats:
            out = [{"id": int(i), "name": str(n)} for i, n in zip(feats["index"], feats["name"]) if int(i) != 0]
            return out or None
    except (TypeError, ValueError):
        return None
    return None


def _group_boxes(shapes: list, features) -> list[np.ndarray]:
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


def bbox_from_shapes(shapes: list, state: dict, target_world: Optional[np.ndarray] = None,
                     target_axes: Optional[list[int]] = None) -> MetaBbox:
    """Boxes from a Shapes layer.

    Box coordinates are mapped from the shapes layer's data space through world into the target
    (image) index space given by ``target_world`` (index->napari world affine over the spatial
    layer axes) and then reordered to the stored array axis order (``target_axes``: base spatial
    axis of each layer axis). Without a target, the shapes layer's own data space is used.
    """
    feats = state.get("features")
    groups = _group_boxes(shapes, feats)
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
    if any_score:
        scores = [1.0 if math.isnan(s) else s for s in scores]
        return MetaBbox(bboxes=boxes, labels=labels, scores=scores)
    return MetaBbox(bboxes=boxes, labels=labels)


def _clean(v: float):
    r = round(float(v))
    return r if abs(float(v) - r) < 1e-6 else float(v)


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
