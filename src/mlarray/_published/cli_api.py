"""The published package's Python CLI functions (``mlarray.cli.convert_to_mlarray`` & co.).

They keep the published semantics: NIfTI/NRRD are read and written through MedVol, which reorients
images to RAS+ (nibabel's canonical axis order), and the array gets ``spatial_x/y/z`` axis labels.
This library's own converter (``mlarray convert``, :mod:`mlarray.convert`) keeps the original
orientation instead, for an exact round trip. ``mlarray.cli`` re-exports them with its ``MedVol`` hook
(None: the ``medvol`` package's class, imported when first needed; tests may set a stand-in).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .._array import MLArray
from .._errors import MetadataTypeError, MLArrayError
from .._metadata.meta_base import to_plain_value
from ..affines import anatomical_letters
from ..convert.formats import registry
from ..optpkg import optional_import

__all__ = ["print_header", "convert_to_mlarray", "convert_from_mlarray", "convert_image", "cli_print_header",
           "cli_convert_to_mlarray", "header_to_source_meta"]

_PathLike = Union[str, Path]


def _medvol(medvol: Optional[Callable[..., Any]] = None) -> Callable[..., Any]:
    """The class that reads and writes: ``medvol`` when the caller gives one (``mlarray.cli`` passes its
    ``MedVol``, which tests may replace), else the ``medvol`` package's."""
    if medvol is not None:
        return medvol
    return optional_import("medvol", feature="convert_to_mlarray/convert_from_mlarray (the published package's "
                           "RAS+ converters; 'mlarray convert' keeps the original orientation)",
                           extra="published").MedVol


_MEDVOL_KINDS = ("nifti", "nrrd", "mla")  # what MedVol reads and writes, plus the .mla side


def _kind(path: _PathLike) -> Optional[str]:
    """"nifti", "nrrd" or "mla" by the file name (the format registry's extensions), else None."""
    try:
        key = registry.detect_output(path).key
    except MLArrayError:
        return None
    return key if key in _MEDVOL_KINDS else None


def _header_value(value: Any) -> Any:
    """Header values as JSON types: numpy arrays/scalars to lists/numbers, bytes decoded."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return _header_value(value.item()) if value.ndim == 0 else [_header_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _header_value(value.item())
    if isinstance(value, Mapping):
        return {str(k): _header_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_header_value(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):
        return _header_value(value.tolist())
    return value


def header_to_source_meta(header: Any) -> dict:
    """A reader's header (a mapping, or an object with ``items()``/``keys()``) as a JSON dict for ``meta.source``."""
    if header is None:
        return {}
    if isinstance(header, Mapping) or hasattr(header, "items"):
        raw = {str(k): v for k, v in header.items()}
    elif hasattr(header, "keys"):
        raw = {str(k): header[k] for k in header.keys()}
    else:
        raise MetadataTypeError("source", header, "a header must be a mapping", "pass a dict-like header")
    return _header_value(raw)


def _coord_alias(cs: Optional[str]) -> Optional[str]:
    return None if cs is None else {"RAS": "RAS+", "LPS": "LPS+"}.get(cs, cs)


def print_header(filepath: _PathLike) -> None:
    """Print the file's metadata as the published ``mlarray_header`` did (``Meta.to_plain``, sorted JSON).

    Reads the header only, never the voxels."""
    img = MLArray.open(filepath, mmap_mode="r")
    try:
        print(json.dumps(img.meta.to_plain(include_none=True), indent=2, sort_keys=True))
    finally:
        img.close()


def convert_to_mlarray(load_filepath: _PathLike, save_filepath: _PathLike, *,
                       medvol: Optional[Callable[..., Any]] = None) -> None:
    """NIfTI/NRRD -> ``.mla`` the published way: MedVol's RAS+ array and affine, its header in ``source``."""
    vol = _medvol(medvol)(load_filepath)
    ndim = np.asarray(vol.array).ndim
    labels = {3: ["spatial_x", "spatial_y", "spatial_z"], 2: ["spatial_x", "spatial_y"]}.get(ndim)
    img = MLArray(np.asarray(vol.array), affine=np.asarray(vol.affine, dtype=float),
                  meta=header_to_source_meta(vol.header), axis_labels=labels, compressed=False)
    cs = _coord_alias(getattr(vol, "coordinate_system", None))
    if cs is not None:
        img.meta.spatial.coord_system = cs
    img.meta.source_format = _kind(load_filepath)
    img.save(save_filepath)


def convert_from_mlarray(load_filepath: _PathLike, save_filepath: _PathLike, *,
                         medvol: Optional[Callable[..., Any]] = None) -> None:
    """``.mla`` -> NIfTI/NRRD the published way: geometry from the affine, ``source`` as the header.

    Without an anatomical ``coord_system`` the data are taken as RAS+ (what ``convert_to_mlarray``
    writes); ``LPS``/``LPS+`` stay LPS+."""
    img = MLArray.open(load_filepath, mmap_mode="r")
    try:
        nrrd = _kind(save_filepath) == "nrrd"
        backend = "pynrrd" if nrrd else None
        cs = "LPS+" if anatomical_letters(img.meta.spatial.coord_system) == "LPS" else "RAS+"
        header = dict(to_plain_value(img.meta.source))
        if nrrd:  # MedVol writes the space itself from coordinate_system
            header.pop("space", None)
            header.pop("NRRD_space", None)
        vol = _medvol(medvol)(img.to_numpy(), affine=np.asarray(img.affine, dtype=float), header=header,
                        backend=backend, coordinate_system=cs, canonicalize=False)
    finally:
        img.close()
    vol.save(save_filepath, backend=backend)


def convert_image(load_filepath: _PathLike, save_filepath: _PathLike, *,
                  medvol: Optional[Callable[..., Any]] = None) -> None:
    """NIfTI/NRRD -> ``.mla`` or ``.mla`` -> NIfTI/NRRD, chosen by the file names."""
    src, dst = _kind(load_filepath), _kind(save_filepath)
    if src in ("nifti", "nrrd") and dst == "mla":
        convert_to_mlarray(load_filepath, save_filepath, medvol=medvol)
    elif src == "mla" and dst in ("nifti", "nrrd"):
        convert_from_mlarray(load_filepath, save_filepath, medvol=medvol)
    else:
        raise MLArrayError(f"cannot convert {load_filepath} to {save_filepath}: these functions convert NIfTI/NRRD "
                           "to .mla and back; use 'mlarray convert' for DICOM, TIFF and batches")


def cli_print_header(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(prog="mlarray_header", description="Print the MLArray metadata header of a file.")
    p.add_argument("filepath", help="Path to a .mla file.")
    print_header(p.parse_args(argv).filepath)


def cli_convert_to_mlarray(argv: Optional[Sequence[str]] = None, *,
                           medvol: Optional[Callable[..., Any]] = None) -> None:
    p = argparse.ArgumentParser(prog="mlarray_convert", description="Convert between MLArray and NIfTI/NRRD files.")
    p.add_argument("load_filepath")
    p.add_argument("save_filepath")
    args = p.parse_args(argv)
    convert_image(args.load_filepath, args.save_filepath, medvol=medvol)
