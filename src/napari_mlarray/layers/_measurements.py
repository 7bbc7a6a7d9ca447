"""Measurements kept with a file: the measuring Shapes layer <-> ``extra["measurements"]`` (plain JSON).

The record is written by the plugin's multi-layer save (``viewer.layers.save``, *Save as MLArray…*)
when a measuring layer (``napari_mlarray.measure``) is saved with an image, and read back into a
measuring layer when the file opens. It needs no napari to read: any JSON reader (or
``MLArray.open(path).meta.extra["measurements"]``) has it. Schema, version 1::

    extra["measurements"] = {
        "version": 1,
        "items": [
            {"type": "line",                      # line, path, rectangle, ellipse or polygon
             "points": [[x, y, z], ...],          # vertices in the file's world frame (spatial.coord_system
                                                  # letters, e.g. LPS; axis_units, mm), one value per spatial axis
             "at": {"temporal": 3},               # index on each non-spatial axis, by axis label (absent: none)
             "label": "136.3 mm",                 # the figures when saved (recomputed on open):
             "length_mm": 136.3, "area_mm2": null, "mean": null, "std": null, "min": null, "max": null},
        ],
    }

World coordinates, not voxel indices, so a measurement stays on the same anatomy when the image is
resampled or re-gridded and the record copied along. An ellipse's points are the corners of its
bounding box, as napari draws ellipses. No napari import at module level: the writer and the
reader map plain layer data tuples.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from mlarray.meta import Meta

from ._geometry import data_to_world_matrix, file_affine_from_world, label_str, world_rows

__all__ = ["MEASUREMENTS_KEY", "ROLE_MEASUREMENTS", "MEASURE_COLUMNS", "MEASURE_IMAGE_KEY", "measurement_style",
           "split_measurements", "store_measurements", "measurements_record", "measurements_layer"]

MEASUREMENTS_KEY = "measurements"
ROLE_MEASUREMENTS = "measurements"  # layer.metadata["mlarray_role"] of a measuring layer
MEASURE_IMAGE_KEY = "mlarray_measure_image"  # layer.metadata: the name of the image it measures
MEASURE_COLUMNS = ("label", "length_mm", "area_mm2", "mean", "std", "min", "max")
_TYPES = ("line", "path", "rectangle", "ellipse", "polygon")
_VERSION = 1


def measurement_style(image_name: str) -> dict:
    """Layer keyword arguments every measuring layer shares (made by ``measure`` or read from a file)."""
    return dict(edge_color="yellow", face_color="transparent", edge_width=1,
                text={"string": "{label}", "color": "yellow", "size": 10, "anchor": "upper_left"},
                metadata={"mlarray_role": ROLE_MEASUREMENTS, MEASURE_IMAGE_KEY: image_name})


def _is_measuring(ld: tuple) -> bool:
    return ld[2] == "shapes" and ((ld[1].get("metadata") or {}).get("mlarray_role") == ROLE_MEASUREMENTS)


def split_measurements(layer_data: list) -> tuple[list, list]:
    """``(other layers, measuring layers)`` of a writer's layer data tuples: measuring layers are no boxes."""
    return [ld for ld in layer_data if not _is_measuring(ld)], [ld for ld in layer_data if _is_measuring(ld)]


def _number(value: Any) -> Optional[float]:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def measurements_record(measured: list, image_state: dict) -> Optional[dict]:
    """The ``extra["measurements"]`` record of measuring layers saved with the image layer of ``image_state``.

    Each vertex goes through napari's world (the measuring layer's own transform) to the image
    layer's axes, so a measuring layer whose transform differs from the image's still lands right.
    """
    md = image_state.get("metadata") or {}
    mapping = md.get("mlarray")
    meta = Meta.from_mapping(mapping) if isinstance(mapping, dict) else Meta()
    items: list[dict] = []
    for data, state, _kind in measured:
        if not len(data):
            continue
        nd = np.asarray(data[0]).shape[1]
        to_world = data_to_world_matrix(state, nd)
        to_image = np.linalg.inv(data_to_world_matrix(image_state, nd)) @ to_world
        spatial, other = _layer_axes(meta, md, nd)
        s = len(spatial)
        to_file = file_affine_from_world(np.eye(s + 1), meta.spatial.coord_system, md.get("mlarray_world"),
                                         world_rows(meta))
        features = state.get("features")
        types = list(state.get("shape_type") or ["polygon"] * len(data))
        for i, (kind, vertices) in enumerate(zip(types, data)):
            if kind not in _TYPES:
                continue
            v = np.asarray(vertices, dtype=float)
            homog = np.c_[v, np.ones(len(v))]
            world = (to_world @ homog.T).T  # napari world, every layer axis
            index = (to_image @ homog.T).T  # image layer data coordinates
            pts = (to_file @ np.c_[world[:, spatial], np.ones(len(v))].T).T[:, :s]
            item: dict[str, Any] = {"type": kind, "points": [[float(x) for x in p] for p in pts]}
            if other:
                item["at"] = {label: int(round(float(index[0, pos]))) for pos, label in other}
            for col in MEASURE_COLUMNS:
                if features is not None and col in features and i < len(features[col]):
                    value = features[col].iloc[i] if hasattr(features[col], "iloc") else features[col][i]
                    item[col] = str(value) if col == "label" else _number(value)
            items.append(item)
    return {"version": _VERSION, "items": items} if items else None


def _layer_axes(meta: Meta, md: dict, nd: int) -> tuple[list[int], list[tuple[int, str]]]:
    """(spatial layer positions, [(non-spatial layer position, its axis label)]) of an image layer."""
    labels = [label_str(v) for v in (meta.spatial.axis_labels or [])]
    order = md.get("mlarray_axes")
    if not labels or not isinstance(order, list) or len(order) != nd:
        return list(range(nd)), []
    spatial, other = [], []
    for pos, axis in enumerate(order):
        label = labels[axis] if axis < len(labels) else "spatial"
        if label.startswith("spatial"):
            spatial.append(pos)
        else:
            other.append((pos, label))
    return spatial, other


def store_measurements(ml: Any, measured: list, image_state: dict) -> None:
    """Keep the measuring layers of a save in ``ml.meta.extra["measurements"]`` (no measuring layer
    in the save: the file keeps the record it had, as boxes do)."""
    if not measured:
        return
    record = measurements_record(measured, image_state)
    extra = {k: v for k, v in ml.meta.extra.items() if k != MEASUREMENTS_KEY}
    ml.meta.extra = {**extra, MEASUREMENTS_KEY: record} if record else extra


def measurements_layer(meta: Meta, order: list[int], transform: dict, image_name: str,
                       metadata: dict) -> Optional[tuple]:
    """A measuring Shapes layer data tuple for ``meta.extra["measurements"]`` on an image layer whose
    axes are the file's ``order`` with ``transform`` (its scale/translate/rotate/units); None without one.

    The vertices are the image layer's data coordinates, as ``measure`` makes them, so the live
    figures read the image under each shape.
    """
    record = meta.extra.get(MEASUREMENTS_KEY) if isinstance(meta.extra, dict) else None
    items = record.get("items") if isinstance(record, dict) else None
    affine = meta.spatial.affine
    if not isinstance(items, list) or not items or affine is None:
        return None
    aff = np.asarray(affine, dtype=float)
    s = aff.shape[0] - 1
    labels = [label_str(v) for v in (meta.spatial.axis_labels or [])]
    spatial_axes = [a for a in range(len(labels)) if labels[a].startswith("spatial")] if labels else list(range(s))
    if len(spatial_axes) != s:
        return None
    to_index = np.linalg.inv(aff)
    shapes, types = [], []
    columns: dict[str, list] = {k: [] for k in MEASURE_COLUMNS}
    for item in items:
        if not isinstance(item, dict) or item.get("type") not in _TYPES:
            continue
        try:
            pts = np.asarray(item.get("points"), dtype=float)
        except (TypeError, ValueError):
            continue
        if pts.ndim != 2 or pts.shape[1] != s or len(pts) < 2 or not np.isfinite(pts).all():
            continue
        at_value = item.get("at")
        at: dict = at_value if isinstance(at_value, dict) else {}
        index = (to_index @ np.c_[pts, np.ones(len(pts))].T).T[:, :s]  # spatial array indices
        full = np.zeros((len(pts), max(order) + 1 if order else 0))
        full[:, spatial_axes] = index
        for axis in order:
            if axis not in spatial_axes:
                label = labels[axis] if axis < len(labels) else str(axis)
                full[:, axis] = float(_number(at.get(label)) or 0.0)
        shapes.append(full[:, order])
        types.append(item["type"])
        for col in MEASURE_COLUMNS:
            value = item.get(col)
            columns[col].append(str(value if value is not None else "") if col == "label"
                                else (_number(value) if _number(value) is not None else math.nan))
    if not shapes:
        return None
    style = measurement_style(image_name)
    kwargs: dict[str, Any] = dict(transform)
    kwargs.update(style, name="measurements", shape_type=types, ndim=len(order),
                  features={k: np.asarray(v, dtype=object if k == "label" else float) for k, v in columns.items()},
                  metadata={**metadata, **style["metadata"]})
    return shapes, kwargs, "shapes"
