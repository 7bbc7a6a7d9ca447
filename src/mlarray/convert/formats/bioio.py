"""Microscopy formats through installed ``bioio`` reader plugins -> :class:`ImageRecord`. Read only.

The last resort of the dispatch: a file no dedicated converter and no ITK ImageIO reads goes to
the first installed bioio plugin that supports it (bioio-czi for Zeiss CZI, bioio-nd2 for Nikon
ND2, bioio-lif for Leica LIF, bioio-dv for DeltaVision, ...).

One scene is read (``scene``, default the first), with bioio's mosaic reconstruction, in bioio's
dimension order (``T C Z Y X``, plus ``S`` for RGB samples) without its singleton ``T``/``C``/``Z``
padding (a single plane is a 2-D image). Physical pixel sizes become spacing (in the
unit the OME metadata names, else µm, the unit bioio plugins report), the time interval and the
channel names become the fields every microscopy reader fills (see ``_micro``). The plugin's
metadata is kept in ``source`` (OME-XML when the plugin provides OME, else the native metadata as
text/JSON).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import warnings
import xml.etree.ElementTree as ET
from types import ModuleType
from typing import Any, Iterator

import numpy as np

from ..._errors import CorruptFileError
from ..._types import PathLike
from ...optpkg import optional_import
from .._record import ConversionError, ImageRecord, json_clean
from . import _micro
from ._limits import check_declared_size

__all__ = ["read_bioio", "bioio_plugin"]

_LABELS = {"T": "temporal", "C": "channel", "Z": "spatial_z", "Y": "spatial_y", "X": "spatial_x", "S": "channel"}
_OME_UNITS = {"MICROMETER": "µm", "NANOMETER": "nm", "MILLIMETER": "mm", "CENTIMETER": "cm", "METER": "m",
              "ANGSTROM": "Å"}
_MAX_NATIVE_METADATA = 4 * 2**20  # characters of native metadata kept in source


def _bioio() -> ModuleType:
    # a reader plugin is needed too (e.g. bioio-nd2 for ND2): bioio's own error names the missing one
    return optional_import("bioio", feature="reading microscopy formats through bioio", extra="bioio")


def bioio_plugin(path: PathLike) -> str:
    """Name of the installed bioio plugin that reads ``path`` ("" if none or bioio is missing)."""
    try:
        bioio = _bioio()
    except ImportError:
        return ""
    try:
        entry = bioio.BioImage.determine_plugin(os.fspath(path))
    except Exception:  # bioio raises UnsupportedFileFormatError, or a plugin's own error
        return ""
    name = getattr(getattr(entry, "entrypoint", None), "name", "") or ""
    return "" if name == "ArrayLike" else name


def _open(path: str, plugin: str | None) -> tuple[Any, str]:
    bioio = _bioio()
    try:
        if plugin:
            from bioio.plugins import get_plugins

            entry = next((e for entries in get_plugins(use_cache=False).values() for e in entries
                          if e.entrypoint.name == plugin), None)
            if entry is None:
                raise ConversionError(path, f"bioio plugin {plugin!r} is not installed",
                                      f"pip install {plugin}")
            return bioio.BioImage(path, reader=entry.metadata.get_reader()), plugin
        entry = bioio.BioImage.determine_plugin(path)
        return bioio.BioImage(path, reader=entry.metadata.get_reader()), entry.entrypoint.name
    except ConversionError:
        raise
    except Exception as exc:
        if type(exc).__name__ == "UnsupportedFileFormatError":
            raise ConversionError(path, "no installed bioio plugin reads this file",
                                  "install the plugin for its format (see the README's format table)") from None
        raise CorruptFileError(path, f"bioio could not open it ({type(exc).__name__}: {exc})") from None


@contextlib.contextmanager
def _quiet_plugin_logs() -> Iterator[None]:
    """Plugins log tracebacks for metadata they cannot map (e.g. bioio-czi's scene names); the
    record does not need those fields, so their logging is muted while we ask for them."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _unit(img: Any, axis: str) -> str:
    """The unit of a spatial axis: the OME metadata's, else the plugin's, else bioio's µm."""
    return _ome_unit(img, axis) or _plugin_unit(img, axis) or "µm"


def _ome_unit(img: Any, axis: str) -> str | None:
    try:
        meta = img.metadata
        if not hasattr(meta, "images"):  # not OME: converting it to OME is slow and noisy
            return None
        px = meta.images[img.current_scene_index].pixels
        name = getattr(getattr(px, f"physical_size_{axis.lower()}_unit", None), "name", None)
    except Exception:  # a plugin's metadata that cannot be read: fall back
        return None
    return _OME_UNITS.get(name) if name is not None else None


def _plugin_unit(img: Any, axis: str) -> str | None:
    try:
        u = getattr(img.dimension_properties, axis).unit
    except Exception:  # plugins without dimension properties
        return None
    return u if isinstance(u, str) and u else None


def _native_metadata(img: Any) -> object:
    try:
        meta = img.metadata
    except Exception as exc:
        return {"unreadable": f"{type(exc).__name__}: {exc}"}
    if isinstance(meta, ET.Element):
        text = ET.tostring(meta, encoding="unicode")
    elif hasattr(meta, "to_xml"):
        text = meta.to_xml()
    else:
        return json_clean(meta)
    return text if len(text) <= _MAX_NATIVE_METADATA else {"truncated": text[:_MAX_NATIVE_METADATA]}


def _time_interval(img: Any, xdata: Any) -> float | None:
    """Seconds between time points, when the file states them (else None, as the TIFF reader says)."""
    try:
        meta = img.metadata
        if hasattr(meta, "images"):  # OME: TimeIncrement says it, or nothing does
            px = meta.images[img.current_scene_index].pixels
            unit = getattr(px.time_increment_unit, "value", px.time_increment_unit)
            return _micro.seconds(px.time_increment, unit or "s")
    except Exception:
        pass
    try:
        ti = img.time_interval
        if ti is not None:
            return _micro.seconds(ti.total_seconds() if hasattr(ti, "total_seconds") else ti)
    except Exception:
        pass
    if "T" in xdata.dims and xdata.sizes["T"] > 1 and "T" in xdata.coords:
        t = np.asarray(xdata.coords["T"].values, float)
        if np.array_equal(t, np.arange(t.size)):
            return None  # bioio numbers time points 0, 1, 2... when the file gives no times
        steps = np.diff(t)
        if steps.size and np.all(np.isfinite(steps)) and np.allclose(steps, steps[0]) and steps[0] > 0:
            return float(steps[0])
    return None


_DEFAULT_CHANNEL_NAME = re.compile(r"Channel:\d+:\d+")  # what bioio names a channel the file does not name


def read_bioio(path: PathLike, *, scene: int | str | None = None, plugin: str | None = None) -> ImageRecord:
    """Read one scene of any file an installed bioio plugin reads."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConversionError(path, "file does not exist", "check the path")
    img, plugin_name = _open(path, plugin)
    try:
        scenes = list(img.scenes)
        if scene is not None:
            img.set_scene(scene)
        native = str(img.reader.dims.order)
        check_declared_size(path, img.shape, np.dtype(img.dtype).itemsize, f"bioio ({plugin_name})")
        xdata = img.xarray_data
    except CorruptFileError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"bioio ({plugin_name}) could not read the image "
                                     f"({type(exc).__name__}: {exc})") from None
    dims = [str(d) for d in xdata.dims]
    data = np.asarray(xdata.values)
    # bioio pads every image to T C Z Y X (OME readers report all five natively too): singleton
    # T, C and Z axes are padding, and a single plane is a 2-D image for training and viewing
    drop = [i for i, d in enumerate(dims) if d in "TCZ" and data.shape[i] == 1]
    if drop:
        data = data.squeeze(axis=tuple(drop))
        dims = [d for i, d in enumerate(dims) if i not in drop]
    labels = [_LABELS.get(d, d) for d in dims]
    if "S" in dims and "C" in dims:
        labels[dims.index("S")] = "components"
    spatial = [d for d in dims if d in "ZYX"]
    sizes = img.physical_pixel_sizes
    spacing: list[float] = []
    known: list[str] = []
    for d in spatial:
        v = getattr(sizes, d, None)
        if v is not None and np.isfinite(v) and v > 0:
            spacing.append(float(v))
            known.append(d)
        else:
            spacing.append(1.0)
    with _quiet_plugin_logs():  # an axis without a pixel size has no unit (not 1 µm)
        units = {d: _unit(img, d) for d in known}
    extra: dict = _micro.time_fields(_time_interval(img, xdata)) if "T" in dims else {}
    # bioio reports time in seconds; the time axis has that unit once its interval is known
    time_unit = _micro.TIME_UNIT if _micro.TIME_INTERVAL in extra else None
    axis_units = _micro.axis_units(labels, [units.get(d) or (time_unit if d == "T" else None) for d in dims])
    try:
        names = [str(c) for c in img.channel_names] if "C" in dims else []
    except Exception:
        names = []
    if names and not all(_DEFAULT_CHANNEL_NAME.fullmatch(n) for n in names):
        extra.update(_micro.channel_fields(data.shape[dims.index("C")], names=names))
    try:
        with _quiet_plugin_logs():
            standard = json_clean(dataclasses.asdict(img.standard_metadata))
    except Exception:
        standard = None
    source = {"plugin": plugin_name, "scene": str(img.current_scene), "scenes": scenes, "dims": "".join(dims),
              "native_dims": native, "standard_metadata": standard, "metadata": _native_metadata(img)}
    return ImageRecord(
        array=data, spacing=spacing, origin=[0.0] * len(spatial), direction=np.eye(len(spatial)).tolist(),
        coord_system="unknown", axis_labels=labels, axis_units=axis_units, source=source,
        source_format=plugin_name, extra=extra or None,
    )
