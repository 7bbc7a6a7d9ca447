"""Reading a NRRD file's voxels safely: which file the data may come from, and how much of it.

pynrrd parses headers and decodes data, but it trusts the header: a detached header's
``data file`` may name any path on the machine (``/etc/passwd``, ``../../secret``, ``/dev/zero``),
and compressed data is inflated without a bound. A service converting uploaded NRRDs would hand
out its own files or run out of memory. So the header is parsed by pynrrd, then

* the data file must resolve (symlinks followed) inside the header's own folder and be a regular
  file, which is how every writer we know lays out ``.nhdr`` + ``.raw``/``.raw.gz`` pairs;
* the voxel count the header declares must fit in available memory;
* gzip/bzip2 data is inflated here with a limit of what the header declares, then handed to
  pynrrd as raw bytes, so a small bomb stops at the declared size instead of at the machine's.
"""

from __future__ import annotations

import bz2
import io
import os
import stat
import zlib
from types import ModuleType
from typing import IO, Any

import numpy as np

from .._untrusted.input_guard import check_decoded, contained_file
from ._record import ConversionError

__all__ = ["read_nrrd_data"]

_COMPRESSED = {"gzip", "gz", "bzip2", "bz2"}
_STEP = 1 << 20  # inflate this much compressed input at a time


def read_nrrd_data(nrrd: ModuleType, path: str) -> tuple[np.ndarray, dict]:
    """``(data, header)`` of the NRRD at ``path`` (``index_order='F'``), refusing hostile headers."""
    with open(path, "rb") as fh:
        header = nrrd.read_header(fh)
        expected = _declared_nbytes(nrrd, header, path)
        name = header.get("datafile", header.get("data file"))
        if name is None:
            return _decode(nrrd, header, fh, path, expected), header
        data_path = contained_file(os.path.dirname(os.path.abspath(path)), str(name), path)
    inner = {k: v for k, v in header.items() if k not in ("datafile", "data file")}
    with open(data_path, "rb") as dfh:
        if not stat.S_ISREG(os.fstat(dfh.fileno()).st_mode):  # replaced between the check and the open
            raise _not_regular(path, name)
        return _decode(nrrd, inner, dfh, path, expected), header


def _not_regular(header_path: str, name: Any) -> ConversionError:
    return ConversionError(header_path, f"its data file {name} is not a regular file (device, FIFO or folder)",
                           "point 'data file' at a regular file next to the header")


def _declared_nbytes(nrrd: ModuleType, header: dict, path: str) -> int:
    try:
        sizes = [int(s) for s in header["sizes"]]
        # pynrrd has no public mapping from a header's 'type' to a dtype; this is the one it decodes with
        itemsize = nrrd.reader._determine_datatype(header).itemsize
    except Exception as exc:  # missing 'sizes'/'type', or a type pynrrd does not know
        raise ConversionError(path, f"the NRRD header is incomplete ({type(exc).__name__}: {exc})",
                              "a NRRD header needs 'type' and 'sizes'") from None
    if any(s < 0 for s in sizes):
        raise ConversionError(path, f"the NRRD header declares negative sizes {sizes}")
    nbytes = int(np.prod(sizes, dtype=np.float64)) * itemsize
    check_decoded(path, nbytes, f"the header ({sizes} voxels of {itemsize} bytes)")
    return nbytes


def _skip(header: dict, *names: str) -> int:
    for name in names:
        if name in header:
            return int(header[name])
    return 0


def _decode(nrrd: ModuleType, header: dict, fh: IO[bytes], path: str, expected: int) -> np.ndarray:
    encoding = str(header.get("encoding", "")).lower()
    byte_skip = _skip(header, "byteskip", "byte skip")
    line_skip = _skip(header, "lineskip", "line skip")
    remaining = os.fstat(fh.fileno()).st_size - fh.tell()
    if line_skip > remaining:  # each skipped line is at least one byte; pynrrd would loop line_skip times
        raise ConversionError(path, f"its 'line skip: {line_skip}' asks for more lines than the {remaining} bytes "
                                    "of data have", "check 'line skip' in the header")
    if encoding in _COMPRESSED:
        # Line skip counts lines of the file before the compressed stream; byte skip counts
        # inflated bytes (-1: the data is the stream's last bytes, after a prefix of any length).
        for _ in range(max(_skip(header, "lineskip", "line skip"), 0)):
            fh.readline()
        limit = expected + (byte_skip if byte_skip > 0 else expected if byte_skip == -1 else 0)
        check_decoded(path, limit, "the header (sizes plus 'byte skip')")  # byte skip counts inflated bytes
        raw = _inflate(fh, encoding in ("gzip", "gz"), limit, path, expected)
        if byte_skip == -1:
            raw = raw[max(len(raw) - expected, 0):]
        header = {k: v for k, v in header.items() if k not in ("lineskip", "line skip", "byteskip", "byte skip")}
        header.update({"encoding": "raw", "byte skip": max(byte_skip, 0)})
        fh = io.BytesIO(raw)
    elif encoding == "raw" and byte_skip >= 0:
        # pynrrd reads the whole rest of the file; valid data is exactly the declared size, so
        # a larger remainder (a sparse 1 TB file, say) is refused before it is read.
        remaining = os.fstat(fh.fileno()).st_size - fh.tell()
        if remaining > expected + byte_skip + _STEP:
            raise ConversionError(path, f"its raw data holds {remaining} bytes where the header declares "
                                        f"{expected}", "check 'sizes', 'type' and 'byte skip' in the header")
    try:
        return nrrd.read_data(header, fh, path, index_order="F")
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, ...
        raise ConversionError(path, f"its voxel data cannot be read ({type(exc).__name__}: {exc})",
                              "check 'sizes', 'type', 'encoding' and the data file") from None


def _inflate(fh: IO[bytes], gzip: bool, limit: int, path: str, expected: int) -> bytes:
    """Decompress ``fh`` to at most ``limit`` bytes; a longer stream is refused, not allocated.
    A truncated stream ends the output early: pynrrd then reports the size mismatch."""
    out = bytearray()
    # each step asks for one byte over the limit at most: getting it proves the stream is too long
    if gzip:
        z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        while not z.eof and (data := z.unconsumed_tail or fh.read(_STEP)):
            out += z.decompress(data, limit + 1 - len(out))
            _refuse_beyond(out, limit, path, expected)
    else:
        b = bz2.BZ2Decompressor()
        while not b.eof:
            data = fh.read(_STEP) if b.needs_input else b""  # bz2 keeps unread input itself
            if not data and b.needs_input:
                break
            out += b.decompress(data, max_length=limit + 1 - len(out))
            _refuse_beyond(out, limit, path, expected)
    return bytes(out)


def _refuse_beyond(out: bytearray, limit: int, path: str, expected: int) -> None:
    if len(out) > limit:
        raise ConversionError(path, f"its compressed data inflates to more than the {expected} bytes the "
                                    "header declares (a decompression bomb, or wrong 'sizes'/'type')",
                              "check the header against the data")
