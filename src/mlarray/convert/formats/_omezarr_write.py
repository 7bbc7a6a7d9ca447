""":class:`ImageRecord` -> OME-Zarr (NGFF 0.5 by default, or 0.4) through ome-zarr-py's writer.

- Axes are put in NGFF order (time, channel, other, then 2-3 space axes; the permutation is
  recorded so that our reader restores the original order) and named; units become UDUNITS-2
  names ("µm" -> "micrometer"); an anatomical (RAS/LPS) image without units is in millimetres.
- Geometry: ``scale`` = spacing, ``translation`` = origin per dataset. NGFF 0.4/0.5 cannot rotate or
  flip, so a non-identity direction is written axis-aligned (with an
  :class:`~mlarray.convert.formats.omezarr.OMEZarrGeometryWarning`); the exact geometry,
  coord_system, extra, class table and the original ``source`` header are kept in the root
  attribute ``"mlarray"``, which our reader uses while the NGFF transforms still agree with it.
- Pyramid: spatial axes are halved (area mean for images, most frequent label for segmentations,
  as in ``.mla`` files) until each is at most ``pyramid_min_size``; each level's transforms
  place its voxel centres where the averaged voxels' centres are.
- Channels: ``omero`` names, colours and windows from ``extra`` (or, for a store that came from
  OME-Zarr, its own ``omero`` block).
- Labels: ``record.companions`` (segmentations) go to ``labels/<name>`` with ``image-label``
  colours and properties from their class tables; a segmentation written on its own carries its
  ``image-label`` at the root.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..._errors import MLArrayError
from .._record import ConversionError, ImageRecord, json_clean
from . import _ngff
from ._output import replace_directory, scratch_dir

__all__ = ["write_omezarr"]

NGFF_VERSIONS = ("0.4", "0.5")
_DEFAULT_COLORS = ("#ff0000", "#00ff00", "#0000ff", "#ff00ff", "#00ffff", "#ffff00", "#ffffff")


def _ome_zarr():
    try:
        import ome_zarr.format
        import ome_zarr.writer
        import zarr
    except ImportError as exc:
        raise ImportError("writing OME-Zarr needs zarr and ome-zarr: pip install 'mlarray[omezarr]'") from exc
    return zarr, ome_zarr.writer, ome_zarr.format


def _layout(record: ImageRecord, path: str):
    """Data in NGFF axis order, the NGFF axes (with units), the order used and the spatial positions."""
    data = np.asanyarray(record.array)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    if len(labels) != data.ndim:
        raise ConversionError(path, f"record has {data.ndim} axes but {len(labels)} axis labels")
    try:
        order, axes = _ngff.canonical_axes(labels)
    except _ngff.NGFFError as exc:
        raise ConversionError(path, str(exc), "drop or merge axes first (e.g. one file per channel group)") from None
    spatial_in = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    units = list(record.axis_units or [])
    per_axis = len(units) == data.ndim and len(units) != len(spatial_in)
    anatomical = (record.coord_system or "").upper().rstrip("+") in ("RAS", "LPS", "LAS")
    for pos, i in enumerate(order):
        if i in spatial_in:
            u = units[i] if per_axis else (units[spatial_in.index(i)] if len(units) == len(spatial_in) else None)
            ngff = _ngff.unit_to_ngff(u) or ("millimeter" if anatomical and not u else None)
        else:
            ngff = _ngff.unit_to_ngff(units[i]) if per_axis else None
            if ngff is None and labels[i] == "temporal" and (record.extra or {}).get("time_interval"):
                ngff = "second"
        if ngff:
            axes[pos]["unit"] = ngff
    if order != list(range(data.ndim)):
        data = np.transpose(data, order)
    spatial_pos = [pos for pos, i in enumerate(order) if i in spatial_in]
    return data, axes, order, spatial_pos, spatial_in


def _base_transform(record: ImageRecord, order, spatial_pos, spatial_in, labels, path: str):
    ndim = len(order)
    scale, shift = np.ones(ndim), np.zeros(ndim)
    d = np.asarray(record.direction, float)
    if d.shape[0] != len(spatial_in):
        raise ConversionError(path, f"world space has {d.shape[0]} dimensions but the image {len(spatial_in)} "
                                    "spatial axes", "OME-Zarr needs one world axis per spatial axis")
    # array spatial axis k (record order) <-> NGFF position
    for pos, i in enumerate(order):
        if i in spatial_in:
            k = spatial_in.index(i)
            scale[pos] = float(record.spacing[k])
            shift[pos] = float(record.origin[k]) if k < len(record.origin) else 0.0
        elif labels[i] == "temporal" and (record.extra or {}).get("time_interval"):
            scale[pos] = float(record.extra["time_interval"])
    # NGFF world axis j follows spatial array axis j; only a direction that maps each axis onto its
    # own world axis positively is expressible
    if not np.allclose(d, np.eye(d.shape[0]), atol=1e-9):
        warnings.warn(f"{path}: OME-Zarr (NGFF 0.4/0.5) cannot express a rotated or flipped image; it is "
                      "written axis-aligned with scale = spacing and translation = origin (other tools "
                      "place it so; mlarray reads back the exact direction)",
                      _ngff.OMEZarrGeometryWarning, stacklevel=4)
    return scale, shift


def _pyramid(data: np.ndarray, spatial_pos: list[int], is_seg: bool, min_size: int):
    from ...pyramid import build_pyramid

    levels: list[np.ndarray] = []

    def make_level(k, shape, dtype):
        levels.append(np.empty(shape, dtype))
        return levels[-1]

    info = build_pyramid(data, spatial_pos, is_seg=is_seg, make_level=make_level, min_size=min_size)
    return [data] + levels, [tuple(lv["scale"]) for lv in info]


def _level_transforms(scale, shift, factors, spatial_pos):
    out = [[{"type": "scale", "scale": [float(x) for x in scale]},
            {"type": "translation", "translation": [float(x) for x in shift]}]]
    for f in factors:
        s = [float(scale[a] * f[a]) for a in range(len(scale))]
        # a level voxel averages f base voxels: its centre sits (f - 1) / 2 base voxels further on
        t = [float(shift[a] + (f[a] - 1) / 2 * scale[a]) if a in spatial_pos else float(shift[a])
             for a in range(len(scale))]
        out.append([{"type": "scale", "scale": s}, {"type": "translation", "translation": t}])
    return out


def _chunks(shape, spatial_pos) -> tuple[int, ...]:
    edge = 64 if len(spatial_pos) == 3 else 512
    return tuple(min(n, edge) if a in spatial_pos else 1 for a, n in enumerate(shape))


def _omero(record: ImageRecord, data: np.ndarray, channel_pos: int | None) -> dict | None:
    if channel_pos is None:
        return None
    n = data.shape[channel_pos]
    extra = record.extra or {}
    if record.source_format == "ome-zarr":
        attrs = record.source.get("attributes") if isinstance(record.source, dict) else None
        omero = _ngff.ome_attrs(attrs).get("omero") if isinstance(attrs, dict) else None
        if isinstance(omero, dict) and isinstance(omero.get("channels"), list) and len(omero["channels"]) == n:
            return json_clean(omero)
    names = extra.get("channel_names") if isinstance(extra.get("channel_names"), list) else None
    colors = extra.get("channel_colors") if isinstance(extra.get("channel_colors"), list) else None
    windows = extra.get("channel_windows") if isinstance(extra.get("channel_windows"), list) else None
    info = np.iinfo(data.dtype) if data.dtype.kind in "iu" else None
    channels = []
    for c in range(n):
        plane = np.take(data, c, axis=channel_pos)
        lo, hi = (float(plane.min()), float(plane.max())) if plane.size else (0.0, 1.0)
        start, end = (windows[c] if windows and len(windows) == n else (lo, hi))
        color = colors[c] if colors and len(colors) == n else _DEFAULT_COLORS[c % len(_DEFAULT_COLORS)]
        channels.append({
            "label": str(names[c]) if names and len(names) == n else f"channel {c}",
            "color": str(color).lstrip("#").upper(), "active": True,
            "window": {"start": float(start), "end": float(end),
                       "min": float(info.min) if info else lo, "max": float(info.max) if info else hi},
        })
    return {"channels": channels, "rdefs": {"model": "color"}}


def _mlarray_attr(record: ImageRecord, order: list[int]) -> dict:
    return json_clean({
        "format": "mlarray geometry", "version": 1,
        "spacing": record.spacing, "origin": record.origin, "direction": record.direction,
        "coord_system": record.coord_system, "axis_labels": record.axis_labels, "axis_units": record.axis_units,
        "axis_order": order, "extra": record.extra or {}, "classes": record.classes,
        "source_format": record.source_format, "source": record.source if record.source_format != "ome-zarr" else {},
    })


def _write_one(group, record: ImageRecord, path: str, fmt, writer, *, label_name: str | None,
               min_size: int) -> list[int]:
    data, axes, order, spatial_pos, spatial_in = _layout(record, path)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    scale, shift = _base_transform(record, order, spatial_pos, spatial_in, labels, path)
    is_seg = bool(record.is_seg)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    pyramid, factors = _pyramid(data, spatial_pos, is_seg, min_size)
    transforms = _level_transforms(scale, shift, factors, spatial_pos)
    storage = [{"chunks": _chunks(lv.shape, spatial_pos)} for lv in pyramid]
    method = {"method": "mlarray.pyramid " + ("mode" if is_seg else "mean"), "version": "1"}
    # ome-zarr-py writes the arrays and the layout; the transforms (its ``coordinate_transformations``
    # argument is deprecated, and its ``scale`` has no translation) are then set through
    # write_multiscales_metadata, which takes each dataset's transformations as they are.
    if label_name is None:
        name = Path(path.rstrip("/")).name
        writer.write_multiscale(pyramid, group, fmt=fmt, axes=axes, storage_options=storage, name=name)
        target = group
        channel_pos = next((p for p, a in enumerate(axes) if a.get("type") == "channel"), None)
        omero = _omero(record, data, channel_pos) if not is_seg else None
        metadata = {**method, **({"omero": omero} if omero else {})}
    else:
        name = label_name
        label_meta = _ngff.image_label_from_classes(record.classes)
        writer.write_multiscale_labels(pyramid, group, label_name, fmt=fmt, axes=axes, storage_options=storage,
                                       label_metadata=label_meta or None)
        target = group["labels"][label_name]
        metadata = dict(method)
    written = _ngff.ome_attrs(dict(target.attrs))["multiscales"][0]["datasets"]
    datasets = [{"path": d["path"], "coordinateTransformations": t} for d, t in zip(written, transforms)]
    writer.write_multiscales_metadata(target, datasets, fmt=fmt, axes=axes, name=name, metadata=metadata)
    return order


def write_omezarr(record: ImageRecord, path, *, ngff_version: str | None = None, pyramid_min_size: int = 64) -> None:
    """Write ``record`` as an OME-Zarr store at ``path`` (replacing an existing store atomically)."""
    zarr, writer, formats = _ome_zarr()
    path = os.fspath(path).rstrip("/")
    version = str(ngff_version or "0.5")
    if version not in NGFF_VERSIONS:
        raise ConversionError(path, f"NGFF version {version!r} cannot be written", "use 0.4 or 0.5")
    fmt = formats.FormatV05() if version == "0.5" else formats.FormatV04()
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConversionError(path, "exists and is not a directory", "remove it or choose another name")
    with scratch_dir(path) as tmp:
        store = tmp / Path(path).name
        try:
            group = zarr.open_group(str(store), mode="w", zarr_format=fmt.zarr_format)
            order = _write_one(group, record, path, fmt, writer, label_name=None, min_size=pyramid_min_size)
            extra_attrs: dict = {"mlarray": _mlarray_attr(record, order)}
            if record.is_seg:
                label_meta = _ngff.image_label_from_classes(record.classes)
                image_label = {"version": version, **label_meta}
                if version == "0.5":
                    ome = dict(group.attrs.get("ome", {}))
                    ome["image-label"] = image_label
                    extra_attrs["ome"] = ome
                else:
                    extra_attrs["image-label"] = image_label
            group.attrs.update(extra_attrs)
            for name, companion in (record.companions or {}).items():
                _check_label_fits(companion, record, path, name)
                lorder = _write_one(group, companion, path, fmt, writer, label_name=str(name),
                                    min_size=pyramid_min_size)
                group["labels"][str(name)].attrs.update({"mlarray": _mlarray_attr(companion, lorder)})
        except (ConversionError, MLArrayError, ImportError):
            raise
        except Exception as exc:
            raise ConversionError(path, f"could not write OME-Zarr ({type(exc).__name__}: {exc})") from None
        replace_directory(store, path)


def _check_label_fits(label: ImageRecord, image: ImageRecord, path: str, name: str) -> None:
    """A label image must cover the image's spatial grid (NGFF labels share the image's space)."""
    li = [n for n, lab in zip(np.shape(label.array), label.axis_labels or []) if str(lab).startswith("spatial")]
    ii = [n for n, lab in zip(np.shape(image.array), image.axis_labels or []) if str(lab).startswith("spatial")]
    if li != ii:
        raise ConversionError(path, f"label image {name!r} has spatial shape {li}, the image {ii}",
                              "labels must be on the image's voxel grid")
    if not label.is_seg and np.asarray(label.array).dtype.kind not in "biu":
        raise ConversionError(path, f"label image {name!r} is not an integer label map",
                              "give segmentations (integer labels) as --labels")
