"""Reading converter inputs from strangers: no file outside the input's folder, no device, no FIFO.

Image formats name other files: a detached NRRD header its data file, an OME-TIFF the other files
of a multi-file series (``<UUID FileName=...>``), Micro-Manager stacks and NDTiff datasets their
siblings, a DICOM folder may hold symlinks. A header that names ``/etc/passwd`` or
``../../other_patient.tif`` would make the converter store that file's bytes as the image, and a
name that is a FIFO or a device would hang it or read forever. A service that converts uploads
must not do either.

The converters check the references they know about and say which one is wrong. Behind them,
:func:`contained_reads` is a tripwire for references nobody listed (a new feature of a format
library, say): while a converter reads its input, every ``open`` this thread makes (seen through a
``sys.audit`` hook, :pep:`578`) must be the input itself, a regular file inside the input's folder,
or code and data of the Python installation. Anything else is refused before it is opened, and the
conversion fails with a :class:`ConversionError` naming the file, even if the format library
caught the refusal and carried on.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import stat
import sys
from typing import Any, Iterable, Iterator, Optional, Union

from .._data.memory import SMALL_READ, read_allowance
from .._errors import LimitExceededError, MLArrayError
from ..convert._record import ConversionError
from .limits import check, is_overridden, limit, remedy

__all__ = ["contained_reads", "contained_file", "is_inside", "check_decoded", "OutsideInputError"]


class OutsideInputError(MLArrayError, PermissionError):
    """Raised into the format library when it opens a file it may not read (see the module doc);
    an ``MLArrayError`` that is also a ``PermissionError``, the type format libraries expect from ``open``."""


class _Guard:
    __slots__ = ("input", "folder", "violations", "outside", "also")

    def __init__(self, input_path: str, folder: str, outside: bool, also: tuple = ()) -> None:
        self.input, self.folder, self.outside = input_path, folder, outside
        self.violations: list[str] = []
        self.also = also  # further folders the caller named (a DICOM SEG's reference series)


OUTSIDE_REMEDY = ("keep every file of the image as a regular file in its folder; files elsewhere are refused so an "
                  "input cannot make the converter read other files on this machine. If you trust this input (a "
                  "folder of symlinks into your own archive, say), allow them with MLARRAY_ALLOW_OUTSIDE_FILES=1 or "
                  "`with mlarray.limits(allow_outside_files=1):` (devices and FIFOs stay refused)")


def outside_allowed() -> bool:
    return bool(limit("allow_outside_files"))


_active: contextvars.ContextVar[Optional[_Guard]] = contextvars.ContextVar("mlarray_input_guard", default=None)
_hook_installed = False
# Code and data of the Python installation (imports happen while converters read).
_CODE_EXTS = (".py", ".pyc", ".pyo", ".so", ".pyd", ".pth", ".zip", ".egg", ".whl", ".json", ".txt", ".dic")
_SYSTEM_READS = ("/proc/meminfo", "/proc/self/", "/proc/thread-self/", "/sys/fs/cgroup/", "/dev/null",
                 "/dev/urandom")


def is_inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def contained_file(folder: str, name: str, referer: str) -> str:
    """The real path of ``name`` (relative to ``folder``), which must be a regular file inside ``folder``.

    Raises :class:`~mlarray.convert.ConversionError` naming ``referer`` (the file that names it)."""
    folder = os.path.realpath(folder)
    real = os.path.realpath(name if os.path.isabs(name) else os.path.join(folder, name))
    if not is_inside(real, folder) and not outside_allowed():
        raise ConversionError(referer, f"it refers to {name}, which resolves to {real}, outside its folder {folder}",
                              OUTSIDE_REMEDY)
    try:
        st = os.stat(real)
    except OSError:
        raise ConversionError(referer, f"it refers to {name}, which is missing",
                              "keep every file of the image next to it") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConversionError(referer, f"it refers to {name}, which is not a regular file (device, FIFO or folder)",
                              "point it at a regular file next to it")
    return real


def _python_roots() -> list[str]:
    import site

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except AttributeError:  # virtualenv's old site module
        pass
    return sorted({os.path.realpath(r) for r in roots if r and os.path.isabs(r) and r != os.sep})


_ROOTS: Optional[list[str]] = None


def _refusal(guard: _Guard, target: Union[int, str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]) -> Optional[str]:
    """Why ``target`` may not be opened while ``guard`` is active (None: it may)."""
    global _ROOTS
    if isinstance(target, int):
        return None  # an already open descriptor
    path = os.fsdecode(target)
    real = os.path.realpath(path)
    if real == guard.input:
        return None
    try:
        st = os.stat(real)
    except OSError:
        return None  # nothing to read: the library gets its own FileNotFoundError
    if real.startswith(_SYSTEM_READS) or (real.startswith("/proc/") and real.endswith("/meminfo")):
        return None
    shown = path if real == os.path.abspath(path) else f"{path} (-> {real})"
    if not stat.S_ISREG(st.st_mode):
        return f"{shown}, which is not a regular file (a device, FIFO or folder)"
    if guard.outside or is_inside(real, guard.folder) or any(is_inside(real, f) for f in guard.also):
        return None
    if _ROOTS is None:
        _ROOTS = _python_roots()
    if any(is_inside(real, root) for root in _ROOTS):
        return None
    # modules imported from a source tree or another sys.path entry (never a whole folder of data)
    if real.endswith(_CODE_EXTS) and any(entry and os.path.isabs(entry) and entry != os.sep
                                         and is_inside(real, os.path.realpath(entry)) for entry in sys.path):
        return None
    return f"{shown}, which is outside its folder {guard.folder}"


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open":
        return
    guard = _active.get()
    if guard is None or not args:
        return
    why = _refusal(guard, args[0])
    if why is None:
        return
    guard.violations.append(why)
    raise OutsideInputError(f"mlarray: not reading {why} while converting {guard.input}")


def _install() -> None:
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)  # permanent by design (PEP 578); inactive outside contained_reads
        _hook_installed = True


def _folder_of(path: str) -> str:
    real = os.path.realpath(path)
    return real if os.path.isdir(real) else os.path.dirname(real)


@contextlib.contextmanager
def contained_reads(input_path: str, also: Iterable[str] = ()) -> Iterator[None]:
    """Inside the block, this thread may open only ``input_path``, regular files inside its folder
    (the folder itself for a directory input), inside the folders of the paths in ``also`` (inputs
    the caller named too) and the Python installation's files."""
    real = os.path.realpath(input_path)
    folder = _folder_of(input_path)
    _install()
    guard = _Guard(real, folder, outside_allowed(), tuple(_folder_of(a) for a in also))
    token = _active.set(guard)

    def refused() -> ConversionError:
        return ConversionError(input_path, f"reading it tried to open {guard.violations[0]}", OUTSIDE_REMEDY)
    try:
        yield
    except BaseException:
        if guard.violations:  # the library may have wrapped our refusal in an error of its own
            raise refused() from None
        raise
    finally:
        _active.reset(token)
    if guard.violations:  # or caught it and carried on without the file
        raise refused()


def check_decoded(path: object, nbytes: int, what: str = "the image") -> None:
    """Refuse to decode ``nbytes`` that do not fit in memory (``max_read_bytes``), before allocating."""
    explicit = is_overridden("max_read_bytes")
    if nbytes <= SMALL_READ and not explicit:
        return  # no /proc read for ordinary images
    allowed = read_allowance()
    if allowed is not None and nbytes > allowed:
        raise LimitExceededError(path, f"{what} declares {nbytes / 2**30:,.2f} GiB of voxels, more than the "
                                       f"{allowed / 2**30:,.2f} GiB of memory {'allowed' if explicit else 'available'} "
                                       f"(max_read_bytes); convert it on a machine with more memory, or "
                                       f"{remedy('max_read_bytes', nbytes)}", "max_read_bytes")


# ----------------------------------------------------------------------------- DICOM

_DEFLATED = "1.2.840.10008.1.2.1.99"
_STEP = 1 << 20


def dicom_frame_nbytes(ds: Any) -> int:
    """Bytes one decoded frame of ``ds`` takes (rows x columns x samples x bytes per sample)."""
    try:
        bits = int(ds.get("BitsAllocated", 8) or 8)
        return (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
                * max(1, -(-bits // 8)))
    except (AttributeError, TypeError, ValueError):
        return 0  # pydicom reports the missing/damaged attribute when it decodes


def check_dicom_file(path: str) -> None:
    """Before pydicom reads ``path``: its size must fit in memory, and a deflated dataset (which pydicom
    inflates whole, without a bound) is inflated here first, counting bytes only, up to that bound."""
    import zlib

    with open(path, "rb") as fh:
        head = fh.read(132 + 12)
        if len(head) < 132 or head[128:132] != b"DICM":
            return  # not a DICOM file (pydicom skips it without reading on)
        check_decoded(path, os.fstat(fh.fileno()).st_size, "the file")  # pydicom reads a file whole
        if len(head) < 144 or head[132:136] != b"\x02\x00\x00\x00":
            return  # no file meta group length to find the dataset: pydicom decides what this is
        meta_end = 144 + int.from_bytes(head[140:144], "little")
        fh.seek(144)
        if _DEFLATED.encode() not in fh.read(max(0, min(meta_end - 144, 1 << 16))):
            return
        fh.seek(meta_end)
        allowed = read_allowance()
        cap = None if allowed is None else allowed // 2  # pydicom holds the inflated bytes and what it parses
        dec = zlib.decompressobj(-zlib.MAX_WBITS)
        total, data = 0, b""
        while not dec.eof:
            data = dec.unconsumed_tail or fh.read(_STEP)
            if not data:
                break
            try:
                total += len(dec.decompress(data, _STEP))
            except zlib.error:
                return  # damaged: pydicom reports it
            if cap is not None and total > cap:
                raise LimitExceededError(path, f"its deflated dataset inflates to more than {cap / 2**30:,.1f} GiB "
                                               f"(half the memory available; max_read_bytes), from "
                                               f"{os.path.getsize(path):,} bytes; a decompression bomb, or "
                                               f"{remedy('max_read_bytes')}", "max_read_bytes")


# ----------------------------------------------------------------------------- NIfTI

def check_nifti_header(path: str) -> None:
    """A NIfTI's header extensions lie between byte 348 and ``vox_offset``; nibabel reads each one
    whole, so a ``.nii.gz`` whose tiny stream inflates to a 2 GiB "extension" is refused here, before
    nibabel reads it (the same limit as metadata: ``max_meta_bytes``)."""
    import gzip
    import struct

    try:
        opener = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(544)
    except (OSError, EOFError, ValueError):
        return  # nibabel reports the damage
    for endian in ("<", ">"):
        if len(head) >= 348 and struct.unpack(endian + "i", head[:4])[0] == 348:  # NIfTI-1
            vox_offset = struct.unpack(endian + "f", head[108:112])[0]
            break
        if len(head) >= 540 and struct.unpack(endian + "i", head[:4])[0] == 540:  # NIfTI-2
            vox_offset = struct.unpack(endian + "q", head[168:176])[0]
            break
    else:
        return
    if vox_offset == vox_offset and vox_offset > 0:  # not NaN
        check(path, "max_meta_bytes", int(min(vox_offset, 2**62)), "the NIfTI header and its extensions")
