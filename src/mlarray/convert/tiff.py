"""TIFF / OME-TIFF / ImageJ TIFF <-> :class:`ImageRecord` (via tifffile, imported lazily).

Axis order is tifffile's ``series.axes`` for the first series (e.g. ``ZYX``, ``TCZYX``,
``YXS``). Pixel size comes from OME ``PhysicalSize*`` (OME-TIFF), else from the ImageJ
``spacing``/``unit`` plus resolution tags, else from the resolution tags alone (inch and
centimetre converted to mm). TIFF has no world frame: origin is 0, direction identity,
``coord_system`` "unknown" (unless an mlarray-written TIFF says otherwise). OME channel names and
colours and ``TimeIncrement``, and ImageJ ``finterval``, ``LUTs`` and ``Ranges``, become the fields
every microscopy reader fills (``formats/_micro.py``).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import DTypeLike

from .._errors import CorruptFileError
from .._types import PathLike
from .._untrusted.input_guard import check_decoded
from ..optpkg import optional_import
from ..pyramid import build_pyramid
from ._record import ConversionError, ImageRecord, json_clean
from .formats import _micro

__all__ = ["read_tiff", "write_tiff"]

_AXIS_LABELS = {"X": "spatial_x", "Y": "spatial_y", "Z": "spatial_z", "C": "channel", "S": "channel",
                "T": "temporal"}
_LABEL_AXES = {"spatial_x": "X", "spatial_y": "Y", "spatial_z": "Z", "channel": "C", "temporal": "T"}
# Tags that are large binary bookkeeping, not metadata.
_SKIP_TAGS = {"StripOffsets", "StripByteCounts", "TileOffsets", "TileByteCounts", "JPEGTables",
              "ICCProfile", "XMP", "ImageJMetaData", "ImageJMetaDataByteCounts", "ColorMap", "IPTCNAA",
              "Photoshop", "SubIFDs"}
_UNIT_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": 25.4, "µm": 1e-3, "um": 1e-3, "micron": 1e-3,
               "nm": 1e-6}
_MLARRAY_KEY = "mlarray"


def _tifffile() -> ModuleType:
    return optional_import("tifffile", feature="reading and writing TIFF", extra="convert")


def _norm_unit(unit: object) -> str | None:
    if unit is None:
        return None
    u = str(unit).strip()
    if u in ("\\u00B5m", "\u00b5m", "\u03bcm", "micron", "microns", "um"):
        return "µm"
    if u.lower() in ("pixel", "pixels", "", "none"):
        return None
    return u


def _resolution_spacing(page: Any) -> tuple[dict, str | None]:
    """Pixel size from X/YResolution (pixels per unit) and ResolutionUnit."""
    try:
        xres, yres = page.resolution
        unit = int(page.resolutionunit)
    except Exception:
        return {}, None
    if not xres or not yres:
        return {}, None
    sizes = {"X": 1.0 / float(xres), "Y": 1.0 / float(yres)}
    if unit == 2:  # inch
        return {k: v * 25.4 for k, v in sizes.items()}, "mm"
    if unit == 3:  # centimetre
        return {k: v * 10.0 for k, v in sizes.items()}, "mm"
    return sizes, None


def _imagej_channels(ij: dict) -> dict:
    """Channel colours (each LUT's brightest entry) and display windows (``Ranges``) of a hyperstack."""
    out: dict = {}
    luts = ij.get("LUTs")
    if isinstance(luts, (list, tuple)) and luts:
        try:
            out["colors"] = ["#" + "".join(f"{int(v):02x}" for v in np.asarray(lut)[:3, -1]) for lut in luts]
        except (TypeError, ValueError, IndexError):
            pass
    ranges = ij.get("Ranges")
    if isinstance(ranges, (list, tuple)) and ranges and len(ranges) % 2 == 0:
        out["windows"] = [list(ranges[i:i + 2]) for i in range(0, len(ranges), 2)]
    return out


def _tags_to_source(page: Any) -> dict:
    out = {}
    for tag in page.tags:
        if tag.name in _SKIP_TAGS:
            continue
        value = tag.value
        if isinstance(value, (bytes, bytearray)) and len(value) > 4096:
            continue
        if isinstance(value, (tuple, list, np.ndarray)) and len(value) > 1024:
            continue
        if hasattr(value, "name") and hasattr(value, "value"):  # IntEnum
            value = value.name
        out[tag.name] = json_clean(value)
    return out


def read_tiff(path: PathLike, level_limit: int | None = None) -> ImageRecord:
    """Read the first series of a TIFF file (all pyramid levels: base -> ``array``, rest -> ``levels``)."""
    tifffile = _tifffile()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConversionError(path, "file does not exist", "check the path")
    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise CorruptFileError(path, f"not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
    with tif:
        if not tif.series:
            raise CorruptFileError(path, "TIFF file holds no image series")
        series = tif.series[0]
        axes = series.axes.upper()
        check_decoded(path, sum(int(lvl.nbytes) for lvl in series.levels), "the TIFF series (all levels)")
        try:
            data = series.asarray()
            levels = [lvl.asarray() for lvl in series.levels[1:]]
        except Exception as exc:
            raise CorruptFileError(path, f"TIFF image data could not be decoded ({type(exc).__name__}: {exc})") from exc
        if level_limit is not None:
            levels = levels[:level_limit]
        page = series.pages[0] if series.pages and series.pages[0] is not None else tif.pages[0]
        page = getattr(page, "keyframe", page)
        source: dict = {"axes": axes, "tags": _tags_to_source(page), "series_count": len(tif.series)}
        sizes: dict = {}
        units: dict = {}
        fmt = "tiff"
        geometry = None
        shaped = tif.shaped_metadata if tif.is_shaped else None
        if shaped and isinstance(shaped[0], dict) and isinstance(shaped[0].get(_MLARRAY_KEY), dict):
            geometry = shaped[0][_MLARRAY_KEY]
            source["shaped_metadata"] = json_clean(shaped[0])
        channels: dict = {}  # names / colors / windows as the source spells them
        interval = None
        if tif.is_ome and tif.ome_metadata:
            fmt = "ome-tiff"
            source["ome_xml"] = tif.ome_metadata
            ome = _micro.ome_pixels(tif.ome_metadata)
            sizes = ome["sizes"]
            units = {k: _norm_unit(u) for k, u in ome["units"].items()}
            interval = ome["time_interval"]
            channels = {"names": ome["channel_names"], "colors": ome["channel_colors"]}
        elif tif.is_imagej and tif.imagej_metadata is not None:
            raw = tif.imagej_metadata
            ij = {k: v for k, v in raw.items() if k not in ("LUTs", "Ranges", "ranges", "luts")}
            source["imagej_metadata"] = json_clean(ij)
            res, _ = _resolution_spacing(page)
            unit = _norm_unit(ij.get("unit"))
            sizes = dict(res)
            if ij.get("spacing") is not None:
                sizes["Z"] = float(ij["spacing"])
            units = {k: unit for k in sizes}
            interval = _micro.seconds(ij.get("finterval"), ij.get("tunit", "s"))
            channels = _imagej_channels(raw)
        else:
            res, unit = _resolution_spacing(page)
            sizes = res
            units = {k: unit for k in res}
            if shaped:
                source.setdefault("shaped_metadata", json_clean(shaped[0]))
        if levels:
            source["level_shapes"] = [list(lvl.shape) for lvl in levels]

    labels = [_AXIS_LABELS.get(a, "other") for a in axes]
    if axes.count("S") and axes.count("C"):
        labels = ["components" if a == "S" else lab for a, lab in zip(axes, labels)]
    spatial = [i for i, lab in enumerate(labels) if lab.startswith("spatial")]
    spatial_axes = [axes[i] for i in spatial]
    spacing = [float(sizes.get(a, 1.0)) for a in spatial_axes]
    extra = _micro.time_fields(interval) if "T" in axes else {}
    time_unit = _micro.TIME_UNIT if extra else None
    axis_units = _micro.axis_units(labels, [units.get(a) if i in spatial else (time_unit if a == "T" else None)
                                            for i, a in enumerate(axes)])
    channel_axis = next((i for i, lab in enumerate(labels) if lab == "channel"), None)
    if channel_axis is not None and channels:
        extra.update(_micro.channel_fields(data.shape[channel_axis], **channels))
    origin = [0.0] * len(spatial)
    direction = np.eye(len(spatial)).tolist()
    coord_system = "unknown"
    if geometry is not None:  # written by write_tiff: exact geometry survives
        try:
            if len(geometry.get("spacing", [])) == len(spatial):
                spacing = [float(x) for x in geometry["spacing"]]
                origin = [float(x) for x in geometry.get("origin", origin)]
                direction = [[float(v) for v in row] for row in geometry.get("direction", direction)]
                coord_system = str(geometry.get("coord_system", coord_system))
                if geometry.get("axis_units"):
                    axis_units = list(geometry["axis_units"])
                if isinstance(geometry.get("extra"), dict):
                    extra = {**extra, **geometry["extra"]}
        except (TypeError, ValueError):
            pass
    return ImageRecord(
        array=data, spacing=spacing, origin=origin, direction=direction, coord_system=coord_system,
        axis_labels=labels, axis_units=axis_units, source=source, source_format=fmt,
        levels=levels or None, extra=extra or None,
    )


def _axes_for(labels: list[str]) -> str:
    """TIFF axes letters for record labels; generic 'spatial' axes become ...ZYX from the end."""
    letters = [_LABEL_AXES.get(lab) for lab in labels]
    generic = [i for i, lab in enumerate(labels) if lab == "spatial"]
    free = [a for a in "XYZ" if a not in letters]
    for i in reversed(generic):
        letters[i] = free.pop(0) if free else "Q"
    return "".join(letter or "Q" for letter in letters)


def _ome_unit(unit: str | None) -> str | None:
    if unit is None or unit == "":
        return None
    return "µm" if unit in ("um", "micron", "\\u00B5m") else unit


_OME_ORDER = "TCZYXS"


def _ome_axes(axes: str, path: str) -> list[int] | None:
    """The transpose that puts ``axes`` in an order OME-TIFF can state (None: already one).

    OME-XML's DimensionOrder takes T, C and Z in any order before Y and X (then RGB samples);
    other axes have no OME dimension.
    """
    if any(a not in _OME_ORDER for a in axes) or len(set(axes)) != len(axes):
        raise ConversionError(path, f"OME-TIFF has only T, C, Z, Y, X (and RGB samples) dimensions; the image's "
                                    f"axes are {axes!r}", "write a plain .tif (it keeps any axes), or .ome.zarr")
    if axes.rstrip("S").endswith("YX") and "S" not in axes.rstrip("S"):
        return None
    return sorted(range(len(axes)), key=lambda i: _OME_ORDER.index(axes[i]))


def _ome_metadata(record: ImageRecord, axes: str, spacing: dict, units: dict, shape: Sequence[int]) -> dict:
    """OME-XML Pixels/Channel metadata: physical sizes, time increment, channel names and colours."""
    meta: dict = {"axes": axes}
    for ax, size in spacing.items():
        meta[f"PhysicalSize{ax}"] = size
        unit = _ome_unit(units.get(ax))
        if unit:
            meta[f"PhysicalSize{ax}Unit"] = unit
    extra = record.extra or {}
    if "T" in axes and _micro.time_fields(extra.get(_micro.TIME_INTERVAL)):
        meta["TimeIncrement"] = float(extra[_micro.TIME_INTERVAL])
        meta["TimeIncrementUnit"] = _micro.TIME_UNIT
    if "C" in axes:
        n = shape[axes.index("C")]
        fields = _micro.channel_fields(n, names=extra.get(_micro.CHANNEL_NAMES),
                                       colors=extra.get(_micro.CHANNEL_COLORS))
        channel: dict = {}
        if _micro.CHANNEL_NAMES in fields:
            channel["Name"] = fields[_micro.CHANNEL_NAMES]
        if _micro.CHANNEL_COLORS in fields:
            channel["Color"] = [_micro.hex_to_ome_color(c) for c in fields[_micro.CHANNEL_COLORS]]
        if channel:
            meta["Channel"] = channel
    return meta


def _subifd_levels(levels: list, base_shape: Sequence[int], axes: str, order: Optional[Sequence[int]]) -> list:
    """Pyramid levels that fit OME-TIFF SubIFDs: only Y and X smaller, every other axis as in the base.

    A 3-D ``.mla`` pyramid also halves Z; such levels have no SubIFD form and are left out.
    """
    out = []
    keep = [i for i, a in enumerate(axes) if a not in "YX"]
    for lvl in levels:
        shape = tuple(lvl.shape) if order is None else tuple(lvl.shape[i] for i in order)
        if len(shape) != len(base_shape) or any(shape[i] != base_shape[i] for i in keep):
            break
        out.append(lvl)
    return out


def _yx_pyramid(data: np.ndarray, yx: list[int], is_seg: bool, max_levels: int) -> list[np.ndarray]:
    """Levels halving only Y and X (as SubIFDs must), by the same downsampling as ``.mla`` pyramids."""

    out: list[np.ndarray] = []

    def make_level(k: int, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        out.append(np.empty(shape, dtype))
        return out[-1]

    build_pyramid(data, yx, is_seg=is_seg, make_level=make_level, min_size=256, max_levels=max_levels)
    return out


def write_tiff(record: ImageRecord, path: PathLike) -> None:
    """Write ``record`` as TIFF; OME-TIFF when ``path`` ends with ``.ome.tif``/``.ome.tiff``.

    Pixel size goes to OME ``PhysicalSize*`` (OME) and to the resolution tags (centimetre
    units when the axis unit is a length). OME-TIFF also gets the time increment, channel
    names and colours, with the axes in an order OME can state. Plain TIFFs carry the full
    geometry and the microscopy fields as tifffile shaped metadata so that :func:`read_tiff`
    restores them exactly. ``record.levels`` are written as a SubIFD pyramid (rebuilt in Y and X
    only when they also shrink other axes, which SubIFDs cannot).
    """
    tifffile = _tifffile()
    path = os.fspath(path)
    data = np.asanyarray(record.array)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    if len(labels) != data.ndim:
        raise ConversionError(path, f"record has {data.ndim} axes but {len(labels)} axis labels")
    axes = _axes_for(labels)
    spatial = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    spacing = {axes[i]: float(record.spacing[j]) for j, i in enumerate(spatial)}
    units = _spatial_units(record, labels, spatial, axes)
    ome = path.lower().endswith((".ome.tif", ".ome.tiff"))
    order = None
    if ome:
        order = _ome_axes(axes, path)
        if order is not None:
            data = np.transpose(data, order)
            axes = "".join(axes[i] for i in order)

    resolution = None
    resolutionunit = None
    if "X" in spacing and "Y" in spacing and spacing["X"] > 0 and spacing["Y"] > 0:
        ux = _UNIT_TO_MM.get(str(units.get("X")).replace("\u00b5m", "µm")) if units.get("X") else None
        if ux is not None and units.get("X") == units.get("Y"):
            cm = ux / 10.0  # unit length in cm
            resolution = (1.0 / (spacing["X"] * cm), 1.0 / (spacing["Y"] * cm))
            resolutionunit = "CENTIMETER"
        else:
            resolution = (1.0 / spacing["X"], 1.0 / spacing["Y"])
            resolutionunit = "NONE"

    kwargs: dict = {}
    if ome:
        kwargs.update(metadata=_ome_metadata(record, axes, spacing, units, data.shape))
    else:
        micro = {k: v for k, v in (record.extra or {}).items()
                 if k in (_micro.CHANNEL_NAMES, _micro.CHANNEL_COLORS, _micro.CHANNEL_WINDOWS, _micro.TIME_INTERVAL)}
        geometry = {"spacing": [float(x) for x in record.spacing], "origin": [float(x) for x in record.origin],
                    "direction": np.asarray(record.direction, float).tolist(), "coord_system": record.coord_system,
                    "axis_labels": labels, "axis_units": record.axis_units, "extra": json_clean(micro)}
        kwargs.update(metadata={"axes": axes, _MLARRAY_KEY: geometry})
    if resolution is not None:
        kwargs.update(resolution=resolution, resolutionunit=resolutionunit)
    levels = _subifd_levels(list(record.levels or []), data.shape, axes, order)
    yx = [axes.index("Y"), axes.index("X")] if "Y" in axes and "X" in axes else None
    if record.levels and not levels and yx:  # a volume pyramid (Z halved too): rebuild it in Y and X only
        levels = _yx_pyramid(data, yx, bool(record.is_seg), len(record.levels))
        order = None  # built from the already transposed data
    photometric = "rgb" if axes.endswith("S") and data.shape[-1] in (3, 4) else "minisblack"
    try:
        with tifffile.TiffWriter(path, bigtiff=data.nbytes > 2**32 - 2**25, ome=ome, shaped=not ome) as tw:
            tile = (256, 256) if levels and yx and min(data.shape[a] for a in yx) >= 256 else None
            tw.write(data, subifds=len(levels) or None, photometric=photometric, tile=tile, **kwargs)
            for lvl in levels:
                lvl = np.asarray(lvl)
                if order is not None:
                    lvl = np.transpose(lvl, order)
                small = min(lvl.shape[a] for a in yx) < 256 if yx else True
                tw.write(lvl, subfiletype=1, photometric=photometric, tile=None if small or not tile else tile)
    except Exception as exc:
        raise ConversionError(path, f"could not write TIFF ({type(exc).__name__}: {exc})") from exc


def _spatial_units(record: ImageRecord, labels: list[str], spatial: list[int], axes: str) -> dict:
    """Unit per spatial axis letter, whether ``axis_units`` lists the spatial axes or every axis."""
    units = list(record.axis_units or [])
    if len(units) == len(labels) and len(units) != len(spatial):
        return {axes[i]: units[i] or None for i in spatial}
    return {axes[i]: (units[j] or None if j < len(units) else None) for j, i in enumerate(spatial)}
