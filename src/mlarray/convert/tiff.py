"""TIFF / OME-TIFF / ImageJ TIFF <-> :class:`ImageRecord` (via tifffile, imported lazily).

Axis order is tifffile's ``series.axes`` for the first series (e.g. ``ZYX``, ``TCZYX``,
``YXS``). Pixel size comes from OME ``PhysicalSize*`` (OME-TIFF), else from the ImageJ
``spacing``/``unit`` plus resolution tags, else from the resolution tags alone (inch and
centimetre converted to mm). TIFF has no world frame: origin is 0, direction identity,
``coord_system`` "unknown" (unless an mlarray-written TIFF says otherwise).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np

from .._errors import CorruptFileError
from .._untrusted.input_guard import check_decoded
from ..optpkg import optional_import
from ._record import ConversionError, ImageRecord, json_clean

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


def _tifffile():
    return optional_import("tifffile", feature="reading and writing TIFF", extra="convert")


def _norm_unit(unit) -> str | None:
    if unit is None:
        return None
    u = str(unit).strip()
    if u in ("\\u00B5m", "\u00b5m", "\u03bcm", "micron", "microns", "um"):
        return "µm"
    if u.lower() in ("pixel", "pixels", "", "none"):
        return None
    return u


def _ome_physical(xml: str) -> tuple[dict, dict]:
    """PhysicalSize{X,Y,Z} and units of the first OME Image; TimeIncrement as T."""
    sizes: dict = {}
    units: dict = {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return sizes, units
    pixels = None
    for el in root.iter():
        if el.tag.endswith("}Pixels") or el.tag == "Pixels":
            pixels = el
            break
    if pixels is None:
        return sizes, units
    for ax in "XYZ":
        v = pixels.get(f"PhysicalSize{ax}")
        if v is not None:
            try:
                sizes[ax] = float(v)
            except ValueError:
                continue
            units[ax] = _norm_unit(pixels.get(f"PhysicalSize{ax}Unit", "µm"))
    return sizes, units


def _resolution_spacing(page) -> tuple[dict, str | None]:
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


def _tags_to_source(page) -> dict:
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


def read_tiff(path, level_limit: int | None = None) -> ImageRecord:
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
        if tif.is_ome and tif.ome_metadata:
            fmt = "ome-tiff"
            source["ome_xml"] = tif.ome_metadata
            sizes, units = _ome_physical(tif.ome_metadata)
        elif tif.is_imagej and tif.imagej_metadata is not None:
            ij = {k: v for k, v in tif.imagej_metadata.items() if k not in ("LUTs", "Ranges", "ranges", "luts")}
            source["imagej_metadata"] = json_clean(ij)
            res, _ = _resolution_spacing(page)
            unit = _norm_unit(ij.get("unit"))
            sizes = dict(res)
            if ij.get("spacing") is not None:
                sizes["Z"] = float(ij["spacing"])
            units = {k: unit for k in sizes}
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
    axis_units = [units.get(a) for a in spatial_axes]
    if not any(axis_units):
        axis_units = None
    else:
        axis_units = [u or "" for u in axis_units]
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
        except (TypeError, ValueError):
            pass
    return ImageRecord(
        array=data, spacing=spacing, origin=origin, direction=direction, coord_system=coord_system,
        axis_labels=labels, axis_units=axis_units, source=source, source_format=fmt,
        levels=levels or None,
    )


def _axes_for(labels: list[str]) -> str:
    """TIFF axes letters for record labels; generic 'spatial' axes become ...ZYX from the end."""
    letters = [_LABEL_AXES.get(lab) for lab in labels]
    generic = [i for i, lab in enumerate(labels) if lab == "spatial"]
    free = [a for a in "XYZ" if a not in letters]
    for i in reversed(generic):
        letters[i] = free.pop(0) if free else "Q"
    return "".join(l or "Q" for l in letters)


def _ome_unit(unit: str | None) -> str | None:
    if unit is None or unit == "":
        return None
    return "µm" if unit in ("um", "micron", "\\u00B5m") else unit


def write_tiff(record: ImageRecord, path) -> None:
    """Write ``record`` as TIFF; OME-TIFF when ``path`` ends with ``.ome.tif``/``.ome.tiff``.

    Pixel size goes to OME ``PhysicalSize*`` (OME) and to the resolution tags (centimetre
    units when the axis unit is a length). Plain TIFFs also carry the full geometry as
    tifffile shaped metadata so that :func:`read_tiff` restores it exactly.
    ``record.levels`` are written as a SubIFD pyramid.
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
    units = {axes[i]: (record.axis_units[j] if record.axis_units and j < len(record.axis_units) else None)
             for j, i in enumerate(spatial)}
    ome = path.lower().endswith((".ome.tif", ".ome.tiff"))

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
        meta: dict = {"axes": axes}
        for ax, s in spacing.items():
            meta[f"PhysicalSize{ax}"] = s
            unit = _ome_unit(units.get(ax))
            if unit:
                meta[f"PhysicalSize{ax}Unit"] = unit
        kwargs.update(metadata=meta)
    else:
        geometry = {"spacing": [float(x) for x in record.spacing], "origin": [float(x) for x in record.origin],
                    "direction": np.asarray(record.direction, float).tolist(), "coord_system": record.coord_system,
                    "axis_labels": labels, "axis_units": record.axis_units}
        kwargs.update(metadata={"axes": axes, _MLARRAY_KEY: geometry})
    if resolution is not None:
        kwargs.update(resolution=resolution, resolutionunit=resolutionunit)
    levels = list(record.levels or [])
    photometric = "rgb" if axes.endswith("S") and data.shape[-1] in (3, 4) else "minisblack"
    try:
        with tifffile.TiffWriter(path, bigtiff=data.nbytes > 2**32 - 2**25, ome=ome, shaped=not ome) as tw:
            tile = (256, 256) if levels and data.shape[axes.index("Y")] >= 256 else None
            tw.write(data, subifds=len(levels) or None, photometric=photometric, tile=tile, **kwargs)
            for lvl in levels:
                lvl = np.asanyarray(lvl)
                tw.write(lvl, subfiletype=1, photometric=photometric,
                         tile=(256, 256) if tile and min(lvl.shape[-2:]) >= 256 else None)
    except Exception as exc:
        raise ConversionError(path, f"could not write TIFF ({type(exc).__name__}: {exc})") from exc
