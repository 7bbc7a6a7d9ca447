"""Measurements in millimetres on a Shapes layer: line lengths, areas and intensity statistics.

The measurement layer carries the image layer's own transform, so its vertices are the image's
voxel indices and every distance is taken in world units through napari's public
``data_to_world``: correct on anisotropic spacing and on oblique (rotated) grids alike.
Intensity statistics come from the image's full-resolution level on the slice the shape lies on,
reading only the shape's bounding box from the (lazy) array.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Optional

import numpy as np

from ..layers._measurements import MEASURE_COLUMNS, MEASURE_IMAGE_KEY, ROLE_MEASUREMENTS, measurement_style
from ._readout import value_unit

__all__ = ["measure", "attach_measurements", "shape_measurements", "MEASURE_COLUMNS"]

_CLOSED = {"rectangle", "ellipse", "polygon"}
_OPEN = {"line", "path"}


def _world(layer: Any, vertices: np.ndarray) -> np.ndarray:
    return np.array([np.asarray(layer.data_to_world(v), dtype=float) for v in vertices])


def _polygon_area(points: np.ndarray) -> float:
    """Area of a planar polygon given in N-D world coordinates (vector form, any orientation)."""
    if len(points) < 3:
        return 0.0
    centred = points - points.mean(axis=0)
    total = np.zeros((centred.shape[1], centred.shape[1]))
    for a, b in zip(centred, np.roll(centred, -1, axis=0)):
        total += np.outer(a, b) - np.outer(b, a)  # the wedge product generalises the 2-D cross product
    return float(np.sqrt((total ** 2).sum() / 2.0) / 2.0)


def _inside(kind: str, poly: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mask of the pixel centres (rows × cols grid) inside a shape given in the 2-D plane of its axes."""
    r, c = np.meshgrid(rows.astype(float), cols.astype(float), indexing="ij")
    if kind == "ellipse":
        centre = poly.mean(axis=0)
        a, b = (poly[1] - poly[0]) / 2.0, (poly[3] - poly[0]) / 2.0
        dr, dc = r - centre[0], c - centre[1]
        ua = (dr * a[0] + dc * a[1]) / max(float(a @ a), 1e-12)
        ub = (dr * b[0] + dc * b[1]) / max(float(b @ b), 1e-12)
        return ua ** 2 + ub ** 2 <= 1.0
    inside = np.zeros(r.shape, dtype=bool)  # even-odd rule over the polygon's edges
    on_edge = np.zeros(r.shape, dtype=bool)  # voxels whose centre lies on the outline count as inside
    for (r0, c0), (r1, c1) in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (r0 > r) != (r1 > r)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (c1 - c0) * (r - r0) / (r1 - r0) + c0
        inside ^= crosses & (c < at)
        er, ec = r1 - r0, c1 - c0
        length2 = er * er + ec * ec
        t = np.clip(((r - r0) * er + (c - c0) * ec) / length2, 0.0, 1.0) if length2 > 0 else np.zeros(r.shape)
        on_edge |= np.hypot(r - (r0 + t * er), c - (c0 + t * ec)) < 1e-6
    return inside | on_edge


def _region_stats(image: Any, kind: str, vertices: np.ndarray) -> Optional[dict]:
    data = image.data[0] if getattr(image, "multiscale", False) else image.data
    shape = np.asarray(data.shape[: vertices.shape[1]])
    spread = np.ptp(vertices, axis=0)
    plane = [int(a) for a in np.argsort(-spread)[:2]]
    plane.sort()
    if spread[plane[1]] <= 0 or spread[plane[0]] <= 0:
        return None
    key: list = []
    for ax in range(vertices.shape[1]):
        if ax in plane:
            lo = max(int(math.floor(vertices[:, ax].min())), 0)
            hi = min(int(math.ceil(vertices[:, ax].max())) + 1, int(shape[ax]))
            if hi <= lo:
                return None
            key.append(slice(lo, hi))
        else:
            idx = int(round(float(vertices[0, ax])))
            if not 0 <= idx < shape[ax]:
                return None
            key.append(idx)
    values = np.asarray(data[tuple(key)])
    rows = np.arange(key[plane[0]].start, key[plane[0]].stop)
    cols = np.arange(key[plane[1]].start, key[plane[1]].stop)
    mask = _inside(kind, vertices[:, plane], rows, cols)
    picked = values[mask] if values.shape == mask.shape else np.empty(0)
    if picked.size == 0:
        return None
    picked = picked.astype(np.float64)
    return {"mean": float(picked.mean()), "std": float(picked.std()), "min": float(picked.min()),
            "max": float(picked.max())}


def shape_measurements(shapes: Any, image: Optional[Any] = None) -> dict[str, list]:
    """Measurement columns for every shape of ``shapes`` (NaN where a figure does not apply)."""
    cols: dict[str, list] = {k: [] for k in MEASURE_COLUMNS}
    unit = f" {value_unit(image)}".rstrip() if image is not None else ""
    for kind, vertices in zip(shapes.shape_type, shapes.data):
        vertices = np.asarray(vertices, dtype=float)
        world = _world(shapes, vertices)
        length = area = math.nan
        stats: Optional[dict] = None
        if kind in _OPEN:
            length = float(np.linalg.norm(np.diff(world, axis=0), axis=1).sum())
            label = f"{length:.1f} mm"
        else:
            area = _polygon_area(world)
            if kind == "ellipse":
                area *= math.pi / 4.0  # the vertices are the corners of the ellipse's bounding box
            if image is not None and kind in _CLOSED:
                stats = _region_stats(image, kind, vertices)
            label = f"{area:.1f} mm²"
            if stats is not None:
                label += f"  mean {stats['mean']:.1f} ± {stats['std']:.1f}{unit}"
        cols["label"].append(label)
        cols["length_mm"].append(length)
        cols["area_mm2"].append(area)
        for k in ("mean", "std", "min", "max"):
            cols[k].append(math.nan if stats is None else stats[k])
    return cols


def _target_image(viewer: Any) -> Any:
    from napari.layers import Image

    active = viewer.layers.selection.active
    if isinstance(active, Image):
        return active
    images = [lay for lay in viewer.layers if isinstance(lay, Image) and lay.visible]
    if not images:
        raise ValueError("measure: open an image first; measurements are taken on an image layer's grid")
    return images[-1]


def measure(viewer: Any, image: Optional[Any] = None, name: str = "measurements") -> Any:
    """Add a Shapes layer for measuring on ``image``.

    Lines and paths get ``length_mm``; rectangles, ellipses and polygons get ``area_mm2`` and the
    ``mean``, ``std``, ``min``, ``max`` of the image under them on their slice. The figures are the
    layer's features and its text labels, and follow every edit (drawing, moving, deleting).

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer to add the layer to.
    image : napari.layers.Image, optional
        The image measured on; its scale (spacing) and placement are the new layer's. Default: the
        active image layer, else the topmost visible one.
    name : str
        The new layer's name.

    Returns
    -------
    napari.layers.Shapes
        The measurement layer, added to ``viewer`` in line-drawing mode.

    Raises
    ------
    ValueError
        ``viewer`` holds no image layer to measure on.
    """
    from napari.layers import Shapes

    image = image if image is not None else _target_image(viewer)
    kwargs: dict[str, Any] = dict(ndim=image.ndim, scale=image.scale, translate=image.translate,
                                  rotate=image.rotate, shear=image.shear, affine=image.affine, name=name,
                                  features={k: np.empty(0, dtype=object if k == "label" else float)
                                            for k in MEASURE_COLUMNS})
    kwargs.update(measurement_style(image.name))
    units = getattr(image, "units", None)
    if units is not None:
        kwargs["units"] = units
    layer = Shapes(**kwargs)
    attach_measurements(viewer, layer, image)
    viewer.add_layer(layer)
    layer.mode = "add_line"
    return layer


_ATTACHED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def attach_measurements(viewer: Any, layer: Any, image: Optional[Any] = None) -> bool:
    """Keep a measuring layer's figures live: recomputed on every edit from the image it measures.

    ``image`` defaults to the viewer's image layer named in the layer's metadata (a measuring layer
    read from a file names the image it was saved with). Calling it again changes nothing; False
    when ``layer`` is no measuring layer or its image is not in ``viewer``.
    """
    from napari.layers import Image

    md = getattr(layer, "metadata", None) or {}
    if md.get("mlarray_role") != ROLE_MEASUREMENTS:
        return False
    if layer in _ATTACHED:
        return True
    if image is None:
        wanted = md.get(MEASURE_IMAGE_KEY)
        image = next((lay for lay in viewer.layers if isinstance(lay, Image) and lay.name == wanted), None)
        if image is None:
            return False
    image_ref = weakref.ref(image)

    def refresh(event: Any = None) -> None:
        if getattr(event, "action", "added") in ("adding", "removing", "changing"):
            return  # napari announces an edit before making it: the figures follow the edit itself
        layer.features = shape_measurements(layer, image_ref())
        layer.refresh_text()

    layer.events.data.connect(refresh)
    _ATTACHED.add(layer)
    if len(layer.data):
        refresh()
    return True
