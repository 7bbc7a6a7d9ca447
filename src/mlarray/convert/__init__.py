"""Converters between source image formats and :class:`ImageRecord`.

Which converter reads or writes a path is declared once, in :mod:`.formats.registry`. Format
libraries (nibabel, pynrrd, pydicom, tifffile) are imported only when a converter runs, so
importing this package needs numpy alone.
"""

from __future__ import annotations

import os
from typing import Any

from .._types import PathLike as _PathLike
from .._untrusted.input_guard import contained_reads
from ._deidentify import deidentified
from ._record import ConversionError, ImageRecord
from .formats import registry

__all__ = ["ImageRecord", "ConversionError", "read_any", "write_any", "detect_format", "convert_file"]



def detect_format(path: _PathLike) -> str:
    """The name of the format that reads ``path``.

    A folder is an OME-Zarr store (Zarr metadata, or named ``*.zarr``) or a DICOM series (it holds
    ``.dcm`` files or files with the DICOM preamble); a file goes by its extension (``.nii.gz``,
    ``.ome.tif``, ...), and a file no extension claims to ITK, then to bioio, if they can read it.

    Parameters
    ----------
    path : str or os.PathLike
        A file, a DICOM series folder or an OME-Zarr store.

    Returns
    -------
    str
        ``"mla"``, ``"nifti"``, ``"nrrd"``, ``"dicom"``, ``"tiff"``, ``"mgh"``, ``"itk"``,
        ``"omezarr"`` or ``"bioio"``.

    Raises
    ------
    ConversionError
        No converter reads ``path`` (the message lists the formats that are read).
    """
    return registry.detect(path).key


def read_any(path: _PathLike, **kw: Any) -> ImageRecord:
    """Read ``path`` with the converter :func:`detect_format` chooses.

    Reads stay inside the input's folder: a header naming a file elsewhere is refused.

    Parameters
    ----------
    path : str or os.PathLike
        The image file, DICOM series folder or OME-Zarr store.
    **kw
        Options of the reader: ``is_seg`` (NIfTI: the file is a segmentation), ``series_uid``
        (DICOM: the series to read from a folder holding several) and ``reference`` (DICOM SEG: the
        series the segmentation belongs to); and ``deidentify=True`` for any format: the record's
        ``source`` header without patient identifiers (DICOM PS3.15 Basic Profile; needs
        ``pip install 'mlarray[deidentify]'``; see :mod:`._deidentify`). By default ``source`` keeps the
        whole header.

    Returns
    -------
    ImageRecord
        The voxels in the source library's axis order, with spacing, origin, direction, coordinate
        system and the source's header.

    Raises
    ------
    ConversionError
        ``path`` does not exist, no converter reads it, or the file is damaged.
    MissingDependencyError
        The converter's package is not installed (the message names the ``pip install`` extra).
    """
    deidentify = bool(kw.pop("deidentify", False))
    fmt = registry.detect(path)
    if not os.path.exists(os.fspath(path)):
        raise ConversionError(os.fspath(path), "file does not exist", "check the path")
    if not fmt.contained:
        record = _read(fmt, path, **kw)
    else:
        also = [os.fspath(kw["reference"])] if kw.get("reference") is not None else []  # chosen by the caller
        with contained_reads(os.fspath(path), also):  # no file outside the input's folder (a header may name any)
            record = _read(fmt, path, **kw)
    return deidentified(record) if deidentify else record


def _read(fmt: registry.Format, path: _PathLike, **kw: Any) -> ImageRecord:
    return fmt.read(path, **kw)  # one place for the reliability tests to watch what a reader opens


def write_any(record: ImageRecord, path: _PathLike, **kw: Any) -> None:
    """Write ``record`` to ``path`` in the format its extension names (a folder receives a DICOM series).

    Parameters
    ----------
    record : ImageRecord
        The image, e.g. from :func:`read_any` or :func:`mlarray.convert._bridge.mlarray_to_record`.
    path : str or os.PathLike
        The output; its extension chooses the format (``.nii.gz``, ``.nrrd``, ``.ome.zarr``, ...),
        and an existing folder or a path ending in a separator receives a DICOM series.
    **kw
        Options of the writers that take them: ``ngff_version`` (OME-Zarr), ``patch_size``,
        ``is_seg`` and ``progress`` (``.mla``), ``reference`` (DICOM: the series a segmentation
        belongs to). Options the chosen writer does not take are refused. ``deidentify=True`` (any
        format) writes ``record.source`` without patient identifiers, as :func:`read_any` does.

    Raises
    ------
    ConversionError
        The format is not written, or an option does not apply to it.
    MissingDependencyError
        The writer's package is not installed.
    """
    if kw.pop("deidentify", False):
        record = deidentified(record)
    registry.detect_output(path).write(record, path, **kw)


# Last, because the converter uses read_any and write_any from this module: the one-call conversion the CLI wraps.
from ._bridge import convert_file  # noqa: E402
