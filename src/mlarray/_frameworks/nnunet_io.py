"""``MLArrayIO``: an nnU-Net v2 ``BaseReaderWriter`` for ``.mla`` images and segmentations.

nnU-Net's conventions (``nnunetv2.imageio.base_reader_writer``): ``read_images`` returns a float32
array with channels first and ``{"spacing": ..., ...}`` with one spacing per array axis *in array
order*; 2D images become ``(c, 1, a, b)`` with a first spacing far above the others (``999 *`` the
largest, as nnU-Net's SimpleITK reader does).

Axis order: nnU-Net's NIfTI readers (``SimpleITKIO``, and ``NibabelIO``, which transposes to match
it) give a volume as ``(c, z, y, x)``; a model trained on NIfTI expects that order. An ``.mla`` file
may store its axes in any order (``mlarray convert`` keeps nibabel's (x, y, z) for NIfTI and
(z, y, x) for DICOM; the TorchIO and MONAI readers instead follow the source's ITK index order,
docs/formats.md "Voxel order"), so 3D files are transposed to ``(z, y, x)``: by their axis labels
(``spatial_x/y/z``) when they name all three, else by their direction, each array axis taken as the
world axis it runs along (x = R/L, y = A/P, z = S/I in an anatomical ``coord_system``; world axis
0, 1, 2 otherwise, as mlarray's NIfTI writer stores such files). Axes are never flipped, as ITK
does not flip. 2D files keep their order. Non-spatial axes (channels) of a file become channels;
several files per case (nnU-Net's ``_0000``, ``_0001``) are stacked.

``write_seg`` transposes the prediction back to the file's own axis order and writes it as an
``.mla`` segmentation on the image's grid: the spacing,
origin, direction, ``coord_system``, axis labels and units of the image it was predicted from (kept
in the properties by ``read_images``) and a class table from the nnU-Net ``dataset.json`` that the
predictor (and the trainer's validation) writes beside its outputs.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Optional, Sequence, Union

import numpy as np
from nnunetv2.imageio.base_reader_writer import BaseReaderWriter

from .._array import MLArray
from .._errors import InputError
from ..affines import anatomical_letters
from ..meta import Meta
from ._geometry import array_shape, channel_first, spatial_layout

__all__ = ["MLArrayIO", "class_table_from_dataset_json"]

_GEOMETRY_KEY = "mlarray"  # properties[_GEOMETRY_KEY]: what write_seg needs, as plain picklable values
_BODY_AXIS = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}  # anatomical letter -> x, y, z


class MLArrayIO(BaseReaderWriter):
    """Read ``.mla`` images and segmentations for nnU-Net v2 and write predictions as ``.mla``."""

    supported_file_endings = [".mla"]

    def read_images(self, image_fnames: Union[Sequence[str], str]) -> tuple[np.ndarray, dict]:
        if isinstance(image_fnames, (str, os.PathLike)):
            image_fnames = [image_fnames]
        arrays, infos = [], []
        for f in image_fnames:
            data, info = _read_one(os.fspath(f))
            arrays.append(data)
            infos.append(info)
        first = infos[0]
        for f, data, info in zip(image_fnames[1:], arrays[1:], infos[1:]):
            if data.shape[1:] != arrays[0].shape[1:]:
                raise InputError(f"{f}: spatial shape {list(data.shape[1:])} (nnU-Net's axis order) differs from "
                                 f"{image_fnames[0]} {list(arrays[0].shape[1:])}; every channel file of a case must "
                                 "share one grid")
            if not np.allclose(_nnunet_spacing(info), _nnunet_spacing(first), rtol=1e-5):
                raise InputError(f"{f}: spacing {info['spacing']} differs from {image_fnames[0]} {first['spacing']}; "
                                 "resample the channels onto one grid first")
        properties = {"spacing": _nnunet_spacing(first), _GEOMETRY_KEY: first}
        return np.vstack(arrays).astype(np.float32, copy=False), properties

    def read_seg(self, seg_fname: str) -> tuple[np.ndarray, dict]:
        data, properties = self.read_images([seg_fname])
        if data.shape[0] != 1:
            raise InputError(f"{seg_fname}: a segmentation has one channel, this file has {data.shape[0]}")
        return data, properties

    def write_seg(self, seg: np.ndarray, output_fname: str, properties: dict) -> None:
        info = properties.get(_GEOMETRY_KEY)
        if info is None:
            raise InputError(f"{output_fname}: the properties were not made by MLArrayIO.read_images (no "
                             f"{_GEOMETRY_KEY!r} entry), so the image grid is unknown; predict from .mla images")
        seg = np.asarray(seg)
        if info["spatial_ndim"] == 2:
            seg = seg[0]  # nnU-Net hands 2D predictions back as (1, x, y)
        order = info.get("axis_order", list(range(seg.ndim)))
        if seg.ndim == len(order):
            seg = np.transpose(seg, np.argsort(order))  # back to the file's own axis order
        if tuple(seg.shape) != tuple(info["shape"]):
            raise InputError(f"{output_fname}: segmentation shape {seg.shape} is not the image's {info['shape']}")
        seg = seg.astype(_label_dtype(seg), copy=False)
        spatial = {k: info[k] for k in ("spacing", "origin", "direction", "coord_system", "axis_units")
                   if info.get(k) is not None}
        if info.get("axis_labels") is not None:
            spatial["axis_labels"] = info["axis_labels"]
        classes = class_table_from_dataset_json(_find_dataset_json(output_fname))
        meta = Meta(spatial=spatial, is_seg=True, classes=classes,
                    extra={"nnunet": {"predicted_from": info.get("file")}})
        MLArray(seg, meta=meta).save(output_fname)


def _read_one(path: str) -> tuple[np.ndarray, dict]:
    img = MLArray.open(path, mmap_mode="r")
    if not img.meta.has_array:
        raise InputError(f"{path}: metadata-only .mla file; nnU-Net needs an image array")
    spatial, _ = spatial_layout(img)
    shape = array_shape(img, path)
    if len(spatial) not in (2, 3):
        raise InputError(f"{path}: nnU-Net handles 2 or 3 spatial axes, this file has {len(spatial)} "
                         f"(axis_labels {img.axis_labels}); label the extra axes as 'channel'")
    sp = img.meta.spatial
    order = _nnunet_axis_order(img, spatial)
    data = channel_first(img.to_numpy(), spatial)
    data = np.transpose(data, [0] + [1 + i for i in order])
    if len(spatial) == 2:
        data = data[:, np.newaxis]
    labels = sp.axis_labels
    info = {
        "file": os.path.abspath(path),
        "shape": [int(shape[a]) for a in spatial],
        "spatial_ndim": len(spatial),
        "spacing": [float(v) for v in (sp.spacing or [1.0] * len(spatial))],
        "origin": None if sp.origin is None else [float(v) for v in sp.origin],
        "direction": None if sp.direction is None else [[float(v) for v in row] for row in sp.direction],
        "coord_system": sp.coord_system,
        "axis_labels": None if labels is None else [str(labels[a]) for a in spatial],
        "axis_units": _spatial_units(sp.axis_units, spatial, len(shape)),
        "axis_order": order,  # nnU-Net's axis k is the file's spatial axis order[k]
    }
    return data, info


def _nnunet_axis_order(img: MLArray, spatial: list) -> list:
    """The file's spatial axes (indices into ``spatial``) in nnU-Net's (z, y, x) order (2D: kept)."""
    n = len(spatial)
    if n != 3:
        return list(range(n))
    labels = img.meta.spatial.axis_labels
    named = [str(labels[a]) for a in spatial] if labels is not None else []
    if sorted(named) == ["spatial_x", "spatial_y", "spatial_z"]:
        return [named.index(name) for name in ("spatial_z", "spatial_y", "spatial_x")]
    sp = img.meta.spatial
    direction = np.eye(3) if sp.direction is None else np.abs(np.asarray(sp.direction, dtype=np.float64))
    letters = anatomical_letters(sp.coord_system)
    body = [_BODY_AXIS[c] for c in letters] if letters is not None and len(letters) == 3 else [0, 1, 2]
    along = np.zeros((3, 3))  # along[b, j]: how much array axis j runs along body axis b (x, y, z)
    for row, b in enumerate(body):
        along[b] = direction[row]
    # the assignment of array axes to z, y, x that follows the direction best (oblique grids included)
    best = max(itertools.permutations(range(3)), key=lambda p: sum(along[2 - k, j] for k, j in enumerate(p)))
    return list(best)


def _spatial_units(units: Optional[Sequence[Optional[str]]], spatial: list[int], ndim: int) -> Optional[list]:
    if units is None:
        return None
    return [units[a] for a in spatial] if len(units) == ndim and ndim != len(spatial) else list(units)


def _nnunet_spacing(info: dict) -> list[float]:
    stored = [abs(v) for v in info["spacing"]]
    spacing = [stored[i] for i in info.get("axis_order", range(len(stored)))]
    if info["spatial_ndim"] == 2:
        return [max(spacing) * 999.0] + spacing
    return spacing


def _label_dtype(seg: np.ndarray) -> type[np.integer]:
    if seg.size == 0:
        return np.uint8
    lo, hi = int(seg.min()), int(seg.max())
    for dt in (np.uint8, np.uint16, np.int16, np.int32):
        if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
            return dt
    return np.int64


def _find_dataset_json(output_fname: str) -> Optional[str]:
    """The dataset.json nnU-Net wrote beside this output: the predictor writes one into its output
    folder, the trainer into the folder above ``fold_x/validation``."""
    folder = os.path.dirname(os.path.abspath(output_fname))
    for candidate in (folder, os.path.dirname(folder), os.path.dirname(os.path.dirname(folder))):
        path = os.path.join(candidate, "dataset.json")
        if os.path.isfile(path):
            return path
    return None


def class_table_from_dataset_json(path: Optional[str]) -> Optional[dict]:
    """``{voxel value: name}`` from an nnU-Net ``dataset.json``'s ``labels`` (None if unavailable).

    Region-based datasets (label values that are lists) name the values nnU-Net writes, which are
    ``regions_class_order[i]`` for the i-th region.
    """
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    labels = doc.get("labels") if isinstance(doc, dict) else None
    if not isinstance(labels, dict):
        return None
    table: dict[int, str] = {}
    if any(isinstance(v, (list, tuple)) for v in labels.values()):
        order = doc.get("regions_class_order") or []
        regions = [name for name, v in labels.items() if v not in (0, [0])]
        if 0 in labels.values():
            table[0] = next(name for name, v in labels.items() if v == 0)
        for name, value in zip(regions, order):
            table[int(value)] = str(name)
        return table or None
    for name, value in labels.items():
        if isinstance(value, (int, float)) and int(value) == value and int(value) not in table:
            table[int(value)] = str(name)
    return table or None
