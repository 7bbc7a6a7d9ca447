"""The one declaration of every image format ``mlarray convert`` knows (nibabel's ``imageclasses`` model).

Each :class:`Format` says, once: its extensions (compound ones such as ``.nii.gz``, ``.ome.tif``,
``.ome.zarr`` included), how a path of it is recognised when the name alone does not tell (a folder
that is one image, a file only its library can identify), its reader and writer, the options they
take, the packages they need and the ``mlarray`` extra that installs them, and how an existing output
is checked before a resumed batch skips it. Everything else is derived from :data:`FORMATS`:
:func:`detect` (and ``mlarray.convert.detect_format``), read and write dispatch, the CLI's folder
scan, output names, resume checks and ``mlarray convert --list-formats``.

Precedence when reading: a folder goes to the first format that recognises it (an OME-Zarr store,
a folder of DICOM files); a file to the format that claims its extension (the longest match, so
``.ome.tif`` is TIFF and ``.nii.gz`` NIfTI); any other file to DICOM when it has the DICOM preamble,
else to the first ITK ImageIO whose ``CanReadFile`` accepts it, then to the first installed ``bioio``
plugin that supports it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..._errors import MLArrayError
from ..._remote import named_path
from .._record import ConversionError, ImageRecord

__all__ = ["Format", "Variant", "FORMATS", "MLA", "detect", "detect_output", "by_name", "holds_dicom_files",
           "strip_extension", "companion_name", "is_store", "list_formats", "format_lines",
           "input_extensions", "readable_extensions", "writable_extensions", "scan_folder", "is_image_folder",
           "is_companion_data_file", "check_output", "holds_dicom_below", "names_one_output", "has_dicom_preamble"]


@dataclass(frozen=True)
class Variant:
    """A format one converter reads through its library, shown on its own ``--list-formats`` line.

    Its extensions are found by content (the library's own test), not claimed by name: ``.h5`` or
    ``.png`` may hold anything, and the next reader in line must still get its chance."""

    title: str
    extensions: tuple[str, ...]
    listed_extensions: tuple[str, ...] = ()  # shown by --list-formats beside the extensions


@dataclass(frozen=True)
class Format:
    """One converter: what it reads and writes, how it is recognised, what it needs.

    ``reader``/``writer``/``recognise``/``check`` are ``"module:function"`` names relative to
    :mod:`mlarray.convert` (imported on first use, so declaring a format costs nothing).
    """

    key: str  # what detect_format returns
    title: str
    extensions: tuple[str, ...] = ()  # lower case; the name alone selects this format
    modules: tuple[str, ...] = ()  # the packages the converter imports
    extra: str = "convert"
    via: str = ""
    reader: str = ""
    writer: Optional[str] = None
    read_options: tuple[str, ...] = ()  # keyword arguments of the reader that convert_file fills in
    write_options: tuple[str, ...] = ()  # keyword arguments of the writer a caller may pass
    folder: Optional[Callable[[str], bool]] = None  # recognises a folder that is one image
    recognise: Optional[str] = None  # a file no extension claims: the library's own test (returns truthy)
    check: Optional[str] = None  # "module:function(dst) -> problem or None": a complete, valid output?
    atomic_writer: bool = False  # the writer moves its output into place itself (not one file)
    companions: bool = False  # the writer stores label images with the image
    folder_output: bool = False  # a path naming a folder (existing, or ending in a separator) is written here
    scan_files: bool = True  # a folder scan converts single files of this format (DICOM files form series)
    contained: bool = True  # reads are held to the input's folder (a header may name any file; .mla names none)
    listed: bool = True  # shown by --list-formats (the .mla hub is what every row converts to and from)
    listed_extensions: tuple[str, ...] = ()  # shown by --list-formats beside the extensions
    variants: tuple[Variant, ...] = field(default_factory=tuple)

    def available(self) -> bool:
        """Whether this installation has the packages the converter needs."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)

    def read(self, path: str | os.PathLike, **kw: Any) -> ImageRecord:
        """The :class:`ImageRecord` of ``path`` (the converter imports its library, or raises
        :class:`~mlarray.MissingDependencyError` naming the extra)."""
        return _resolve(self.reader)(path, **kw)

    def write(self, record: ImageRecord, path: str | os.PathLike, **kw: Any) -> Optional[str]:
        """Write ``record`` to ``path`` (options other than :attr:`write_options` are refused)."""
        p = os.fspath(path)
        if self.writer is None:
            raise ConversionError(p, f"writing {self.title} is not supported",
                                  "write one of: " + ", ".join(writable_extensions()))
        wrong = sorted(set(kw) - set(self.write_options))
        if wrong:
            where = ", ".join(f.title for f in FORMATS if set(wrong) <= set(f.write_options)) or "no"
            raise ConversionError(p, f"options {wrong} apply to {where} outputs only", "drop them")
        if record.companions and not self.companions:
            raise ConversionError(p, "label images can only be written into an OME-Zarr store",
                                  "write .ome.zarr, or convert the labels to their own files")
        return _resolve(self.writer)(record, p, **kw)

    def matches(self, name: str) -> str:
        """The longest of this format's extensions ``name`` ends with ("" if none)."""
        low = name.lower()
        return max((e for e in self.extensions if low.endswith(e)), key=len, default="")


def _resolve(ref: str) -> Callable[..., Any]:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module, "mlarray.convert"), name)


_DICOM_EXTENSIONS = (".dcm", ".dicom")


def holds_dicom_files(folder: str, look_at: int = 20) -> bool:
    """A folder is one DICOM series if it holds ``.dcm`` files or files with the DICOM preamble.

    Only the folder's own files are looked at: a folder of series folders is a folder of images."""
    try:
        entries = [p for p in Path(folder).iterdir() if p.is_file()]
    except OSError:
        return False
    return any(p.name.lower().endswith(_DICOM_EXTENSIONS) or has_dicom_preamble(p) for p in entries[:look_at])


def has_dicom_preamble(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DICOM file by its content: "DICM" after the 128-byte preamble (PS3.10 7.1).

    DICOM files often have no extension (a PACS export names them ``IM0001`` or by UID); they go to the
    DICOM reader, which applies what ITK's reading leaves out (an RT Dose's DoseGridScaling)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def holds_dicom_below(folder: str) -> bool:
    """Whether some folder under ``folder`` (at any depth) is a DICOM series: a study or patient folder
    of series folders, read as one image (its largest series) when one output file is asked for."""
    try:
        for root, dirs, _files in os.walk(folder):
            dirs.sort()
            if root != folder and holds_dicom_files(root):
                return True
    except OSError:
        return False
    return False


def _is_zarr_folder(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, f)) for f in ("zarr.json", ".zgroup", ".zattrs"))


_CHECK = "mlarray._file.resume:"  # the resume checks of existing outputs

_ITK_VARIANTS = (
    Variant("Analyze 7.5 / NIfTI pair", (".hdr", ".img")),
    Variant("GIPL", (".gipl", ".gipl.gz")),
    Variant("VTK structured points", (".vtk",)),
    Variant("MINC", (".mnc", ".mnc2")),
    Variant("MRC", (".mrc", ".rec")),
    Variant("other ITK ImageIOs", (".pic", ".lsm", ".spr", ".h5", ".hdf5", ".png", ".jpg", ".jpeg", ".bmp", ".jp2"),
            ("<GE, Bruker 2dseq by content>",)),
)

MLA = Format("mla", "MLArray", (".mla",), reader="._bridge:read_mla", writer="._bridge:write_mla",
             write_options=("patch_size", "is_seg", "progress"), check=_CHECK + "mla_problem", atomic_writer=True,
             companions=True, contained=False, listed=False)

FORMATS: tuple[Format, ...] = (
    MLA,
    Format("nifti", "NIfTI-1 / NIfTI-2", (".nii", ".nii.gz"), ("nibabel",), via="nibabel",
           reader=".nifti:read_nifti", writer=".nifti:write_nifti", read_options=("is_seg",),
           check=_CHECK + "nifti_problem"),
    Format("nrrd", "NRRD", (".nrrd", ".nhdr"), ("nrrd",), via="pynrrd", reader=".nrrd:read_nrrd",
           writer=".nrrd:write_nrrd", check=_CHECK + "nrrd_problem"),
    Format("dicom", "DICOM series / DICOM SEG", _DICOM_EXTENSIONS, ("pydicom", "highdicom"), via="pydicom, highdicom",
           reader=".dicom:read_dicom_series", writer="._bridge:write_dicom",
           read_options=("series_uid", "reference"), write_options=("mla_path", "reference"),
           recognise=".formats.registry:has_dicom_preamble", folder=holds_dicom_files, atomic_writer=True,
           folder_output=True, scan_files=False,
           listed_extensions=("<directory>", "out: folder/")),
    Format("tiff", "TIFF / OME-TIFF / ImageJ TIFF", (".tif", ".tiff", ".ome.tif", ".ome.tiff"), ("tifffile",),
           via="tifffile", reader=".tiff:read_tiff", writer=".tiff:write_tiff", check=_CHECK + "tiff_problem"),
    Format("mgh", "FreeSurfer MGH / MGZ", (".mgh", ".mgz"), ("nibabel",), via="nibabel",
           reader=".formats.mgh:read_mgh", writer=".formats.mgh:write_mgh", check=_CHECK + "mgh_problem"),
    Format("itk", "MetaImage", (".mha", ".mhd"), ("SimpleITK",), extra="itk", via="SimpleITK",
           reader=".formats.itk:read_itk", writer=".formats.itk:write_itk", recognise=".formats.itk:itk_image_io",
           check=_CHECK + "metaimage_problem", atomic_writer=True, variants=_ITK_VARIANTS),
    Format("omezarr", "OME-Zarr (NGFF 0.4, 0.5; 0.1-0.3 read)", (".zarr", ".ome.zarr"), ("zarr", "ome_zarr"),
           extra="omezarr", via="zarr, ome-zarr-py", reader=".formats.omezarr:read_omezarr",
           writer=".formats.omezarr:write_omezarr", write_options=("ngff_version",), folder=_is_zarr_folder,
           check=_CHECK + "zarr_problem", atomic_writer=True, companions=True,
           listed_extensions=("<Zarr directory>",)),
    Format("bioio", "microscopy formats (bioio plugins)", (), ("bioio",), extra="bioio", via="bioio",
           reader=".formats.bioio:read_bioio", recognise=".formats.bioio:bioio_plugin",
           listed_extensions=(".czi", ".nd2", ".lif", ".dv", "...")),
)

# Data files that belong to a header and are never images on their own.
_DATA_ONLY = (".raw", ".zraw")
# Containers a bioio plugin may claim but that a folder scan should not treat as images.
_NOT_SCANNED = (".zip", ".json", ".xml", ".txt", ".csv")


def by_name(key: str) -> Format:
    """The format ``detect_format`` calls ``key``."""
    for f in FORMATS:
        if f.key == key:
            return f
    raise KeyError(key)


def _by_extension(name: str) -> Optional[Format]:
    best = max(FORMATS, key=lambda f: len(f.matches(name)))
    return best if best.matches(name) else None


def _unsupported(path: str, reading: bool) -> ConversionError:
    exts = readable_extensions() if reading else writable_extensions()
    return ConversionError(path, "unsupported file extension" + ("" if reading else " for writing"),
                           "supported: " + ", ".join(exts) + "; 'mlarray convert --list-formats' shows what "
                           "this installation reads and which extra adds more")


def is_image_folder(path: str) -> Optional[Format]:
    """The format of a folder that is one image (an OME-Zarr store, a DICOM series), else None."""
    if not os.path.isdir(path):
        return None
    for f in FORMATS:
        if f.folder is not None and f.folder(path):
            return f
    named = _by_extension(os.path.basename(path.rstrip("/" + os.sep)))
    return named if named is not None and named.folder is not None else None


def detect(path: str | os.PathLike) -> Format:
    """The format that reads ``path`` (see the module docstring for the precedence)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        fmt = is_image_folder(p)
        if fmt is not None:
            return fmt
        if holds_dicom_below(p):  # series in subfolders: the DICOM reader reads the largest one
            return by_name("dicom")
        n = sum(1 for e in Path(p).iterdir() if e.is_file())
        raise ConversionError(p, f"no DICOM image files found among the folder's {n} file(s), and it is not a "
                                 "Zarr store", "point to the folder of one DICOM series or an OME-Zarr store; "
                                 "'mlarray convert FOLDER OUT/' converts every image in a folder")
    fmt = _by_extension(os.path.basename(named_path(p).rstrip("/" + os.sep)))  # a signed URL by its file name
    if fmt is not None:
        return fmt
    if os.path.exists(p):
        for f in FORMATS:
            if f.recognise is not None and f.available() and _resolve(f.recognise)(p):
                return f
    raise _unsupported(p, reading=True)


def detect_output(path: str | os.PathLike) -> Format:
    """The format ``path`` is written in: by extension; a folder (existing, or named with a trailing
    separator) receives a DICOM series."""
    p = os.fspath(path)
    fmt = _by_extension(os.path.basename(p.rstrip("/" + os.sep)))
    if fmt is not None and fmt.writer is not None:
        return fmt
    if os.path.isdir(p) or p.endswith(("/", os.sep)):
        return next(f for f in FORMATS if f.folder_output)
    if fmt is not None:  # a format read only
        raise ConversionError(p, f"writing {fmt.title} is not supported",
                              "write one of: " + ", ".join(writable_extensions()))
    raise _unsupported(p, reading=False)


def is_store(path: str) -> bool:
    """``path`` names one output that is a folder (an OME-Zarr store), not a folder to put outputs in."""
    named = _by_extension(os.path.basename(path.rstrip("/" + os.sep)))
    if named is not None:
        return named.folder is not None and not named.folder_output
    return os.path.isdir(path) and any(f.folder(path) for f in FORMATS if f.folder and not f.folder_output)


def check_output(dst: str) -> Optional[str]:
    """None when ``dst`` is a complete, valid output of its format; otherwise what is wrong with it."""
    try:
        fmt = detect_output(dst)
    except MLArrayError:
        return "its format cannot be checked"
    if fmt.check is None:
        return "its format cannot be checked"
    return _resolve(fmt.check)(dst)


def strip_extension(name: str, *, folder: bool = False) -> str:
    """``scan.gipl.gz`` -> ``scan``; ``cells.ome.zarr`` -> ``cells``; an unknown extension: the last
    suffix (not for a folder, whose dotted name is rarely an extension: ``1.2.840.113619``)."""
    low = name.lower()
    known = [e for f in FORMATS for e in f.extensions + tuple(x for v in f.variants for x in v.extensions)]
    ext = max((e for e in known if low.endswith(e)), key=len, default="")
    if ext:
        return name[: -len(ext)]
    suffix = "" if folder else Path(name).suffix
    return name[: -len(suffix)] if suffix else name


def companion_name(dst: str, name: str) -> str:
    """Where a label image that came with ``dst``'s source is written: ``<stem>_label-<name>.mla``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.") or "labels"
    folder, base = os.path.split(dst)
    stem = base[: -len(".mla")] if base.endswith(".mla") else base
    return os.path.join(folder, f"{stem}_label-{safe}.mla")


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


def readable_extensions() -> tuple[str, ...]:
    """Every extension a format claims by name, or reads by content (for messages)."""
    out: list[str] = []
    for f in FORMATS:
        for e in f.extensions + tuple(x for v in f.variants for x in v.extensions):
            if e not in out:
                out.append(e)
    return tuple(out)


def writable_extensions() -> tuple[str, ...]:
    exts = [e for f in FORMATS if f.writer is not None for e in f.extensions]
    return tuple(exts) + ("folder/ (DICOM)",)


def input_extensions() -> tuple[str, ...]:
    """File extensions a folder scan picks up: what this installation can read as single files."""
    exts = {e for f in FORMATS if f.scan_files and f.available()
            for e in f.extensions + tuple(x for v in f.variants for x in v.extensions)}
    for plugin_exts in _bioio_extensions().values():
        exts.update(e.lower() for e in plugin_exts if e.startswith("."))
    return tuple(sorted(e for e in exts if e not in _NOT_SCANNED))


def names_one_output(dst: str) -> bool:
    """Whether ``dst`` names one output image (``out.mla``, ``out.nii.gz``, a ``.ome.zarr`` store) rather
    than a folder to convert into (an existing folder, or a path ending with a separator)."""
    if dst.endswith(("/", os.sep)):
        return False
    if os.path.isdir(dst) and not is_store(dst):
        return False
    return _by_extension(os.path.basename(dst)) is not None


def scan_folder(folder: str) -> list[str]:
    """What ``mlarray convert FOLDER OUT/`` converts: the image files and the image folders in it."""
    exts = input_extensions()
    entries = sorted(Path(folder).iterdir())
    files = [str(p) for p in entries if p.is_file() and p.name.lower().endswith(exts)
             and not is_companion_data_file(p) and not p.name.startswith(".")]
    folders = [str(p) for p in entries if p.is_dir() and is_image_folder(str(p)) is not None]
    return files + folders


def list_formats() -> list[dict]:
    """Every format with what this installation does with it and the extra that adds it."""
    rows = []
    plugins = _bioio_extensions()
    for f in FORMATS:
        if not f.listed or (f.key == "bioio" and plugins):
            continue
        ok = f.available() and f.key != "bioio"  # bioio without a plugin (the row shown then) reads nothing
        extra = f"mlarray[{f.extra}]"
        rows.append({"format": f.title, "extensions": list(f.extensions + f.listed_extensions), "read": ok,
                     "write": ok and f.writer is not None, "via": f.via, "extra": extra})
        rows += [{"format": v.title, "extensions": list(v.extensions + v.listed_extensions), "read": ok,
                  "write": False, "via": f.via, "extra": extra} for v in f.variants]
    bio = by_name("bioio")
    for name, exts in sorted(plugins.items()):
        rows.append({"format": f"bioio plugin {name}", "extensions": sorted(set(exts)), "read": True,
                     "write": False, "via": bio.via, "extra": f"mlarray[{bio.extra}]"})
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
