"""Converters between source image formats and :class:`ImageRecord`.

Which converter reads or writes a path is declared once, in :mod:`.formats.registry`. Format
libraries (nibabel, pynrrd, pydicom, tifffile) are imported only when a converter runs, so
importing this package needs numpy alone.
"""

from __future__ import annotations

import os

from .._untrusted.input_guard import contained_reads
from ._record import ConversionError, ImageRecord
from .formats import registry

__all__ = ["ImageRecord", "ConversionError", "read_any", "write_any", "detect_format"]


def detect_format(path) -> str:
    """The name of the format that reads ``path``: "mla", "nifti", "nrrd", "dicom", "tiff", "mgh",
    "itk", "omezarr" or "bioio".

    A folder is an OME-Zarr store (Zarr metadata, or named ``*.zarr``) or a DICOM series (it holds
    ``.dcm`` files or files with the DICOM preamble); a file goes by its extension (``.nii.gz``,
    ``.ome.tif``, ...), and a file no extension claims to ITK, then to bioio, if they can read it.
    """
    return registry.detect(path).key


def read_any(path, **kw) -> ImageRecord:
    """Read ``path`` with the converter :func:`detect_format` chooses.

    Keyword arguments go to the reader (``is_seg`` for NIfTI, ``series_uid`` and ``reference`` for
    DICOM).
    """
    fmt = registry.detect(path)
    if not os.path.exists(os.fspath(path)):
        raise ConversionError(os.fspath(path), "file does not exist", "check the path")
    if not fmt.contained:
        return _read(fmt, path, **kw)
    also = [os.fspath(kw["reference"])] if kw.get("reference") is not None else []  # chosen by the caller
    with contained_reads(os.fspath(path), also):  # no file outside the input's folder (a header may name any)
        return _read(fmt, path, **kw)


def _read(fmt: registry.Format, path, **kw) -> ImageRecord:
    return fmt.read(path, **kw)  # one place for the reliability tests to watch what a reader opens


def write_any(record: ImageRecord, path, **kw) -> None:
    """Write ``record`` to ``path`` in the format its extension names (a folder receives a DICOM series).

    Keyword arguments go to the writers that take them (``ngff_version`` for OME-Zarr).
    """
    registry.detect_output(path).write(record, path, **kw)
