"""Resumable batch conversion: which outputs already exist complete and valid.

Outputs are written atomically (temporary file, fsync, rename), so an output that exists was
written whole by some run; a crash leaves only hidden ``.partial`` files. An existing output is
still checked before it is skipped, because it may come from elsewhere (a copy cut short, a file
of another tool with the same name):

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

__all__ = ["existing_output_problem"]


def existing_output_problem(dst: str) -> Optional[str]:
    """None when ``dst`` is a complete, valid output; otherwise what is wrong with it."""
    low = dst.lower()
    try:
        if low.endswith(".mla"):
            from .. import MLArray

            MLArray.open(dst, verify=True).close()
        elif low.endswith((".nii", ".nii.gz")):
            import nibabel

            shape = nibabel.load(dst).header.get_data_shape()
            if not shape:
                return "its NIfTI header declares no image"
        elif low.endswith((".nrrd", ".nhdr")):
            import nrrd

            with open(dst, "rb") as fh:
                nrrd.read_header(fh)
        elif low.endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(dst) as tif:
                if not tif.series:
                    return "the TIFF holds no image"
        elif low.endswith((".mgh", ".mgz")):
            import nibabel

            if not nibabel.load(dst).header.get_data_shape():
                return "its MGH header declares no image"
        elif low.endswith((".mha", ".mhd")):
            return _metaimage_problem(dst)
        elif low.rstrip("/").endswith(".zarr"):
            return _zarr_problem(dst)
        else:
            return "its format cannot be checked"
    except Exception as exc:  # noqa: BLE001 - any failure means "not a valid output"
        return f"{type(exc).__name__}: {exc}"
    return None


def _metaimage_problem(dst: str) -> Optional[str]:
    import SimpleITK as sitk

    from ..convert.formats._metaimage_refs import check_metaimage_references

    check_metaimage_references(dst)  # a .mhd whose data file is missing is not complete
    reader = sitk.ImageFileReader()
    reader.SetFileName(dst)
    reader.ReadImageInformation()
    return None if all(reader.GetSize()) else "its MetaImage header declares no image"


def _zarr_problem(dst: str) -> Optional[str]:
    import zarr

    attrs = dict(zarr.open_group(dst, mode="r").attrs)
    if "multiscales" not in attrs and "multiscales" not in attrs.get("ome", {}):
        return "the Zarr store holds no OME-Zarr multiscale image"
    return None
