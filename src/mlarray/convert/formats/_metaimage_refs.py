"""The files a MetaImage header names (or an Analyze/NIfTI pair's image file) must be regular files
inside the header's folder.

A ``.mhd`` (or ``.mha``) header ends with ``ElementDataFile``: ``LOCAL`` (the voxels follow the
header), one file name, ``LIST`` (the names follow, one per line) or a printf pattern with a
first, last and step index (``slice%03d.raw 1 120 1``). Names may be absolute or climb out with
``../``. ITK opens them in C++, where the audit-hook tripwire of ``mlarray._untrusted.input_guard`` sees
nothing, so a header naming ``/etc/passwd`` made ``mlarray convert`` store that file as the image.
This module reads the header's key lines (ITK does the real parsing and reading afterwards) and
checks every name with :func:`mlarray._untrusted.input_guard.contained_file` first; it also refuses an
``NDims`` outside 1..16, on which ITK's MetaIO never returns (found by stress/fuzz_struct.py).
"""

from __future__ import annotations

import os

from ..._untrusted.input_guard import contained_file
from .._record import ConversionError

__all__ = ["check_metaimage_references", "check_pair_companion"]

_MAX_HEADER = 1 << 20  # MetaImage headers are a few hundred bytes; LIST headers a line per slice
_MAX_PATTERN_FILES = 1_000_000


def check_metaimage_references(path: str) -> None:
    """Raise :class:`~mlarray.convert.ConversionError` for a data file outside ``path``'s folder."""

    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    lines = head.split(b"\n")
    folder = os.path.dirname(os.path.abspath(path))
    for i, raw in enumerate(lines):
        key, sep, value = raw.partition(b"=")
        if not sep:
            key, sep, value = raw.partition(b":")
        if sep and key.strip().lower() == b"ndims":
            _check_ndims(value, path)
        if not sep or key.strip().lower() != b"elementdatafile":
            continue
        target = value.strip().decode("utf-8", "surrogateescape")
        if target.upper() == "LOCAL" or not target:
            return
        for name in _names(target, lines[i + 1:], path):
            contained_file(folder, name, path)
        return
    # no ElementDataFile: ITK refuses the header itself


def _check_ndims(value: bytes, path: str) -> None:
    """ITK 5's MetaIO loops without end on a negative NDims (or one beyond int32): refuse it first."""

    text = value.strip().decode("ascii", "replace")
    try:
        n = int(text)
    except ValueError:
        return  # not a number: MetaIO refuses the header itself
    if not 1 <= n <= _MAX_NDIMS:
        raise ConversionError(path, f"its NDims is {text}; a MetaImage has 1 to {_MAX_NDIMS} dimensions",
                              "the header is damaged")


_MAX_NDIMS = 16


def _names(value: str, rest: list, path: str) -> list:
    words = value.split()
    if words[0].upper() == "LIST":
        names = [ln.strip().decode("utf-8", "surrogateescape") for ln in rest]
        return [n for n in names if n]
    if "%" in value and len(words) >= 3:
        try:
            first, last = int(words[1]), int(words[2])
            step = int(words[3]) if len(words) > 3 else 1
            indices = range(first, last + (1 if step > 0 else -1), step)
            if len(indices) > _MAX_PATTERN_FILES:
                raise ConversionError(path, f"its ElementDataFile pattern {value!r} names {len(indices)} files "
                                      f"(more than {_MAX_PATTERN_FILES})", "list the data files in the header")
            return [words[0] % k for k in indices]
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            raise ConversionError(path, f"its ElementDataFile pattern {value!r} cannot be expanded ({exc})",
                                  "name the data file, or a pattern with first, last and step indices") from None
    return [value]


def check_pair_companion(path: str) -> None:
    """An Analyze / NIfTI-pair header (``.hdr``) is read with the ``.img`` beside it; ITK opens that in
    C++ too, so a ``.img`` that is a symlink out of the folder (or a FIFO) is refused first."""

    stem = path[:-4]
    for ext in (".img", ".img.gz", ".IMG", ".IMG.GZ"):
        if os.path.lexists(stem + ext):
            contained_file(os.path.dirname(os.path.abspath(path)), os.path.basename(stem + ext), path)
