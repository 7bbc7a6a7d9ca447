"""OME-NGFF metadata <-> MLArray fields (pure Python: no zarr import).

NGFF 0.4 keeps its metadata in the group attributes (``multiscales[0]["version"]``), 0.5 under
``attributes["ome"]`` (``ome["version"]``). Geometry in NGFF 0.4/0.5 is per axis only::

    world[a] = ms_scale[a] * (ds_scale[a] * index[a] + ds_translation[a]) + ms_translation[a]

(dataset transformations first, then the optional multiscale-level ones), so an NGFF image has no
rotation: direction is diagonal (a negative scale flips an axis). Units are UDUNITS-2 names
("micrometer"); MLArray uses the short symbols ("µm"), mapped both ways.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._errors import MLArrayError
from . import _micro

__all__ = [
    "NGFFError", "OMEZarrGeometryWarning", "ome_attrs", "ngff_version", "axes_of", "axis_labels_for",
    "compose_transforms", "unit_from_ngff", "unit_to_ngff", "channels_from_omero", "classes_from_image_label",
    "image_label_from_classes", "canonical_axes", "axis_aligned",
]

_UNIT_TO_SHORT = {
    "angstrom": "Å", "nanometer": "nm", "micrometer": "µm", "millimeter": "mm", "centimeter": "cm",
    "meter": "m", "kilometer": "km", "inch": "in", "foot": "ft", "picometer": "pm",
    "second": "s", "millisecond": "ms", "microsecond": "µs", "nanosecond": "ns", "minute": "min",
    "hour": "h", "day": "d",
}
_SHORT_TO_UNIT = {v: k for k, v in _UNIT_TO_SHORT.items()}
_SHORT_TO_UNIT.update({"um": "micrometer", "micron": "micrometer", "microns": "micrometer", "μm": "micrometer",
                       "\\u00B5m": "micrometer", "us": "microsecond", "sec": "second", "msec": "millisecond",
                       "A": "angstrom", "mm": "millimeter", "meter": "meter"})
_TYPE_TO_LABEL = {"time": "temporal", "channel": "channel"}
_SPATIAL_NAMES = ("x", "y", "z")
_AXES_5D = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}, {"name": "z", "type": "space"},
            {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
_NAME_TYPES = {"x": "space", "y": "space", "z": "space", "c": "channel", "t": "time"}


class NGFFError(MLArrayError, ValueError):
    """The NGFF metadata cannot be interpreted; the message says which field and why (also a ``ValueError``)."""


class OMEZarrGeometryWarning(UserWarning):
    """Geometry that NGFF 0.4/0.5 cannot express (rotation, flips) was written axis-aligned.

    Declared here, beside the NGFF rules, so the OME-Zarr reader and writer both use it without importing
    each other; :mod:`mlarray.convert.formats.omezarr` re-exports it."""


def ome_attrs(attrs: dict) -> dict:
    """The NGFF metadata of a group: ``attrs["ome"]`` for 0.5, the attributes themselves before."""
    ome = attrs.get("ome")
    return ome if isinstance(ome, dict) else attrs


def ngff_version(attrs: dict) -> str | None:
    ome = attrs.get("ome")
    if isinstance(ome, dict) and ome.get("version"):
        return str(ome["version"])
    ms = attrs.get("multiscales")
    if isinstance(ms, list) and ms and isinstance(ms[0], dict) and ms[0].get("version"):
        return str(ms[0]["version"])
    return None


def axes_of(multiscale: dict, ndim: int) -> list[dict]:
    """The axes as dicts ``{name, type, unit}``, whatever NGFF version wrote them."""
    axes = multiscale.get("axes")
    if axes is None:  # 0.1 / 0.2: always (t, c, z, y, x), trailing axes kept for fewer dims
        if ndim > 5:
            raise NGFFError(f"multiscales.axes: missing, and the array has {ndim} > 5 dimensions")
        return [dict(a) for a in _AXES_5D[5 - ndim:]]
    if not isinstance(axes, list) or len(axes) != ndim:
        raise NGFFError(f"multiscales.axes: {len(axes) if isinstance(axes, list) else axes!r} axes for "
                        f"a {ndim}-dimensional array")
    out = []
    for a in axes:
        if isinstance(a, str):  # 0.3
            out.append({"name": a, "type": _NAME_TYPES.get(a.lower())})
        elif isinstance(a, dict):
            out.append({"name": str(a.get("name", "")), "type": a.get("type"), "unit": a.get("unit")})
        else:
            raise NGFFError(f"multiscales.axes: entry {a!r} is neither a name nor an object")
    return out


def axis_labels_for(axes: list[dict]) -> list[str]:
    """MLArray axis labels: ``spatial_x/y/z`` (or ``spatial``), ``temporal``, ``channel``, else the name."""
    labels = []
    for a in axes:
        name, kind = str(a.get("name") or ""), a.get("type")
        if kind == "space" or (kind is None and name.lower() in _SPATIAL_NAMES):
            low = name.lower()
            labels.append(f"spatial_{low}" if low in _SPATIAL_NAMES else "spatial")
        elif kind in _TYPE_TO_LABEL:
            labels.append(_TYPE_TO_LABEL[kind])
        elif kind is None and name.lower() in ("c", "t"):
            labels.append("channel" if name.lower() == "c" else "temporal")
        else:
            label = name or str(kind or "non_spatial")
            labels.append("non_spatial" if label.startswith("spatial") else label)
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):  # two axes called "z" would become two spatial_z
        if lab.startswith("spatial_") and lab in seen:
            labels[i] = "spatial"
        seen[lab] = i
    return labels


def _one_transform(t: Any, ndim: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(t, dict):
        raise NGFFError(f"{where}: {t!r} is not a transformation object")
    kind = t.get("type")
    if kind == "identity":
        return np.ones(ndim), np.zeros(ndim)
    if kind in ("scale", "translation"):
        if "path" in t and kind not in t:
            raise NGFFError(f"{where}: {kind} stored in a binary array ({t['path']!r}) is not supported")
        values = t.get(kind)
        try:
            v = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise NGFFError(f"{where}: {kind} {values!r} is not a list of numbers") from None
        if v.shape != (ndim,) or not np.all(np.isfinite(v)):
            raise NGFFError(f"{where}: {kind} {values!r} needs {ndim} finite numbers")
        return (v, np.zeros(ndim)) if kind == "scale" else (np.ones(ndim), v)
    raise NGFFError(f"{where}: transformation type {kind!r} is not one of identity, scale, translation")


def compose_transforms(lists: list[tuple[list | None, str]], ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and translation of ``index -> world`` after applying each list of transformations in turn."""
    scale, shift = np.ones(ndim), np.zeros(ndim)
    for transforms, where in lists:
        for t in transforms or []:
            s, tr = _one_transform(t, ndim, where)
            scale, shift = scale * s, shift * s + tr
    return scale, shift


def axis_aligned(spacing: Any, origin: Any, direction: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """NGFF ``scale`` and ``translation`` of each spatial array axis (record order) for a geometry, and
    whether they are exact.

    NGFF 0.4/0.5 have a scale and a translation per axis and no rotation. When each direction column
    is a signed world unit vector (an axis permutation, possibly with flips), array axis ``k`` runs
    along world axis ``w``: its scale is ``±spacing[k]`` (NGFF puts no sign constraint on scale;
    ome-zarr-py, napari and neuroglancer flip the axis) and its translation ``origin[w]``, so every
    voxel's NGFF coordinate along that axis is its true world coordinate. Otherwise (a rotation) each
    axis gets ``spacing[k]`` and the origin projected on its direction column, the nearest
    axis-aligned placement, and ``exact`` is False.
    """
    sp = np.asarray(spacing, float)
    org = np.asarray(origin, float)
    d = np.asarray(direction, float)
    n = sp.size
    if d.shape != (org.size, n):
        return sp.copy(), np.zeros(n), False
    world = np.argmax(np.abs(d), axis=0)
    sign = np.sign(d[world, np.arange(n)])
    signed_unit = np.zeros_like(d)
    signed_unit[world, np.arange(n)] = sign
    if len(set(world.tolist())) == n and np.allclose(d, signed_unit, atol=1e-9, rtol=0):
        return sign * sp, org[world], True
    return sp.copy(), d.T @ org, False


def unit_from_ngff(unit: Any) -> str | None:
    if not isinstance(unit, str) or not unit:
        return None
    return _UNIT_TO_SHORT.get(unit, unit)


def unit_to_ngff(unit: Any) -> str | None:
    if not isinstance(unit, str) or not unit:
        return None
    if unit in _UNIT_TO_SHORT:
        return unit
    return _SHORT_TO_UNIT.get(unit)


def channels_from_omero(omero: Any, n: int) -> dict:
    """``extra`` entries from the ``omero`` block: channel_names, channel_colors (#rrggbb), channel_windows and
    channel_visible (``active``)."""
    if not isinstance(omero, dict) or not isinstance(omero.get("channels"), list):
        return {}
    chans = [c if isinstance(c, dict) else {} for c in omero["channels"]]
    windows = []
    for c in chans:
        w = c.get("window")
        windows.append([w.get("start"), w.get("end")] if isinstance(w, dict) else None)
    return _micro.channel_fields(n, names=[c.get("label") for c in chans], colors=[c.get("color") for c in chans],
                                 windows=windows, visible=[c.get("active", True) for c in chans])


def classes_from_image_label(image_label: Any) -> list[dict] | None:
    """A class table from ``image-label`` colours and properties (label value 0, background, left out)."""
    if not isinstance(image_label, dict):
        return None
    entries: dict[int, dict] = {}
    for c in image_label.get("colors") or []:
        try:
            value = int(c["label-value"])
            rgba = [float(x) / 255.0 for x in c["rgba"]]
        except (TypeError, KeyError, ValueError):
            continue
        if len(rgba) == 4 and all(0 <= x <= 1 for x in rgba):
            entries.setdefault(value, {})["color"] = rgba
    for p in image_label.get("properties") or []:
        try:
            value = int(p["label-value"])
        except (TypeError, KeyError, ValueError):
            continue
        name = next((p[k] for k in ("class", "name", "label") if isinstance(p.get(k), str) and p[k]), None)
        if name is not None:
            entries.setdefault(value, {})["name"] = name
    out = []
    for value in sorted(entries):
        if value == 0:
            continue
        entry = {"id": value, "name": entries[value].get("name", f"label {value}")}
        if "color" in entries[value]:
            entry["color"] = entries[value]["color"]
        out.append(entry)
    return out or None


def image_label_from_classes(classes: list[dict] | None) -> dict:
    """``colors`` and ``properties`` for ``write_label_metadata`` from an MLArray class table."""
    colors, properties = [], []
    for c in classes or []:
        value = int(c["id"])
        properties.append({"label-value": value, "class": str(c["name"])})
        if c.get("color") is not None:
            colors.append({"label-value": value, "rgba": [int(round(float(x) * 255)) for x in c["color"]]})
    out: dict = {}
    if colors:
        out["colors"] = colors
    if properties:
        out["properties"] = properties
    return out


def canonical_axes(labels: list[str]) -> tuple[list[int], list[dict]]:
    """NGFF axis order for record axes, and the NGFF axes (without units).

    NGFF 0.4/0.5 allow 2 to 5 axes: at most one time axis first, then channel (or custom) axes,
    then 2 or 3 space axes. Returns ``order`` such that ``array.transpose(order)`` is in NGFF
    order. Generic ``spatial`` axes are named z, y, x from the end.
    """
    spatial = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    time = [i for i, lab in enumerate(labels) if lab == "temporal"]
    channel = [i for i, lab in enumerate(labels) if lab == "channel"]
    other = [i for i in range(len(labels)) if i not in spatial and i not in time and i not in channel]
    if not 2 <= len(spatial) <= 3:
        raise NGFFError(f"OME-Zarr needs 2 or 3 spatial axes; the image has {len(spatial)}")
    if len(time) > 1 or len(channel) > 1 or len(labels) > 5:
        raise NGFFError(f"OME-Zarr (NGFF 0.4/0.5) holds at most 5 axes with one time and one channel axis; "
                        f"the image has {len(labels)} axes: {labels}")
    # spatial axes sorted so that named ones land in z, y, x order; generic ones keep their order
    rank = {"spatial_z": 0, "spatial_y": 1, "spatial_x": 2}
    named = {labels[i] for i in spatial} - {"spatial"}
    if len(named) == len(spatial):
        spatial = sorted(spatial, key=lambda i: rank.get(labels[i], 3))
    order = time + channel + other + spatial
    names = {labels[i][len("spatial_"):] for i in spatial if labels[i] in rank}
    free = [n for n in ("x", "y", "z") if n not in names]
    axes: list[dict] = []
    spatial_names: dict[int, str] = {}
    for i in reversed(spatial):
        spatial_names[i] = labels[i][len("spatial_"):] if labels[i] in rank else free.pop(0)
    used = set(spatial_names.values())
    for i in order:
        if i in spatial_names:
            axes.append({"name": spatial_names[i], "type": "space"})
        elif i in time:
            axes.append({"name": "t", "type": "time"})
        elif i in channel:
            axes.append({"name": "c", "type": "channel"})
        else:
            name = str(labels[i]) or f"axis{i}"
            while name in used or name in ("t", "c"):
                name += "_"
            axes.append({"name": name, "type": "channel" if not channel and labels[i] == "components"
                         else str(labels[i])})
        used.add(axes[-1]["name"])
    return order, axes
