"""Converters between source image formats and :class:`ImageRecord`.

Format libraries (nibabel, pynrrd, pydicom, tifffile) are imported only when a
converter runs, so importing this package needs numpy alone.
"""

from __future__ import annotations

import importlib
import os

from ._record import SUPPORTED_EXTENSIONS, ConversionError, ImageRecord

__all__ = ["ImageRecord", "ConversionError", "read_any", "write_any", "detect_format"]

_WRITABLE = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".tif", ".tiff", ".ome.tif", ".ome.tiff",
             ".mgh", ".mgz", ".mha", ".mhd", ".zarr", ".ome.zarr")
# Converters of convert/formats/, imported only when used.
_EXTRA_READERS = {"mgh": (".formats.mgh", "read_mgh"), "itk": (".formats.itk", "read_itk"),
                  "omezarr": (".formats.omezarr", "read_omezarr"), "bioio": (".formats.bioio", "read_bioio")}
_EXTRA_WRITERS = {(".mgh", ".mgz"): (".formats.mgh", "write_mgh"), (".mha", ".mhd"): (".formats.itk", "write_itk"),
                  (".zarr",): (".formats.omezarr", "write_omezarr")}


def detect_format(path) -> str:
    """Return "nifti", "nrrd", "dicom", "tiff", "mgh", "itk", "omezarr" or "bioio" for the path.

    A Zarr store (``*.zarr`` or a directory with Zarr metadata) is OME-Zarr, any other directory a
    DICOM series. Unclaimed extensions go to ITK, then to bioio (``formats/registry.py``).
    """
    from .formats.omezarr import is_zarr_store
    from .formats.registry import detect_extra_format

    p = os.fspath(path)
    low = p.lower()
    if os.path.isdir(p):
        return "omezarr" if is_zarr_store(p) else "dicom"
    if low.endswith((".nii", ".nii.gz")):
        return "nifti"
    if low.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    if low.endswith((".dcm", ".dicom")):
        return "dicom"
    if low.endswith((".tif", ".tiff")):
        return "tiff"
    fmt = detect_extra_format(p)
    if fmt is not None:
        return fmt
    raise ConversionError(p, "unsupported file extension",
                          "supported: " + ", ".join(SUPPORTED_EXTENSIONS) + "; 'mlarray convert "
                          "--list-formats' shows what this installation reads and which extra adds more")


def read_any(path, **kw) -> ImageRecord:
    """Read ``path`` with the converter chosen by its extension (directory -> DICOM series).

    Keyword arguments go to the reader (``is_seg`` for NIfTI, ``series_uid`` for DICOM).
    """
    from .._untrusted.input_guard import contained_reads

    fmt = detect_format(path)
    if fmt != "dicom" and not os.path.exists(os.fspath(path)):
        raise ConversionError(os.fspath(path), "file does not exist", "check the path")
    also = [os.fspath(kw["reference"])] if kw.get("reference") is not None else []  # chosen by the caller
    with contained_reads(os.fspath(path), also):  # no file outside the input's folder (a header may name any)
        return _read(fmt, path, **kw)


def _read(fmt: str, path, **kw) -> ImageRecord:
    if fmt in _EXTRA_READERS:
        module, name = _EXTRA_READERS[fmt]
        return getattr(importlib.import_module(module, __name__), name)(path, **kw)
    if fmt == "nifti":
        from .nifti import read_nifti
        return read_nifti(path, **kw)
    if fmt == "nrrd":
        from .nrrd import read_nrrd
        return read_nrrd(path, **kw)
    if fmt == "dicom":
        from .dicom import read_dicom_series
        return read_dicom_series(path, **kw)
    from .tiff import read_tiff
    return read_tiff(path, **kw)


def write_any(record: ImageRecord, path, **kw) -> None:
    """Write ``record`` to ``path`` in the format given by its extension (no DICOM writer).

    Keyword arguments go to the writers that take them (``ngff_version`` for OME-Zarr).
    """
    p = os.fspath(path)
    low = p.lower().rstrip("/")
    for exts, (module, name) in _EXTRA_WRITERS.items():
        if low.endswith(exts):
            return getattr(importlib.import_module(module, __name__), name)(record, p, **kw)
    if kw:
        raise ConversionError(p, f"options {sorted(kw)} apply to OME-Zarr outputs only", "drop them")
    if record.companions:
        raise ConversionError(p, "label images can only be written into an OME-Zarr store",
                              "write .ome.zarr, or convert the labels to their own files")
    if low.endswith((".nii", ".nii.gz")):
        from .nifti import write_nifti
        return write_nifti(record, p)
    if low.endswith((".nrrd", ".nhdr")):
        from .nrrd import write_nrrd
        return write_nrrd(record, p)
    if low.endswith((".tif", ".tiff")):
        from .tiff import write_tiff
        return write_tiff(record, p)
    if low.endswith((".dcm", ".dicom")) or os.path.isdir(p):
        raise ConversionError(p, "writing DICOM is not supported", "write .nii.gz or .nrrd instead")
    raise ConversionError(p, "unsupported file extension for writing",
                          "supported: " + ", ".join(_WRITABLE))
