"""Which converter reads a path, and what this installation reads and writes.

Precedence: the dedicated converters (NIfTI, NRRD, DICOM, TIFF, MGH, MetaImage, OME-Zarr) by
extension; then, for any other file, the ITK ImageIO whose ``CanReadFile`` accepts it; then the
first installed ``bioio`` reader plugin that supports it.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FormatInfo", "FORMATS", "detect_extra_format", "strip_extension", "companion_name",
           "writes_own_output", "list_formats", "format_lines", "input_extensions", "is_companion_data_file"]


@dataclass(frozen=True)
class FormatInfo:
    name: str
    extensions: tuple[str, ...]
    write: bool
    extra: str
    modules: tuple[str, ...]
    via: str

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


FORMATS: tuple[FormatInfo, ...] = (
    FormatInfo("NIfTI-1 / NIfTI-2", (".nii", ".nii.gz"), True, "convert", ("nibabel",), "nibabel"),
    FormatInfo("NRRD", (".nrrd", ".nhdr"), True, "convert", ("nrrd",), "pynrrd"),
    FormatInfo("DICOM series / DICOM SEG", (".dcm", "<directory>", "out: folder/"), True, "convert",
               ("pydicom", "highdicom"), "pydicom, highdicom"),
    FormatInfo("TIFF / OME-TIFF / ImageJ TIFF", (".tif", ".tiff", ".ome.tif", ".ome.tiff"), True, "convert",
               ("tifffile",), "tifffile"),
    FormatInfo("FreeSurfer MGH / MGZ", (".mgh", ".mgz"), True, "convert", ("nibabel",), "nibabel"),
    FormatInfo("MetaImage", (".mha", ".mhd"), True, "itk", ("SimpleITK",), "SimpleITK"),
    FormatInfo("Analyze 7.5 / NIfTI pair", (".hdr", ".img"), False, "itk", ("SimpleITK",), "SimpleITK"),
    FormatInfo("GIPL", (".gipl", ".gipl.gz"), False, "itk", ("SimpleITK",), "SimpleITK"),
    FormatInfo("VTK structured points", (".vtk",), False, "itk", ("SimpleITK",), "SimpleITK"),
    FormatInfo("MINC", (".mnc", ".mnc2"), False, "itk", ("SimpleITK",), "SimpleITK"),
    FormatInfo("MRC", (".mrc", ".rec"), False, "itk", ("SimpleITK",), "SimpleITK"),
    FormatInfo("other ITK ImageIOs", (".pic", ".lsm", ".spr", ".h5", ".hdf5", ".png", ".jpg", ".jpeg", ".bmp",
                                      ".jp2", "<GE, Bruker 2dseq by content>"), False, "itk", ("SimpleITK",),
               "SimpleITK"),
    FormatInfo("OME-Zarr (NGFF 0.4, 0.5; 0.1-0.3 read)", (".zarr", ".ome.zarr", "<Zarr directory>"), True,
               "omezarr", ("zarr", "ome_zarr"), "zarr, ome-zarr-py"),
)
_EXT_FORMAT = {".mgh": "mgh", ".mgz": "mgh", ".mha": "itk", ".mhd": "itk", ".zarr": "omezarr"}
# Extensions of two parts that Path.suffix would cut in the middle.
_DOUBLE = (".ome.zarr", ".gipl.gz", ".nii.gz", ".ome.tiff", ".ome.tif", ".seg.nrrd")
# Data files that belong to a header and are never images on their own.
_DATA_ONLY = (".raw", ".zraw")
# Containers a plugin may claim but that a folder scan should not treat as images.
_NOT_SCANNED = (".zip", ".json", ".xml", ".txt", ".csv")


def detect_extra_format(path: str) -> str | None:
    """"mgh", "itk", "omezarr" or "bioio" for a path the dedicated converters do not claim."""
    low = path.lower().rstrip("/")
    for ext, fmt in _EXT_FORMAT.items():
        if low.endswith(ext):
            return fmt
    from .omezarr import is_zarr_store

    if is_zarr_store(path):
        return "omezarr"
    if not os.path.exists(path):
        return None
    from .itk import itk_image_io

    if itk_image_io(path):
        return "itk"
    from .bioio import bioio_plugin

    if bioio_plugin(path):
        return "bioio"
    return None


def strip_extension(name: str) -> str:
    """``scan.gipl.gz`` -> ``scan``; ``cells.ome.zarr`` -> ``cells``; otherwise the last suffix."""
    low = name.lower()
    for ext in _DOUBLE:
        if low.endswith(ext):
            return name[: -len(ext)]
    suffix = Path(name).suffix
    return name[: -len(suffix)] if suffix else name


def companion_name(dst: str, name: str) -> str:
    """Where a label image that came with ``dst``'s source is written: ``<stem>_label-<name>.mla``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.") or "labels"
    folder, base = os.path.split(dst)
    stem = base[: -len(".mla")] if base.endswith(".mla") else base
    return os.path.join(folder, f"{stem}_label-{safe}.mla")


def writes_own_output(dst: str) -> bool:
    """Outputs that are not one file written under a temporary name (their writers are atomic)."""
    return dst.lower().rstrip("/").endswith((".mha", ".mhd", ".zarr"))


def is_companion_data_file(path: Path) -> bool:
    """A file that is the data half of a header/data pair (``.img`` beside ``.hdr``, ``.raw``)."""
    low = path.name.lower()
    if low.endswith(_DATA_ONLY):
        return True
    if low.endswith(".img"):
        return path.with_suffix(".hdr").exists() or path.with_suffix(".HDR").exists()
    return False


def _bioio_extensions() -> dict[str, list[str]]:
    if importlib.util.find_spec("bioio") is None:
        return {}
    try:
        from bioio.plugins import get_plugins

        plugins = get_plugins(use_cache=False)
    except Exception:  # a broken plugin must not break the listing
        return {}
    out: dict[str, list[str]] = {}
    for ext, entries in plugins.items():
        for e in entries:
            out.setdefault(e.entrypoint.name, []).append(ext)
    return out


def input_extensions() -> tuple[str, ...]:
    """File extensions a folder scan picks up: what this installation can read."""
    exts = {e for f in FORMATS if f.available() for e in f.extensions if e.startswith(".")}
    for plugin_exts in _bioio_extensions().values():
        exts.update(e.lower() for e in plugin_exts if e.startswith("."))
    return tuple(sorted(e for e in exts if e not in _NOT_SCANNED))


def list_formats() -> list[dict]:
    """Every format with what this installation does with it and the extra that adds it."""
    rows = []
    for f in FORMATS:
        ok = f.available()
        rows.append({"format": f.name, "extensions": list(f.extensions), "read": ok, "write": ok and f.write,
                     "via": f.via, "extra": f"mlarray[{f.extra}]"})
    plugins = _bioio_extensions()
    for name, exts in sorted(plugins.items()):
        rows.append({"format": f"bioio plugin {name}", "extensions": sorted(set(exts)), "read": True,
                     "write": False, "via": "bioio", "extra": "mlarray[bioio]"})
    if not plugins:
        rows.append({"format": "microscopy formats (bioio plugins)", "extensions": [".czi", ".nd2", ".lif", ".dv",
                                                                                 "..."],
                     "read": False, "write": False, "via": "bioio", "extra": "mlarray[bioio]"})
    return rows


def format_lines(rows: list[dict]) -> list[str]:
    """The human-readable table ``mlarray convert --list-formats`` prints."""
    width = max(len(r["format"]) for r in rows)
    lines = [f"{'format':<{width}}  read  write  {'through':<26} extensions"]
    for r in rows:
        exts = " ".join(r["extensions"]) or "-"
        through = r["via"] if r["read"] else f"needs {r['extra']}"
        lines.append(f"{r['format']:<{width}}  {'yes' if r['read'] else 'no':<4}  "
                     f"{'yes' if r['write'] else 'no':<5}  {through:<26} {exts}")
    missing = sorted({r["extra"] for r in rows if not r["read"]})
    if missing:
        lines.append("")
        lines.append("not installed here; add with: pip install " + " ".join(f"'{m}'" for m in missing
                                                                             if m.startswith("mlarray[")))
    lines.append("")
    lines.append("Any other file goes to the first ITK ImageIO that can read it, then to the first bioio "
                 "plugin that supports it.")
    return lines
