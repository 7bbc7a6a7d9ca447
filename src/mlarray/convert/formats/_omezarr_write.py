""":class:`ImageRecord` -> OME-Zarr (NGFF 0.5 by default, or 0.4).

- Data: streamed. The arrays are laid out as ome-zarr-py lays them and filled region by region from
  ``record.array`` (numpy, or an ``.mla`` file's lazy level), each pyramid level built from the one
  before, so memory stays bounded by ``REGION_BYTES`` whatever the image size; the metadata is
  written by ome-zarr-py's metadata functions.

- Axes are put in NGFF order (time, channel, other, then 2-3 space axes; the permutation is
  recorded so that our reader restores the original order) and named; units become UDUNITS-2
  names ("µm" -> "micrometer"); an anatomical (RAS/LPS) image without units is in millimetres.
- Geometry: per written axis, ``scale`` = spacing and ``translation`` = the origin's world coordinate
  along the world axis that array axis runs on (an axis permutation, as in an axial CT stored z, y, x,
  is exact; a flipped axis gets a negative scale). NGFF 0.4/0.5 cannot rotate, so a rotated direction
  is written axis-aligned (with an
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
from types import ModuleType
from typing import Any, Sequence

import numpy as np
from numpy.typing import DTypeLike

from ..._data.chunks import iter_chunk_slices, working_chunk_shape
from ..._errors import MLArrayError
from ..._types import PathLike
from ...optpkg import optional_import
from ...pyramid import build_pyramid
from .._record import ConversionError, ImageRecord, json_clean
from . import _micro, _ngff
from ._output import replace_directory, scratch_dir

__all__ = ["write_omezarr"]

NGFF_VERSIONS = ("0.4", "0.5")
# Bytes of image data one copy step holds (the base region, or a pyramid level's input region).
REGION_BYTES = 8 * 2**20
_DEFAULT_COLORS = ("#ff0000", "#00ff00", "#0000ff", "#ff00ff", "#00ffff", "#ffff00", "#ffffff")


def _ome_zarr() -> tuple[ModuleType, ModuleType, ModuleType]:
    need = {"feature": "writing OME-Zarr", "extra": "omezarr"}
    return (optional_import("zarr", **need), optional_import("ome_zarr.writer", **need),
            optional_import("ome_zarr.format", **need))


class _NGFFView:
    """The record's array in NGFF axis order, read one region at a time (never whole).

    ``record.array`` may be numpy or any array read by slicing (an ``.mla`` file's lazy level).
    """

    def __init__(self, array: Any, order: list[int]) -> None:
        if not all(hasattr(array, a) for a in ("shape", "dtype", "__getitem__")):
            array = np.asanyarray(array)
        self._src, self._order = array, list(order)
        self.shape = tuple(int(array.shape[i]) for i in order)
        dtype = np.dtype(array.dtype)
        self.dtype = np.dtype(np.uint8) if dtype == np.bool_ else dtype  # NGFF has no boolean arrays

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        src_key = [slice(None)] * len(self._order)
        for pos, i in enumerate(self._order):
            src_key[i] = key[pos]
        block = np.asarray(self._src[tuple(src_key)])
        if self._order != list(range(len(self._order))):
            block = np.transpose(block, self._order)  # output axis pos is source axis order[pos]
        return block.astype(self.dtype, copy=False)


def _layout(record: ImageRecord, path: str) -> tuple[_NGFFView, list[dict], list[int], list[int], list[int]]:
    """The image in NGFF axis order (a region view), the NGFF axes (with units), the order used and the
    spatial positions."""
    ndim = len(np.shape(record.array))
    labels = list(record.axis_labels) or ["spatial"] * ndim
    if len(labels) != ndim:
        raise ConversionError(path, f"record has {ndim} axes but {len(labels)} axis labels")
    try:
        order, axes = _ngff.canonical_axes(labels)
    except _ngff.NGFFError as exc:
        raise ConversionError(path, str(exc), "drop or merge axes first (e.g. one file per channel group)") from None
    spatial_in = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    units = list(record.axis_units or [])
    per_axis = len(units) == ndim and len(units) != len(spatial_in)
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
    spatial_pos = [pos for pos, i in enumerate(order) if i in spatial_in]
    return _NGFFView(record.array, order), axes, order, spatial_pos, spatial_in


def _base_transform(record: ImageRecord, order: list[int], spatial_pos: list[int], spatial_in: list[int],
                    labels: list[str], path: str) -> tuple[np.ndarray, np.ndarray]:
    ndim = len(order)
    extra = record.extra or {}
    scale, shift = np.ones(ndim), np.zeros(ndim)
    d = np.asarray(record.direction, float)
    if d.shape[0] != len(spatial_in):
        raise ConversionError(path, f"world space has {d.shape[0]} dimensions but the image {len(spatial_in)} "
                                    "spatial axes", "OME-Zarr needs one world axis per spatial axis")
    aligned_scale, aligned_shift, exact = _ngff.axis_aligned(record.spacing, record.origin, d)
    # array spatial axis k (record order) <-> NGFF position
    for pos, i in enumerate(order):
        if i in spatial_in:
            k = spatial_in.index(i)
            scale[pos], shift[pos] = aligned_scale[k], aligned_shift[k]
        elif labels[i] == "temporal" and extra.get("time_interval"):
            scale[pos] = float(extra["time_interval"])
    if not exact:
        warnings.warn(f"{path}: OME-Zarr (NGFF 0.4/0.5) cannot express a rotated image; it is written "
                      "axis-aligned with scale = spacing and translation = the origin projected on each axis's "
                      "direction (other tools place it so; mlarray reads back the exact direction)",
                      _ngff.OMEZarrGeometryWarning, stacklevel=4)
    return scale, shift


def _create(target: Any, name: str, shape: Sequence[int], dtype: DTypeLike, axes: list[dict],
            spatial_pos: list[int], fmt: Any) -> Any:
    """An empty dataset laid out as ome-zarr-py lays its own: "/"-separated chunk keys for Zarr v2
    (NGFF 0.4), dimension names for Zarr v3 (NGFF 0.5)."""
    kw: dict = {"name": name, "shape": tuple(shape), "dtype": dtype, "chunks": _chunks(shape, spatial_pos)}
    if fmt.zarr_format == 2:
        kw["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    else:
        kw["dimension_names"] = [a["name"] for a in axes]
    return target.create_array(**kw)


def _fill(out: Any, view: _NGFFView, channel_pos: int | None) -> list[list[float]] | None:
    """Copy ``view`` into ``out`` one bounded region at a time; per-channel [min, max] on the way."""
    tile = working_chunk_shape(view.shape, view.dtype.itemsize, out.chunks, budget_bytes=REGION_BYTES)
    ranges: list[list[float]] | None = None
    if channel_pos is not None:
        ranges = [[np.inf, -np.inf] for _ in range(view.shape[channel_pos])]
    for region in iter_chunk_slices(view.shape, tile):
        block = view[region]
        out[region] = block
        if ranges is not None and channel_pos is not None and block.size:
            other = tuple(a for a in range(block.ndim) if a != channel_pos)
            lows, highs = block.min(axis=other), block.max(axis=other)
            for k, c in enumerate(range(*region[channel_pos].indices(view.shape[channel_pos]))):
                ranges[c] = [min(ranges[c][0], float(lows[k])), max(ranges[c][1], float(highs[k]))]
    return ranges


def _level_transforms(scale: np.ndarray, shift: np.ndarray, factors: list[tuple[float, ...]],
                      spatial_pos: list[int]) -> list[list[dict]]:
    out = [[{"type": "scale", "scale": [float(x) for x in scale]},
            {"type": "translation", "translation": [float(x) for x in shift]}]]
    for f in factors:
        s = [float(scale[a] * f[a]) for a in range(len(scale))]
        # a level voxel averages f base voxels: its centre sits (f - 1) / 2 base voxels further on
        t = [float(shift[a] + (f[a] - 1) / 2 * scale[a]) if a in spatial_pos else float(shift[a])
             for a in range(len(scale))]
        out.append([{"type": "scale", "scale": s}, {"type": "translation", "translation": t}])
    return out


def _chunks(shape: Sequence[int], spatial_pos: list[int]) -> tuple[int, ...]:
    edge = 64 if len(spatial_pos) == 3 else 512
    return tuple(min(n, edge) if a in spatial_pos else 1 for a, n in enumerate(shape))


def _omero(record: ImageRecord, n: int, dtype: np.dtype, ranges: list[list[float]]) -> dict:
    """``omero`` channels: the source's own block (OME-Zarr input), else names, colours and windows from
    ``extra``; a channel without a stored window shows its data range."""
    extra = record.extra or {}
    if record.source_format == "ome-zarr":
        attrs = record.source.get("attributes") if isinstance(record.source, dict) else None
        omero = _ngff.ome_attrs(attrs).get("omero") if isinstance(attrs, dict) else None
        if isinstance(omero, dict) and isinstance(omero.get("channels"), list) and len(omero["channels"]) == n:
            return json_clean(omero)
    fields = _micro.channel_fields(n, names=extra.get(_micro.CHANNEL_NAMES), colors=extra.get(_micro.CHANNEL_COLORS),
                                   windows=extra.get(_micro.CHANNEL_WINDOWS), visible=extra.get(_micro.CHANNEL_VISIBLE))
    names = fields.get(_micro.CHANNEL_NAMES)
    colors = fields.get(_micro.CHANNEL_COLORS)
    windows = fields.get(_micro.CHANNEL_WINDOWS)
    visible = fields.get(_micro.CHANNEL_VISIBLE)
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    channels = []
    for c in range(n):
        lo, hi = ranges[c] if np.isfinite(ranges[c]).all() else (0.0, 1.0)
        start, end = windows[c] if windows else (lo, hi)
        color = colors[c] if colors else _DEFAULT_COLORS[c % len(_DEFAULT_COLORS)]
        channels.append({
            "label": names[c] if names else f"channel {c}",
            "color": str(color).lstrip("#").upper(), "active": bool(visible[c]) if visible else True,
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


def _write_one(group: Any, record: ImageRecord, path: str, fmt: Any, writer: ModuleType, *, label_name: str | None,
               min_size: int) -> list[int]:
    view, axes, order, spatial_pos, spatial_in = _layout(record, path)
    labels = list(record.axis_labels) or ["spatial"] * view.ndim
    scale, shift = _base_transform(record, order, spatial_pos, spatial_in, labels, path)
    is_seg = bool(record.is_seg)
    target = group if label_name is None else group.require_group(f"labels/{label_name}")
    # The base is copied region by region and each level is built from the one before (as for
    # .mla pyramids), so memory stays bounded by REGION_BYTES whatever the image size.
    base = _create(target, "s0", view.shape, view.dtype, axes, spatial_pos, fmt)
    channel_pos = next((p for p, a in enumerate(axes) if a.get("type") == "channel"), None)
    ranges = _fill(base, view, channel_pos if label_name is None and not is_seg else None)
    info = build_pyramid(base, spatial_pos, is_seg=is_seg, min_size=min_size, budget_bytes=REGION_BYTES,
                         make_level=lambda k, shape, dtype: _create(target, f"s{k}", shape, dtype, axes,
                                                                    spatial_pos, fmt))
    transforms = _level_transforms(scale, shift, [tuple(lv["scale"]) for lv in info], spatial_pos)
    datasets = [{"path": f"s{k}", "coordinateTransformations": t} for k, t in enumerate(transforms)]
    metadata: dict = {"method": "mlarray.pyramid " + ("mode" if is_seg else "mean"), "version": "1"}
    # The transforms are set through write_multiscales_metadata, which takes each dataset's
    # transformations as they are (ome-zarr-py's ``scale`` argument has no translation).
    if label_name is None:
        if ranges is not None and channel_pos is not None:
            metadata["omero"] = _omero(record, view.shape[channel_pos], view.dtype, ranges)
        writer.write_multiscales_metadata(target, datasets, fmt=fmt, axes=axes, name=Path(path.rstrip("/")).name,
                                          metadata=metadata)
    else:
        writer.write_multiscales_metadata(target, datasets, fmt=fmt, axes=axes, name=label_name, metadata=metadata)
        writer.write_label_metadata(group["labels"], label_name, fmt=fmt,
                                    **_ngff.image_label_from_classes(record.classes))
    return order


def write_omezarr(record: ImageRecord, path: PathLike, *, ngff_version: str | None = None,
                  pyramid_min_size: int = 64) -> None:
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
    dtype = label.array.dtype if hasattr(label.array, "dtype") else np.asarray(label.array).dtype
    if not label.is_seg and np.dtype(dtype).kind not in "biu":
        raise ConversionError(path, f"label image {name!r} is not an integer label map",
                              "give segmentations (integer labels) as --labels")
