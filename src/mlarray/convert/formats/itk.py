"""SimpleITK <-> :class:`ImageRecord`: MetaImage in and out, every other ITK ImageIO in.

Array axis order is SimpleITK's ``GetArrayFromImage`` order: ITK's index axes reversed (array
axis 0 is ITK's last dimension) and vector pixels as a trailing ``channel`` axis. Geometry is
ITK's physical space, which is LPS for 3-D images::

    world = origin + D @ (spacing * itk_index)      (ITK, index fastest axis first)

so the record's spacing and direction columns are ITK's, reversed. Images without an anatomical
frame (2-D ones: PNG, 2-D MetaImage) get ``coord_system`` "unknown" with world axes in array order
(as TIFF and OME-Zarr records have), so they display upright; writing reverses that again. A 4-D ITK image whose fourth
axis does not mix with space (the usual time series) keeps three spatial axes plus a leading
``temporal`` axis; its ITK spacing and origin along time stay in ``source["itk_geometry"]`` and
are written back. ITK's metadata dictionary (MetaImage custom fields, the NIfTI/Analyze header
fields ITK reports, ...) is kept in ``source["metadata"]``; ``source_format`` names the format.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from ..._errors import CorruptFileError
from ..._types import PathLike
from ..._voxel_order import reversed_index_order
from ...affines import AffineError, convert_coord_system
from ...optpkg import optional_import
from .._record import ConversionError, ImageRecord, json_clean
from ._limits import check_declared_size
from ._metaimage_refs import check_metaimage_references, check_pair_companion
from ._output import move_files_into_place, scratch_dir

__all__ = ["read_itk", "write_itk", "itk_image_io", "ITK_WRITE_EXTENSIONS"]

ITK_WRITE_EXTENSIONS = (".mha", ".mhd")

# ITK ImageIO -> the format id stored in ``source_format``.
_FORMAT_OF_IO = {
    "MetaImageIO": "metaimage", "GiplImageIO": "gipl", "VTKImageIO": "vtk", "MINCImageIO": "minc",
    "MRCImageIO": "mrc", "HDF5ImageIO": "itk-hdf5", "StimulateImageIO": "stimulate",
    "BioRadImageIO": "biorad", "LSMImageIO": "lsm", "PNGImageIO": "png", "JPEGImageIO": "jpeg",
    "JPEG2000ImageIO": "jpeg2000", "BMPImageIO": "bmp", "TIFFImageIO": "tiff", "GE4ImageIO": "ge4",
    "GE5ImageIO": "ge5", "Bruker2dseqImageIO": "bruker-2dseq", "GDCMImageIO": "dicom",
    "NrrdImageIO": "nrrd",
}
# NiftiImageIO also reads Analyze 7.5; its ``nifti_type`` entry says which one the file was.
_NIFTI_TYPES = {"0": "analyze", "1": "nifti1", "2": "nifti1-pair"}
# Entries that only describe how ITK read the file; writing them back into a header means nothing.
_READER_ONLY = {"ITK_InputFilterName", "ITK_original_direction", "ITK_original_spacing"}
_UNPRINTABLE = "[UNKNOWN_PRINT_CHARACTERISTICS]"
_CHANNEL_LABELS = {"channel", "components"}
# Readers whose array axis 0 is the file's fastest axis (nibabel, pynrrd): ITK's index order. Their
# records go to ITK without the reversal, so a NIfTI written as MetaImage keeps its voxel layout
# (ITK's own NIfTI -> MetaImage conversion gives the same file).
_INDEX_ORDER_SOURCES = {"nifti1", "nifti2", "nrrd", "mgh", "analyze", "nifti1-pair"}


def _sitk() -> ModuleType:
    return optional_import("SimpleITK", feature="reading and writing MetaImage and the other ITK formats", extra="itk")


def itk_image_io(path: PathLike) -> str:
    """Name of the ITK ImageIO that can read ``path`` ("" if none, or SimpleITK is missing)."""
    try:
        sitk = _sitk()
    except ImportError:
        return ""
    try:
        return sitk.ImageFileReader().GetImageIOFromFileName(os.fspath(path)) or ""
    except RuntimeError:
        return ""


def _pixel_bytes(pixel_id_text: str, components: int) -> int:
    """Bytes per pixel from SimpleITK's description, e.g. 'vector of 32-bit float' -> 4 * n."""
    m = re.search(r"(\d+)-bit", pixel_id_text)
    per = int(m.group(1)) // 8 if m else 8
    if "complex" in pixel_id_text:
        per *= 2
    return per * max(1, components)


def _check_declared_size(path: str, size: Sequence[int], pixel_text: str, components: int) -> None:
    """Refuse a header that declares more pixels than this process could hold, before ITK allocates."""
    check_declared_size(path, list(size), _pixel_bytes(pixel_text, components))


def _metadata(img: Any) -> dict:
    out = {}
    for key in img.GetMetaDataKeys():
        try:
            value = img.GetMetaData(key)
        except RuntimeError:  # pragma: no cover - entries of types SimpleITK cannot print
            continue
        if value.strip() == _UNPRINTABLE:
            continue
        out[key] = value
    return out


def _format_id(io: str, metadata: dict) -> str:
    if io == "NiftiImageIO":
        return _NIFTI_TYPES.get(str(metadata.get("nifti_type", "")).strip(), "itk:NiftiImageIO")
    return _FORMAT_OF_IO.get(io, f"itk:{io}")


def read_itk(path: PathLike, image_io: str | None = None) -> ImageRecord:
    """Read any file an ITK ImageIO reads (MetaImage, Analyze, GIPL, VTK, MINC, MRC, ...).

    ``image_io`` forces one ImageIO by name (e.g. ``"MetaImageIO"``); by default ITK picks the
    one whose ``CanReadFile`` accepts the file.
    """
    sitk = _sitk()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConversionError(path, "file does not exist", "check the path")
    io = image_io or itk_image_io(path)
    if not io:
        raise ConversionError(path, "no ITK ImageIO can read this file",
                              "run 'mlarray convert --list-formats' to see what this installation reads")
    if io == "MetaImageIO":
        check_metaimage_references(path)  # ITK opens them in C++, unseen by the Python-level tripwire
    elif path.lower().endswith(".hdr"):
        check_pair_companion(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.SetImageIO(io)
    try:
        reader.ReadImageInformation()
        _check_declared_size(path, reader.GetSize(), sitk.GetPixelIDValueAsString(reader.GetPixelID()),
                             reader.GetNumberOfComponents())
        img = reader.Execute()
    except RuntimeError as exc:
        raise CorruptFileError(path, f"ITK's {io} could not read it ({_first_line(exc)})") from None
    return _record_from_image(img, io, path)


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if "ERROR" in ln or "rror" in ln]
    return (lines[-1] if lines else str(exc).strip().splitlines()[-1])[:300]


def _record_from_image(img: Any, io: str, path: str) -> ImageRecord:
    sitk = _sitk()
    dim = img.GetDimension()
    ncomp = img.GetNumberOfComponentsPerPixel()
    spacing = np.asarray(img.GetSpacing(), float)
    origin = np.asarray(img.GetOrigin(), float)
    d = np.asarray(img.GetDirection(), float).reshape(dim, dim)
    data = sitk.GetArrayFromImage(img)

    ns = dim
    if dim > 3 and not d[:3, 3:].any() and not d[3:, :3].any():
        ns = 3  # the extra axes (time, ...) do not mix with space
    n_extra = dim - ns
    # a 2-D picture (PNG, JPEG, BMP) is rows and columns as a TIFF is: name them y, x as the TIFF reader does
    spatial_labels = ["spatial_y", "spatial_x"] if dim == 2 else ["spatial"] * ns
    labels = (["temporal"] + ["non_spatial"] * (n_extra - 1) if n_extra else []) + spatial_labels
    if data.ndim > dim:
        labels.append("channel")
    metadata = _metadata(img)
    source = {
        "image_io": io,
        "metadata": metadata,
        "pixel_type": img.GetPixelIDTypeAsString(),
        "components": ncomp,
        "itk_geometry": {"dimension": dim, "size": list(img.GetSize()), "spacing": json_clean(spacing),
                         "origin": json_clean(origin), "direction": json_clean(d)},
    }
    direction = d[:ns, :ns][:, ::-1]
    world_origin = origin[:ns]
    if ns != 3:
        # no anatomical frame (2-D images, coupled 4-D ones): world axes follow the array axes, as
        # for TIFF and OME-Zarr, so an image shows upright rather than transposed
        direction, world_origin = direction[::-1, :], world_origin[::-1]
    return ImageRecord(
        array=data,
        spacing=[float(x) for x in spacing[:ns][::-1]],
        origin=[float(x) for x in world_origin],
        direction=direction.tolist(),
        coord_system="LPS" if ns == 3 else "unknown",
        axis_labels=labels,
        source=source,
        source_format=_format_id(io, metadata),
    )


# ----------------------------------------------------------------------------- writing

def _itk_order(record: ImageRecord, path: str) -> tuple[np.ndarray, list[int], int | None, list[int]]:
    """Array transposed to ITK's layout ``[extra..., spatial..., channel]`` and the axes used."""
    data = np.asanyarray(record.array)
    labels = list(record.axis_labels) or ["spatial"] * data.ndim
    if len(labels) != data.ndim:
        raise ConversionError(path, f"record has {data.ndim} axes but {len(labels)} axis labels")
    spatial = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    channel = [i for i, lab in enumerate(labels) if lab in _CHANNEL_LABELS and i not in spatial]
    extra = [i for i in range(data.ndim) if i not in spatial and i not in channel]
    if len(channel) > 1:
        raise ConversionError(path, f"MetaImage holds one vector (channel) axis, the record has {len(channel)}",
                              "split the channels into separate files first")
    if not 2 <= len(spatial) <= 3:
        raise ConversionError(path, f"MetaImage via ITK needs 2 or 3 spatial axes, the record has {len(spatial)}")
    if extra and len(spatial) + len(extra) > 5:
        raise ConversionError(path, f"ITK images have at most 5 dimensions; the record has {len(spatial)} "
                                    f"spatial and {len(extra)} other axes")
    if _index_order(record):
        spatial = spatial[::-1]  # array axis 0 is the source's fastest axis: make it ITK's x again
    order = extra + spatial + channel
    if order != list(range(data.ndim)):
        data = np.transpose(data, order)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    elif data.dtype == np.float16:
        data = data.astype(np.float32)
    return np.ascontiguousarray(data), spatial, (channel[0] if channel else None), extra


def _index_order(record: ImageRecord) -> bool:
    # an Analyze or NIfTI pair read through ITK itself is in GetArrayFromImage's order, whatever its format id
    return record.source_format in _INDEX_ORDER_SOURCES and not reversed_index_order(record.source_format,
                                                                                      record.source)


def _lps_geometry(record: ImageRecord, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spacing, origin, direction of the spatial axes (array order) in ITK's LPS world."""

    spacing = np.asarray(record.spacing, float)
    origin = np.asarray(record.origin, float)
    direction = np.asarray(record.direction, float)
    n = spacing.size
    if direction.shape != (n, n) or origin.size != n:
        raise ConversionError(path, f"world space has {origin.size} dimensions but the image {n} spatial axes",
                              "ITK needs as many world dimensions as spatial axes")
    cs = record.written_frame().upper().rstrip("+")
    flip = None
    if n == 3 and cs != "LPS":
        try:
            # a signed permutation: applied to direction and origin it only moves and negates
            # numbers, so the geometry stays bit-exact
            flip = convert_coord_system(np.eye(4), cs, "LPS")[:3, :3]
        except AffineError:
            flip = None  # not an anatomical code
    if flip is None and cs != "LPS" and not _index_order(record):
        # no anatomical frame: the record's world axes follow its array axes (TIFF, OME-Zarr, bioio),
        # ITK's physical axes follow its index axes (x first); an upright image stays upright
        flip = np.eye(n)[::-1]
    if flip is not None:
        direction, origin = flip @ direction, flip @ origin
    return spacing, origin, direction


def _image_from_record(record: ImageRecord, path: str) -> Any:
    sitk = _sitk()
    data, spatial, channel, extra = _itk_order(record, path)
    spacing, origin, direction = _lps_geometry(record, path)
    data = data.astype(data.dtype.newbyteorder("="), copy=False)  # ITK takes native byte order only (.mla keeps >i2)
    try:
        img = sitk.GetImageFromArray(data, isVector=channel is not None)
    except (RuntimeError, TypeError) as exc:
        raise ConversionError(path, f"ITK cannot hold {data.dtype} pixels ({exc})",
                              "cast the image to an integer or float type first") from None
    ns = len(spatial)
    dim = ns + len(extra)
    keep = _index_order(record)
    sp = list(spacing if keep else spacing[::-1])
    org = list(origin)
    dmat = np.eye(dim)
    dmat[:ns, :ns] = direction if keep else direction[:, ::-1]
    if extra:  # time (and further) axes: restore ITK's own spacing/origin when the file came from ITK
        geo = record.source.get("itk_geometry") if isinstance(record.source, dict) else None
        known = geo if isinstance(geo, dict) and geo.get("dimension") == dim else None
        for k in range(ns, dim):
            sp.append(float(known["spacing"][k]) if known and known["spacing"][k] else 1.0)
            org.append(float(known["origin"][k]) if known and known["origin"][k] is not None else 0.0)
    img.SetSpacing([float(x) for x in sp])
    img.SetOrigin([float(x) for x in org])
    img.SetDirection([float(x) for x in dmat.ravel()])
    if record.source_format == "metaimage" and isinstance(record.source.get("metadata"), dict):
        for key, value in record.source["metadata"].items():
            if key not in _READER_ONLY and isinstance(value, str):
                img.SetMetaData(str(key), value)
    return img


def write_itk(record: ImageRecord, path: PathLike, *, compress: bool = True) -> None:
    """Write ``record`` as MetaImage (``.mha``: one file; ``.mhd``: header plus data file).

    RAS geometry is converted to ITK's LPS. A vector (channel) axis becomes the pixel components,
    a time axis ITK's fourth dimension. MetaImage custom fields from a MetaImage ``source`` are
    written back. The output appears atomically: the data file of a ``.mhd`` is in place before
    its header.
    """
    sitk = _sitk()
    path = os.fspath(path)
    if not path.lower().endswith(ITK_WRITE_EXTENSIONS):
        raise ConversionError(path, "ITK output is written as MetaImage only", "use .mha or .mhd")
    img = _image_from_record(record, path)
    target = Path(path)
    with scratch_dir(target) as tmp:
        out = tmp / target.name
        try:
            sitk.WriteImage(img, str(out), useCompression=compress)
        except RuntimeError as exc:
            raise ConversionError(path, f"ITK could not write it ({_first_line(exc)})") from None
        files = sorted((f for f in tmp.iterdir() if f != out), key=lambda f: f.name) + [out]
        move_files_into_place(files, target.parent)
