"""NRRD (``.nrrd``, detached ``.nhdr``) <-> :class:`ImageRecord` (via pynrrd, imported lazily).

Axis order is pynrrd's default (``index_order='F'``): array axis k is NRRD axis k (fastest
first), which is the order of ``space directions``. Geometry is kept in the NRRD ``space``
(LPS -> "LPS", RAS -> "RAS", other named spaces keep their NRRD name, none -> "unknown").
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np
from numpy.typing import DTypeLike

from .._errors import CorruptFileError, MLArrayError
from .._types import PathLike
from ..optpkg import optional_import
from ._nrrd_data import read_nrrd_data
from ._record import ConversionError, ImageRecord, flip_lps_ras, json_clean
from .nifti import seconds_per_time_unit

__all__ = ["read_nrrd", "write_nrrd"]

_SPACE_TO_CS = {
    "left-posterior-superior": "LPS", "lps": "LPS",
    "right-anterior-superior": "RAS", "ras": "RAS",
    "left-anterior-superior": "LAS", "las": "LAS",
}
_CS_TO_SPACE = {"LPS": "left-posterior-superior", "RAS": "right-anterior-superior",
                "LAS": "left-anterior-superior"}
_NRRD_SPACES = {"left-posterior-superior", "right-anterior-superior", "left-anterior-superior",
                "scanner-xyz", "3D-right-handed", "3D-left-handed",
                "left-posterior-superior-time", "right-anterior-superior-time",
                "left-anterior-superior-time", "scanner-xyz-time", "3D-right-handed-time",
                "3D-left-handed-time"}
_CHANNEL_KINDS = {"list", "vector", "covariant-vector", "rgb-color", "hsv-color", "xyz-color",
                  "rgba-color", "3-color", "4-color", "scalar"}
_COMPONENT_KINDS = {"complex", "point", "normal", "2-vector", "3-vector", "4-vector",
                    "3-gradient", "3-normal", "quaternion", "2d-symmetric-matrix",
                    "2d-masked-symmetric-matrix", "2d-matrix", "2d-masked-matrix",
                    "3d-symmetric-matrix", "3d-masked-symmetric-matrix", "3d-matrix",
                    "3d-masked-matrix"}
# Fields pynrrd derives from the data or that the record's geometry replaces.
_DERIVED = {"type", "dimension", "sizes", "endian", "data file", "datafile", "line skip",
            "lineskip", "byte skip", "byteskip", "space", "space dimension", "space directions",
            "space origin", "spacings", "kinds", "space units", "encoding"}
_PER_AXIS = {"thicknesses", "axis mins", "axismins", "axis maxs", "axismaxs", "centers",
             "centerings", "labels", "units"}
_MATRIX_FIELDS = {"measurement frame"}


def _nrrd() -> ModuleType:
    return optional_import("nrrd", feature="reading and writing NRRD", extra="convert")


def _label_for_kind(kind: str | None) -> str:
    k = (kind or "").strip().lower()
    if k in ("domain", "space"):
        return "spatial"
    if k == "time":
        return "temporal"
    if k in _CHANNEL_KINDS:
        return "channel"
    if k in _COMPONENT_KINDS:
        return "components"
    return "channel"


def read_nrrd(path: PathLike) -> ImageRecord:
    """Read a ``.nrrd`` or detached ``.nhdr`` file into an :class:`ImageRecord`."""
    nrrd = _nrrd()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConversionError(path, "file does not exist", "check the path")
    try:
        data, header = read_nrrd_data(nrrd, path)
    except MLArrayError:  # ConversionError, LimitExceededError: already say what is wrong
        raise
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, ... for headers it cannot parse
        raise CorruptFileError(path, f"not a readable NRRD file ({type(exc).__name__}: {exc})") from None

    ndim = data.ndim
    kinds = header.get("kinds")
    if kinds is not None and len(kinds) != ndim:
        kinds = None
    sdirs = header.get("space directions")
    spatial: list[int]
    if sdirs is not None:
        sdirs = np.asarray(sdirs, dtype=float)
        spatial = [k for k in range(ndim) if np.all(np.isfinite(sdirs[k]))]
    elif kinds is not None:
        spatial = [k for k in range(ndim) if _label_for_kind(kinds[k]) == "spatial"]
    else:
        spatial = list(range(ndim))

    labels = []
    for k in range(ndim):
        if k in spatial:
            labels.append("spatial")
        elif _is_sequence_axis(header, k):
            labels.append("temporal")
        elif kinds is not None:
            lab = _label_for_kind(kinds[k])
            labels.append("channel" if lab == "spatial" else lab)
        else:
            labels.append("channel")

    space = header.get("space")
    if sdirs is not None:
        cols = sdirs[spatial].T  # world x spatial axes
        spacing = np.linalg.norm(cols, axis=0)
        safe = np.where(spacing > 0, spacing, 1.0)
        direction = cols / safe[None, :]
        origin = np.asarray(header.get("space origin", np.zeros(cols.shape[0])), dtype=float)
        if not np.all(np.isfinite(origin)):
            origin = np.zeros(cols.shape[0])
        spacing = np.where(spacing > 0, spacing, 1.0)
    else:
        sp = header.get("spacings")
        spacing = np.ones(len(spatial))
        if sp is not None and len(sp) == ndim:
            spacing = np.array([sp[k] if np.isfinite(sp[k]) else 1.0 for k in spatial], dtype=float)
        direction = np.eye(len(spatial))
        origin = np.zeros(len(spatial))
    if space:
        coord_system = _SPACE_TO_CS.get(str(space).lower(), str(space))
    else:
        coord_system = "unknown"

    units = header.get("space units")
    axis_units = None
    if units is not None:
        units = [str(u) for u in units]
        if len(units) == len(spatial):
            axis_units = units
        elif units and all(u == units[0] for u in units):
            axis_units = [units[0]] * len(spatial)
    elif header.get("units") is not None and len(header["units"]) == ndim:
        u = [str(header["units"][k]) for k in spatial]
        axis_units = u if any(u) else None

    source = {str(k): json_clean(v) for k, v in header.items()}
    classes = _slicer_segments(header)
    return ImageRecord(
        array=data, spacing=[float(x) for x in spacing], origin=[float(x) for x in origin],
        direction=np.asarray(direction, float).tolist(), coord_system=coord_system,
        axis_labels=labels, axis_units=axis_units, source=source, source_format="nrrd",
        is_seg=True if classes else None, classes=classes, extra=_time_interval(header, labels),
    )


def _time_interval(header: dict, labels: list[str]) -> dict | None:
    """``{"time_interval": step}`` (seconds, as write_nrrd writes them) when the time axis lists evenly spaced
    numeric index values (3D Slicer's sequence layout); None otherwise."""
    for k, lab in enumerate(labels):
        if lab != "temporal" or str(header.get(f"axis {k} index type", "")).strip().lower() != "numeric":
            continue
        try:
            values = np.array([float(v) for v in str(header.get(f"axis {k} index values", "")).split()])
        except ValueError:
            return None
        steps = np.diff(values)
        if steps.size and np.all(np.isfinite(steps)) and steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-6):
            return {"time_interval": float(steps[0])}
    return None


def _is_sequence_axis(header: dict, k: int) -> bool:
    """A 3D Slicer sequence axis (``list`` kind with ``axis k index type``) or one labelled time."""
    kinds = header.get("kinds")
    if kinds is None or k >= len(kinds):
        return False
    kind = str(kinds[k]).lower()
    if kind == "time":
        return True
    labels = header.get("labels")
    named_time = labels is not None and k < len(labels) and str(labels[k]).strip().lower() in ("time", "t", "frame")
    return kind == "list" and (f"axis {k} index type" in header or named_time)


def _slicer_segments(header: dict) -> list[dict] | None:
    """Class table from a 3D Slicer segmentation (``.seg.nrrd``: ``SegmentN_Name/_LabelValue/_Color``).

    Only single-layer label maps (every segment in layer 0) map to one class table; overlapping
    multi-layer segmentations keep their keys in ``source`` only.
    """
    out: list[dict] = []
    i = 0
    while f"Segment{i}_Name" in header:
        try:
            layer = int(header.get(f"Segment{i}_Layer", 0))
            value = int(header.get(f"Segment{i}_LabelValue", i + 1))
        except (TypeError, ValueError):
            return None
        if layer != 0:
            return None
        entry: dict = {"id": value, "name": str(header[f"Segment{i}_Name"])}
        color = str(header.get(f"Segment{i}_Color", "")).split()
        if len(color) == 3:
            try:
                entry["color"] = [float(c) for c in color] + [1.0]
            except ValueError:
                pass
        out.append(entry)
        i += 1
    return out or None


def _kind_for_label(label: str, n: int, dtype: DTypeLike) -> str:
    """NRRD kind of an axis. Time is a ``list`` axis (a ``time`` kind would count as a fourth
    domain axis, which ITK refuses in 3-D space; 3D Slicer reads list + index type as a sequence)."""
    if str(label).startswith("spatial"):
        return "domain"
    if label == "channel" and n == 3 and np.dtype(dtype) == np.uint8:
        return "RGB-color"
    if label in ("channel", "components") and n <= 4:
        return "vector"
    return "list"


def _time_values(record: ImageRecord, n: int) -> list[float]:
    """Time of each frame in seconds: start + k * the time step (``extra["time_interval"]``, or a NIfTI
    source's pixdim[4] in files converted before it was recorded; NIfTI's toffset is the start), else
    the frame index (or pixdim[4] as it stands when the NIfTI names no time unit)."""

    src = record.source or {}
    step, start = 1.0, 0.0
    if record.source_format in ("nifti1", "nifti2"):
        per_unit = seconds_per_time_unit(src.get("time_unit")) or 1.0
        pix = src.get("pixdim") or []
        step = float(pix[4]) * per_unit if len(pix) > 4 and pix[4] else 1.0
        start = float(src.get("toffset") or 0.0) * per_unit
    interval = (record.extra or {}).get("time_interval")
    if isinstance(interval, (int, float)) and np.isfinite(interval) and interval > 0:
        step = float(interval)
    return [start + step * k for k in range(n)]


def _flat_nifti_axes(record: ImageRecord, shape: tuple, spatial: list[int]) -> list[int]:
    """The singleton spatial axes a NIfTI with ``dim[0]`` below 3 did not have (empty otherwise).

    The NIfTI reader gives a 2-D image a third, singleton axis so its full affine is kept (the slice
    lies somewhere in the scanner); written as a 3-D NRRD it would come back 3-D everywhere else.
    ITK reads such a NIfTI as a 2-D image in the plane of its first two LPS axes and refuses a NRRD
    whose domain axes are fewer than its space's, so the NRRD gets a 2-D space, as ITK writes it."""
    if record.source_format not in ("nifti1", "nifti2"):
        return []
    dim = (record.source or {}).get("dim")
    if not isinstance(dim, list) or not dim or not isinstance(dim[0], int) or not 1 <= dim[0] < len(spatial):
        return []
    extra = spatial[dim[0]:]
    return extra if all(shape[k] == 1 for k in extra) else []


def write_nrrd(record: ImageRecord, path: PathLike, detached_header: bool | None = None) -> None:
    """Write ``record`` as NRRD; ``.nhdr`` targets get a detached header.

    Custom keys and per-axis fields from a NRRD ``source`` are restored; ``space``,
    ``space directions`` and ``space origin`` come from the record geometry. Spatial axes are written in
    ITK's index order (reversed for a record from DICOM or SimpleITK, see :mod:`mlarray._voxel_order`).
    """
    nrrd = _nrrd()
    path = os.fspath(path)
    data = np.asanyarray(record.array)
    ndim = data.ndim
    labels = list(record.axis_labels) or ["spatial"] * ndim
    if len(labels) != ndim:
        raise ConversionError(path, f"record has {ndim} axes but {len(labels)} axis labels")
    src = record.source if record.source_format == "nrrd" else {}
    order = list(range(ndim))
    if not src:  # components first (fastest), as ITK and 3D Slicer write vector and colour images
        front = [k for k, lab in enumerate(labels) if lab in ("channel", "components")][:1]
        order = front + [k for k in range(ndim) if k not in front]
    # spatial axes in ITK's index order (a DICOM's (slice, row, col) reversed), as SimpleITK writes them
    in_array_order = [k for k, lab in enumerate(labels) if str(lab).startswith("spatial")]
    index_axes = iter(record.index_order(in_array_order))
    order = [next(index_axes) if k in in_array_order else k for k in order]
    if order != list(range(ndim)):
        data = np.transpose(data, order)
        labels = [labels[k] for k in order]
    spatial = [k for k, lab in enumerate(labels) if str(lab).startswith("spatial")]
    aff = record.index_affine()
    cs = record.written_frame()
    space_units = record.spatial_units
    if space_units is not None:
        space_units = [space_units[j] for j in record.index_order(list(range(len(space_units))))]
    flat = _flat_nifti_axes(record, data.shape, spatial)
    if flat:  # a 2-D (or 1-D) NIfTI: the NRRD gets its dimensionality (see _flat_nifti_axes)
        keep = [j for j, k in enumerate(spatial) if k not in flat]
        space_units = None if space_units is None else [space_units[j] for j in keep]
        if cs.upper().rstrip("+") == "RAS":
            aff = flip_lps_ras(aff) + 0.0  # no -0 in the header
        n = len(keep)
        aff = np.vstack([np.hstack([aff[:n, keep], aff[:n, -1:]]), np.eye(1, n + 1, n)])
        data = data.reshape([m for k, m in enumerate(data.shape) if k not in flat])
        labels = [lab for k, lab in enumerate(labels) if k not in flat]
        ndim = data.ndim
        spatial = [k for k, lab in enumerate(labels) if str(lab).startswith("spatial")]
        cs = "unknown"

    header: dict = {}
    for key, value in src.items():
        lk = key.lower()
        if lk in _DERIVED:
            continue
        if lk in _PER_AXIS and (not isinstance(value, list) or len(value) != ndim):
            continue
        if lk in _MATRIX_FIELDS and value is not None:
            value = np.asarray([[np.nan if v is None else v for v in row] for row in value], float)
        elif lk in _PER_AXIS:
            value = [np.nan if v is None else v for v in value]
        if value is None:
            continue
        header[key] = value

    nw = aff.shape[0] - 1
    letters = cs.upper().rstrip("+")  # "RAS+"/"LPS+" are the published package's spellings of RAS/LPS
    space = _CS_TO_SPACE[letters] if letters in _CS_TO_SPACE else (cs if cs in _NRRD_SPACES else None)
    if space is not None:
        header["space"] = space
    else:
        header["space dimension"] = nw
    sd = np.full((ndim, nw), np.nan)
    for j, k in enumerate(spatial):
        sd[k] = aff[:nw, j]
    header["space directions"] = sd
    header["space origin"] = aff[:nw, -1]
    src_kinds = src.get("kinds")
    if isinstance(src_kinds, list) and len(src_kinds) == ndim and all(
            (_label_for_kind(src_kinds[k]) == "spatial") == (k in spatial) for k in range(ndim)):
        header["kinds"] = src_kinds
    else:
        header["kinds"] = [_kind_for_label(labels[k], data.shape[k], data.dtype) for k in range(ndim)]
        for k, lab in enumerate(labels):
            if lab == "temporal":
                header.setdefault("labels", [""] * ndim)[k] = "time"
                header[f"axis {k} index type"] = "numeric"
                header[f"axis {k} index values"] = " ".join(f"{v:g}" for v in _time_values(record, data.shape[k]))
    if space_units:
        given = list(space_units)
        units = given if len(given) == nw else [given[0]] * nw if all(u == given[0] for u in given) else None
        if units:
            header["space units"] = units
    enc = str(src.get("encoding", "gzip")).lower()
    header["encoding"] = enc if enc in ("raw", "gzip", "gz", "bzip2", "bz2") else "gzip"
    if detached_header is None:
        detached_header = path.lower().endswith(".nhdr")
    try:
        nrrd.write(path, np.asarray(data), header, detached_header=detached_header)
    except Exception as exc:
        raise ConversionError(path, f"could not write NRRD ({type(exc).__name__}: {exc})") from exc
