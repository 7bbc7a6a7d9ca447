"""OME-Zarr (OME-NGFF 0.4 and 0.5; 0.1-0.3 read) <-> :class:`ImageRecord` (zarr, ome-zarr-py).

Reading uses zarr directly (the metadata is JSON that zarr already parses); writing goes through
ome-zarr-py's writer, which lays out the groups, arrays and metadata of each NGFF version.

In: the first multiscale image of the store (or of series ``series`` in a bioformats2raw
layout). Dataset 0 becomes the array and the other datasets the stored pyramid (``levels``);
axes become axis labels and units; the composed scale/translation of dataset 0 becomes spacing
and origin (direction diagonal; world axes in array order, ``coord_system`` "unknown" because
NGFF names no anatomical frame); ``omero`` channels give ``extra["channel_names"]``,
``channel_colors`` and ``channel_windows``; every image under ``labels/`` becomes a companion
segmentation record (``record.companions[name]``) with a class table from its ``image-label``
colours and properties. The group attributes are kept verbatim in ``source["attributes"]``.

Out: see :func:`write_omezarr` (module ``_omezarr_write``).
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Any, Optional, Sequence

import numpy as np

from ..._errors import CorruptFileError
from ..._types import PathLike
from ...optpkg import optional_import
from .._record import ConversionError, ImageRecord, json_clean
from . import _micro, _ngff
from ._limits import check_declared_size
from ._ngff import OMEZarrGeometryWarning
from ._omezarr_write import write_omezarr as _write

__all__ = ["read_omezarr", "write_omezarr", "is_zarr_store", "label_names", "OMEZarrGeometryWarning"]

_MLARRAY_ATTR = "mlarray"


def _zarr() -> ModuleType:
    return optional_import("zarr", feature="reading and writing OME-Zarr", extra="omezarr")


def is_zarr_store(path: PathLike) -> bool:
    """A directory holding Zarr v2 or v3 group metadata (or named ``*.zarr``)."""
    p = os.fspath(path).rstrip("/")
    if p.lower().endswith(".zarr"):
        return True
    return os.path.isdir(p) and any(os.path.isfile(os.path.join(p, f)) for f in ("zarr.json", ".zgroup", ".zattrs"))


def _open_group(path: str) -> Any:
    zarr = _zarr()
    try:
        return zarr.open_group(path, mode="r")
    except FileNotFoundError:
        raise ConversionError(path, "does not exist", "check the path") from None
    except Exception as exc:
        raise CorruptFileError(path, f"not a readable Zarr group ({type(exc).__name__}: {exc})") from None


def _attrs(group: Any) -> dict:
    try:
        return json_clean(dict(group.attrs))
    except Exception as exc:  # pragma: no cover - damaged attribute JSON
        raise CorruptFileError(str(group.store), f"group attributes are unreadable ({exc})") from None


def _find_image(group: Any, path: str, series: int) -> tuple[Any, str]:
    """The multiscale image group to read (and its path inside the store)."""
    attrs = _attrs(group)
    ome = _ngff.ome_attrs(attrs)
    if "multiscales" in ome:
        return group, ""
    if "plate" in ome or "well" in ome:
        first = _first_field(group, ome)
        raise ConversionError(path, "is an HCS plate or well (many images), not one image",
                              f"convert one field, e.g. {os.path.join(path, first)}" if first
                              else "convert one field image of it")
    if "bioformats2raw.layout" in ome:
        key = str(series)
        if key not in group:
            raise ConversionError(path, f"bioformats2raw layout has no series {key!r}",
                                  f"series present: {sorted(k for k in group.keys() if k.isdigit())}")
        return group[key], key
    if "labels" in ome:
        raise ConversionError(path, "is the labels group of an OME-Zarr image",
                              "convert the image store above it (its labels come along), or one label image "
                              "inside this group")
    raise ConversionError(path, "holds no OME-Zarr multiscale image (no 'multiscales' metadata)",
                          "point at the image group of the store")


def _first_field(group: Any, ome: dict) -> str | None:
    try:
        if "plate" in ome:
            well = ome["plate"]["wells"][0]["path"]
            sub = _ngff.ome_attrs(_attrs(group[well]))
            return f"{well}/{sub['well']['images'][0]['path']}"
        return str(ome["well"]["images"][0]["path"])
    except Exception:
        return None


def read_omezarr(path: PathLike, *, series: int = 0, labels: bool = True) -> ImageRecord:
    """Read an OME-Zarr image (and, with ``labels``, its label images as ``record.companions``)."""
    path = os.fspath(path)
    root = _open_group(path)
    group, image_path = _find_image(root, path, series)
    record = _read_image(group, path, image_path)
    if labels and record.is_seg is not True:
        companions = _read_labels(group, path, image_path, record)
        if companions:
            record.companions = companions
            record.source["labels"] = sorted(companions)
    return record


def label_names(path: PathLike, *, series: int = 0) -> list[str]:
    """Names of the label images stored with an OME-Zarr image (metadata only: no pixels are read)."""
    path = os.fspath(path)
    group, _ = _find_image(_open_group(path), path, series)
    if "labels" not in group:
        return []
    names = _ngff.ome_attrs(_attrs(group["labels"])).get("labels")
    out = []
    for name in names if isinstance(names, list) else []:
        try:
            if str(name) in group["labels"]:
                out.append(str(name))
        except ValueError:  # "." or ".." parts: never a child of this group
            continue
    return out


def _read_image(group: Any, path: str, image_path: str) -> ImageRecord:
    attrs = _attrs(group)
    ome = _ngff.ome_attrs(attrs)
    where = f"{path}{'/' + image_path if image_path else ''}"
    multiscales = ome.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise CorruptFileError(where, "'multiscales' is not a list of multiscale objects")
    ms = multiscales[0]
    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, dict) and "path" in d
                                                                 for d in datasets):
        raise CorruptFileError(where, "multiscales[0].datasets must list at least one {'path': ...}")
    arrays = []
    for ds in datasets:
        try:
            arrays.append(group[str(ds["path"])])
        except (KeyError, ValueError):  # zarr refuses paths with "." or ".." parts with ValueError
            raise CorruptFileError(where, f"dataset {ds['path']!r} named in multiscales is missing") from None
        if not hasattr(arrays[-1], "dtype"):
            raise CorruptFileError(where, f"dataset {ds['path']!r} is a group, not an array")
    base = arrays[0]
    if base.dtype.kind not in "biuf" or base.dtype.names:
        raise ConversionError(where, f"array dtype {base.dtype} is not a numeric image type")
    for a in arrays:
        check_declared_size(where, a.shape, base.dtype.itemsize, "the Zarr array metadata")
    try:
        data = np.asarray(base[...])
    except Exception as exc:
        raise CorruptFileError(where, f"dataset {datasets[0]['path']!r} could not be read "
                                      f"({type(exc).__name__}: {exc})") from None
    ndim = data.ndim
    try:
        axes = _ngff.axes_of(ms, ndim)
    except _ngff.NGFFError as exc:  # a valid image with unusable axes metadata is still read
        warnings.warn(f"{where}: {exc}; the last {min(ndim, 3)} axes are read as space (the metadata is kept "
                      "in source)", UserWarning, stacklevel=3)
        axes = [{"name": f"dim_{i}", "type": "space" if i >= ndim - 3 else None} for i in range(ndim)]
    try:
        scale, shift = _ngff.compose_transforms(
            [(datasets[0].get("coordinateTransformations"), "datasets[0].coordinateTransformations"),
             (ms.get("coordinateTransformations"), "multiscales[0].coordinateTransformations")], ndim)
        transforms_ok = True
    except _ngff.NGFFError as exc:
        warnings.warn(f"{where}: {exc}; the image is read with unit spacing (the metadata is kept in "
                      "source)", UserWarning, stacklevel=3)
        scale, shift, transforms_ok = np.ones(ndim), np.zeros(ndim), False

    labels = _ngff.axis_labels_for(axes)
    inv = _original_order(attrs, ndim)
    if inv is not None:  # mlarray put the axes in NGFF order when it wrote the store: undo that
        data = np.transpose(data, inv)
        axes, labels = [axes[j] for j in inv], [labels[j] for j in inv]
        scale, shift = scale[inv], shift[inv]
        stored = attrs[_MLARRAY_ATTR].get("axis_labels")
        if isinstance(stored, list) and len(stored) == ndim and all(
                str(a).startswith("spatial") == b.startswith("spatial") for a, b in zip(stored, labels)):
            labels = [str(a) for a in stored]
    spatial = [i for i, lab in enumerate(labels) if lab.startswith("spatial")]
    s = np.array([scale[i] for i in spatial], float)
    spacing = np.abs(s)
    spacing = np.where(spacing > 0, spacing, 1.0)  # a zero scale is invalid NGFF; keep the record valid
    direction = np.diag(np.where(s < 0, -1.0, 1.0))
    origin = np.array([shift[i] for i in spatial], float)
    units = [_ngff.unit_from_ngff(a.get("unit")) for a in axes]
    extra: dict = {}
    time = [i for i, lab in enumerate(labels) if lab == "temporal"]
    if time and transforms_ok and scale[time[0]] != 1:
        interval = _micro.seconds(scale[time[0]], units[time[0]] or _micro.TIME_UNIT)
        extra.update(_micro.time_fields(interval))
        if interval is not None:
            units[time[0]] = _micro.TIME_UNIT  # the interval is stored in seconds, whatever NGFF said
    axis_units = _micro.axis_units(labels, units) if any(units[i] for i in spatial) else None
    channel = [i for i, lab in enumerate(labels) if lab == "channel"]
    if channel:
        extra.update(_ngff.channels_from_omero(ome.get("omero"), data.shape[channel[0]]))
    coord_system = "unknown"
    geometry = _stored_geometry(attrs, s, origin, len(spatial))
    if geometry is not None:  # written by mlarray: exact direction and world frame come back
        spacing, origin, direction = geometry["spacing"], geometry["origin"], geometry["direction"]
        coord_system = geometry.get("coord_system") or coord_system
        if isinstance(geometry.get("axis_units"), list):
            axis_units = geometry["axis_units"]
        if isinstance(geometry.get("extra"), dict):
            extra = {**geometry["extra"], **extra}

    image_label = ome.get("image-label")
    is_seg = True if image_label is not None else None
    classes = _ngff.classes_from_image_label(image_label)
    if geometry is not None and classes and isinstance(geometry.get("classes"), list):
        stored = geometry["classes"]  # exact colours (image-label rounds them to 0..255)
        if [(c.get("id"), c.get("name")) for c in stored if isinstance(c, dict)] == \
                [(c["id"], c["name"]) for c in classes]:
            classes = stored
    if is_seg and data.dtype.kind == "f":
        is_seg = None  # float "labels" cannot be a label map; the metadata stays in source
    levels = _levels(arrays[1:], data.shape, spatial, where, inv)
    source = {
        "ngff_version": _ngff.ngff_version(attrs),
        "zarr_format": _zarr_format(group),
        "attributes": attrs,
        "image_path": image_path,
        "datasets": [{"path": str(d["path"]), "shape": list(a.shape), "dtype": str(a.dtype),
                      "chunks": list(a.chunks)} for d, a in zip(datasets, arrays)],
    }
    record = ImageRecord(
        array=data, spacing=[float(x) for x in spacing], origin=[float(x) for x in origin],
        direction=np.asarray(direction, float).tolist(), coord_system=coord_system,
        axis_labels=labels, axis_units=axis_units, source=source, source_format="ome-zarr",
        is_seg=is_seg, classes=classes, levels=levels or None, extra=extra or None,
    )
    return record


def _zarr_format(group: Any) -> int | None:
    try:
        return int(group.metadata.zarr_format)
    except Exception:  # pragma: no cover - zarr API differences
        return None


def _original_order(attrs: dict, ndim: int) -> list[int] | None:
    """The transpose that restores the axis order of the image mlarray wrote (None: keep NGFF's)."""
    g = attrs.get(_MLARRAY_ATTR)
    order = g.get("axis_order") if isinstance(g, dict) else None
    if not isinstance(order, list) or sorted(order) != list(range(ndim)) or order == list(range(ndim)):
        return None
    return [int(i) for i in np.argsort(order)]


def _levels(arrays: Sequence[Any], base_shape: Sequence[int], spatial: Sequence[int], where: str,
            inv: Optional[Sequence[int]] = None) -> list:
    """The lower-resolution datasets, if they form a pyramid MLArray can store (else none)."""
    out: list[np.ndarray] = []
    prev = tuple(base_shape)
    for a in arrays:
        shape = tuple(a.shape) if inv is None else tuple(a.shape[j] for j in inv)
        ok = len(shape) == len(prev) and all(
            (n <= p if i in spatial else n == p) for i, (n, p) in enumerate(zip(shape, prev)))
        if not ok or shape == prev:
            warnings.warn(f"{where}: the lower-resolution datasets do not form a pyramid MLArray can store "
                          f"({list(prev)} then {list(shape)}); the .mla builds its own", UserWarning, stacklevel=4)
            return []
        lv = np.asarray(a[...])
        out.append(lv if inv is None else np.transpose(lv, inv))
        prev = shape
    return out


def _stored_geometry(attrs: dict, scale: np.ndarray, shift: np.ndarray, nsp: int) -> dict | None:
    """The exact geometry mlarray wrote beside the NGFF transforms, if those still agree with it.

    ``scale`` and ``shift`` are the NGFF transform of the spatial axes (record order). A tool that
    edits the NGFF scale or translation but not our attribute makes them disagree; then the NGFF
    metadata wins. Stores written before the per-axis placement (scale = spacing, translation =
    origin in record order) are recognised too.
    """
    g = attrs.get(_MLARRAY_ATTR)
    if not isinstance(g, dict):
        return None
    try:
        sp = np.asarray(g["spacing"], float)
        org = np.asarray(g["origin"], float)
        d = np.asarray(g["direction"], float)
    except (KeyError, TypeError, ValueError):
        return None
    if sp.shape != (nsp,) or org.shape != (nsp,) or d.shape != (nsp, nsp):
        return None
    want_scale, want_shift, _ = _ngff.axis_aligned(sp, org, d)
    written = (want_scale, want_shift), (sp, org)  # current writer, earlier writer

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9))

    if not any(same(scale, ws) and same(shift, wt) for ws, wt in written):
        return None
    return {**g, "spacing": sp, "origin": org, "direction": d}


def _read_labels(group: Any, path: str, image_path: str, image: ImageRecord) -> dict:
    if "labels" not in group:
        return {}
    lgroup = group["labels"]
    names = _ngff.ome_attrs(_attrs(lgroup)).get("labels")
    if not isinstance(names, list):
        return {}
    out = {}
    for name in names:
        name = str(name)
        try:
            present = name in lgroup
        except ValueError:  # "." or ".." parts: never a child of this group
            present = False
        if not present:
            warnings.warn(f"{path}: label image {name!r} is listed but missing", UserWarning, stacklevel=3)
            continue
        rec = _read_image(lgroup[name], path, "/".join(p for p in (image_path, "labels", name) if p))
        rec.is_seg = True if rec.array.dtype.kind in "biu" else None
        if image.coord_system != "unknown" and rec.coord_system == "unknown":
            rec.coord_system = image.coord_system
        out[name] = rec
    return out


def write_omezarr(record: ImageRecord, path: PathLike, **kw: Any) -> None:
    """Write ``record`` (and ``record.companions`` as labels) as OME-Zarr; see ``_omezarr_write``."""

    _write(record, path, **kw)
