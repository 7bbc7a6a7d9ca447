"""Resumable batch conversion: which outputs already exist complete and valid.

Outputs are written atomically (temporary file, fsync, rename), so an output that exists was
written whole by some run; a crash leaves only hidden ``.partial`` files. An existing output is
still checked before it is skipped, because it may come from elsewhere (a copy cut short, a file
of another tool with the same name). Each format's declaration in
:mod:`mlarray.convert.formats.registry` names its check here:

* ``.mla``: opened with every chunk checksum verified (``verify=True``: metadata seal, frame
  checks, CRC of every compressed chunk; nothing is decompressed);
* NIfTI / NRRD / TIFF / MGH: the header parses with the format's library and declares an image;
* MetaImage: ITK reads the header, and a ``.mhd``'s data file is beside it;
* OME-Zarr: the store opens with zarr and holds multiscale image metadata (stores are moved into
  place whole, so one that exists was written whole).

An output that exists but fails its check is never replaced silently: the batch reports it, and
``--overwrite`` replaces it.
"""

from __future__ import annotations

from typing import Optional

from .._array import MLArray
from ..convert.formats._metaimage_refs import check_metaimage_references
from ..convert.formats.registry import check_output
from ..optpkg import optional_import

__all__ = ["existing_output_problem"]


def existing_output_problem(dst: str) -> Optional[str]:
    """None when ``dst`` is a complete, valid output; otherwise what is wrong with it."""
    try:
        return check_output(dst)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a valid output"
        return f"{type(exc).__name__}: {exc}"


def mla_problem(dst: str) -> Optional[str]:
    MLArray.open(dst, verify=True).close()
    return None


def nifti_problem(dst: str) -> Optional[str]:
    nibabel = optional_import("nibabel", feature="checking a NIfTI output", extra="convert")
    return None if nibabel.load(dst).header.get_data_shape() else "its NIfTI header declares no image"


def mgh_problem(dst: str) -> Optional[str]:
    nibabel = optional_import("nibabel", feature="checking an MGH output", extra="convert")
    return None if nibabel.load(dst).header.get_data_shape() else "its MGH header declares no image"


def nrrd_problem(dst: str) -> Optional[str]:
    nrrd = optional_import("nrrd", feature="checking an NRRD output", extra="convert")
    with open(dst, "rb") as fh:
        nrrd.read_header(fh)
    return None


def tiff_problem(dst: str) -> Optional[str]:
    tifffile = optional_import("tifffile", feature="checking a TIFF output", extra="convert")
    with tifffile.TiffFile(dst) as tif:
        return None if tif.series else "the TIFF holds no image"


def metaimage_problem(dst: str) -> Optional[str]:
    sitk = optional_import("SimpleITK", feature="checking a MetaImage output", extra="itk")
    check_metaimage_references(dst)  # a .mhd whose data file is missing is not complete
    reader = sitk.ImageFileReader()
    reader.SetFileName(dst)
    reader.ReadImageInformation()
    return None if all(reader.GetSize()) else "its MetaImage header declares no image"


def zarr_problem(dst: str) -> Optional[str]:
    zarr = optional_import("zarr", feature="checking an OME-Zarr output", extra="omezarr")
    attrs = dict(zarr.open_group(dst, mode="r").attrs)
    if "multiscales" not in attrs and "multiscales" not in attrs.get("ome", {}):
        return "the Zarr store holds no OME-Zarr multiscale image"
    return None
