"""Which files store their spatial axes in ITK's index order reversed (the rule of docs/formats.md, "Voxel order").

A conversion keeps the source's voxel order. Readers built on nibabel and pynrrd (NIfTI, MGH, NRRD) give
array axis 0 = the file's fastest axis, which is ITK's index axis i. The DICOM readers give (slice, row,
column), and the SimpleITK reader gives ``GetArrayFromImage``'s order: both are ITK's index axes reversed
(k, j, i). Formats indexed fastest axis first (NIfTI, NRRD, MGH) and the TorchIO and MONAI readers follow
ITK's index order, which is how SimpleITK, dcm2niix and the frameworks' own readers store and load such an
image; so a file recorded here as reversed gets its spatial axes reversed on the way out. A file that a
conversion reoriented (``--orient``) has the axes it was given and is left alone.

Numpy-free and import-free on purpose: the converters and the framework readers both ask it.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["REVERSED_INDEX_FORMATS", "reversed_index_order"]

# source_format values of mlarray's DICOM readers (series, multi-frame, mosaic, RT Dose: "dicom"; SEG: "dicom-seg")
REVERSED_INDEX_FORMATS = frozenset({"dicom", "dicom-seg"})


def reversed_index_order(source_format: object, source: object) -> bool:
    """True when a file's spatial axes are ITK's index axes reversed (DICOM's slice, row, column).

    Decided from what the file records: its ``source_format`` is one of the DICOM readers' (whether the
    DICOM carried patient geometry or not, ``source["dicom_geometry"] == "implicit"``, ITK indexes it the
    same way), or its ``source`` holds the ``itk_geometry`` that the SimpleITK reader records for a 3-D or
    4-D image; and the conversion did not reorient it (``source["reoriented"]``).
    """
    src = source if isinstance(source, Mapping) else {}
    if "reoriented" in src:
        return False
    itk = src.get("itk_geometry")
    # 2-D ITK images (PNG, ...) are left alone: their world axes follow the array axes (formats/itk.py), so
    # reversing the array axes alone would swap them in the world
    read_by_itk = isinstance(itk, Mapping) and isinstance(itk.get("dimension"), int) and itk["dimension"] >= 3
    return str(source_format) in REVERSED_INDEX_FORMATS or read_by_itk
